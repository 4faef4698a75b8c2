"""The trace: what a generated program records, and how two traces are compared.

A program sees one object, ``T`` (a ``Tracer``), and records every step it takes
with ``T.log(label, *values)``.  Each call appends one line:

    <virtual time> <task name> <label> <values...>

for example ``0.25 w1 f3.2 wait-> done=[Task-3] pending=[w1]``.  Values are
rendered by ``describe()`` so that the two runtimes produce byte-identical text
when they behave the same: exceptions as their type, arguments and cause (never
their traceback or an address), futures and tasks by name and state, sets sorted.

Task numbers are made relative to the program: the task running ``main()`` is
``Task-0``, so programs batched in one process (whose ``Task-N`` counter keeps
counting) and the two runtimes (whose counters started at different places) line
up.  The numbering itself is compared: a runtime that draws a number where the
other does not shows up as ``Task-3`` against ``Task-4``.

After ``main()`` the worker appends the final state of every task the program
tracked (``T.track``), and then, sorted, what reached the loop's exception
handler (unretrieved exceptions, tasks destroyed while pending), collected after
a ``gc.collect()`` so that garbage-collection timing cannot reorder them.

Comparison is line by line; ``first_difference`` finds the first line that differs
and ``render_difference`` shows it with some context.  One allowance follows the
project's rule for error messages: asyncio's message comes first, verbatim, and
coroloop may add detail after it (``"cannot notify on un-acquired lock: acquire
<Condition ...> before notify()"`` matches ``"cannot notify on un-acquired lock"``).
"""

from __future__ import annotations

import ast
import re

__all__ = ["Tracer", "describe", "first_difference", "render_difference", "same_line"]

_TASK_NUMBER = re.compile(r"\bTask-(\d+)\b")
# An exception's first argument as describe() renders it: Name('message'
_EXCEPTION_MESSAGE = re.compile(r"""\b([A-Z]\w*)\(('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")



def describe(value, _depth=0) -> str:
    """A runtime-independent rendering of *value* (see the module docstring)."""
    if _depth > 4:
        return "..."
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return repr(value)
    if isinstance(value, BaseExceptionGroup):
        inner = ", ".join(describe(e, _depth + 1) for e in value.exceptions)
        text = f"{type(value).__name__}({value.message!r}, [{inner}])"
    elif isinstance(value, BaseException):
        args = ", ".join(describe(a, _depth + 1) for a in value.args)
        text = f"{type(value).__name__}({args})"
    elif _is_future(value):
        return _describe_future(value, _depth)
    elif isinstance(value, (list, tuple)):
        inner = ", ".join(describe(v, _depth + 1) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    elif isinstance(value, (set, frozenset)):
        return "{" + ", ".join(sorted(describe(v, _depth + 1) for v in value)) + "}"
    elif isinstance(value, dict):
        items = sorted(f"{describe(k, _depth + 1)}: {describe(v, _depth + 1)}"
                       for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    else:
        return f"<{type(value).__name__}>"
    cause = value.__cause__
    if cause is not None:
        text += f" from {type(cause).__name__}"
    return text


def _is_future(value) -> bool:
    return getattr(value, "_asyncio_future_blocking", None) is not None and \
        hasattr(value, "add_done_callback")


def _describe_future(fut, depth) -> str:
    name = fut.get_name() if hasattr(fut, "get_name") else "future"
    if not fut.done():
        return f"<{name} pending>"
    if fut.cancelled():
        return f"<{name} cancelled>"
    exc = fut.exception()
    if exc is not None:
        return f"<{name} raised {describe(exc, depth + 1)}>"
    return f"<{name} -> {describe(fut.result(), depth + 1)}>"


class Tracer:
    """The ``T`` a program records its steps with; one per program run.

    *aio* is the module under test (``asyncio`` or ``coroloop``); the tracer asks it
    for the current task, so the names it records are that runtime's view.
    """

    # How long (virtual seconds) finish() lets tasks run before cancelling them, and
    # how many rounds of cancellation it tries.  The odd fraction keeps the deadline
    # from coinciding with any sleep a program takes (see generator.py).
    SETTLE_TIMEOUT = 500.0 + 2.0 ** -5
    CANCEL_ROUNDS = 3

    def __init__(self, aio, loop):
        self.aio = aio
        self.loop = loop
        self.lines: list[str] = []
        self.tasks: dict[str, object] = {}   # the program's `tk`: handle -> task/future
        self._tracked: list = []              # (handle, task) for the final report
        self._base = None                     # the number of main()'s Task-N
        self._t0 = loop.time()

    # -- used by programs ------------------------------------------------------------
    def log(self, label, *values) -> None:
        task = self.aio.current_task()
        who = task.get_name() if task is not None else "-"
        now = round(self.loop.time() - self._t0, 9)
        parts = [repr(now), who, label] + [describe(v) for v in values]
        self.lines.append(self._renumber(" ".join(parts)))

    def track(self, handle, task):
        """Remember *task* under *handle* (``tk[handle]``) and report it at the end."""
        self.tasks[handle] = task
        self._tracked.append((handle, task))
        return task

    async def finish(self) -> None:
        """Let every task end; cancel what is still running after a while.

        Programs may block forever (an event nobody sets, a queue nobody fills):
        this is their watchdog, in virtual time, so it costs nothing and is the same
        on both runtimes.  A task is cancelled only after it was given
        ``SETTLE_TIMEOUT`` to finish; at most ``CANCEL_ROUNDS`` times.
        """
        rounds = 0
        while pending := self._pending_tasks():
            _, still_pending = await self.aio.wait(pending, timeout=self.SETTLE_TIMEOUT)
            if not still_pending:
                continue  # all done; maybe they started others
            if rounds == self.CANCEL_ROUNDS:
                break
            rounds += 1
            for t in self._pending_tasks():
                t.cancel()
        self.log("finish", self._pending_tasks())

    def _pending_tasks(self) -> list:
        """Tracked tasks still pending, in creation order, then any others (tasks
        made by gather, shield, ...) ordered by name."""
        me = self.aio.current_task()
        tracked = [t for _, t in self._tracked if not t.done()]
        others = [t for t in self.aio.all_tasks()
                  if t is not me and not t.done() and t not in tracked]
        others.sort(key=lambda t: self._renumber(t.get_name()))
        return tracked + others

    # -- used by the worker ----------------------------------------------------------
    def set_main(self, task) -> None:
        """*task* runs main(): its number becomes Task-0."""
        match = _TASK_NUMBER.fullmatch(task.get_name())
        self._base = int(match.group(1)) if match else 0

    def report_tasks(self) -> None:
        for handle, task in self._tracked:
            extra = ""
            if hasattr(task, "cancelling"):
                extra = f" cancelling={task.cancelling()}"
            self.lines.append(self._renumber(f"final {handle} {describe(task)}{extra}"))

    def _renumber(self, line: str) -> str:
        base = self._base or 0
        return _TASK_NUMBER.sub(lambda m: f"Task-{int(m.group(1)) - base}", line)


def same_line(expected: str, actual: str) -> bool:
    """Is *actual* (coroloop's line) what *expected* (asyncio's) says?

    Equal, or equal but for exception messages of *actual* that extend the
    corresponding messages of *expected* with detail.
    """
    if expected == actual:
        return True
    want, want_messages = _split_messages(expected)
    got, got_messages = _split_messages(actual)
    if want != got or len(want_messages) != len(got_messages):
        return False
    return all(g == w or _extends(g, w) for w, g in zip(want_messages, got_messages))


def _extends(message: str, asyncios: str) -> bool:
    """*message* is asyncio's, verbatim, then detail (after a space or punctuation,
    so that 'Barrier aborted' is not extended into another word)."""
    return bool(asyncios) and message.startswith(asyncios) and \
        not message[len(asyncios):][:1].isalnum()


def _split_messages(line: str):
    """(the line with each exception message replaced by a marker, the messages)."""
    messages = []

    def take(match):
        messages.append(ast.literal_eval(match.group(2)))
        return f"{match.group(1)}(\0"

    return _EXCEPTION_MESSAGE.sub(take, line), messages


def first_difference(a: list[str], b: list[str]) -> int | None:
    """Index of the first line where *a* (asyncio) and *b* (coroloop) differ
    (None: they agree)."""
    for i, (x, y) in enumerate(zip(a, b)):
        if not same_line(x, y):
            return i
    if len(a) != len(b):
        return min(len(a), len(b))
    return None


def render_difference(a: list[str], b: list[str], names=("asyncio", "coroloop"),
                      context: int = 6) -> str:
    """The first difference between traces *a* and *b*, with lines of context."""
    i = first_difference(a, b)
    if i is None:
        return "traces are identical"
    out = [f"first difference at line {i + 1}:"]
    for line in a[max(0, i - context):i]:
        out.append(f"    {line}")
    width = max(len(n) for n in names)
    for name, trace in zip(names, (a, b)):
        for line in trace[i:i + 3] or ["<end of trace>"]:
            out.append(f"  {name:>{width}}| {line}")
    return "\n".join(out)

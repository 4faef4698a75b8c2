"""Differences from asyncio the harness accepts: each deliberate, each with its issue.

Three places, all here except the first:

* error messages may carry detail after asyncio's text (``traces.same_line``);
* the stdlib side as programs see it (``STDLIB_VIEW``, ``corrected_create_task``):
  orders asyncio leaves to chance are made fixed, and CPython bugs coroloop does
  not copy are corrected the way CPython later corrected them;
* trace rules (``RULES``), for what cannot be corrected on the stdlib side: at the
  first line where the traces part, a program whose traces part in one of these
  ways is counted as *accepted* (with the rule's name), not as a difference.  The
  rest of such a program is not compared, so each rule is as narrow as the
  difference it describes.

Every deliberate difference is listed in docs/migrating.md.  Those of releases the
harness cannot meet here (the chroot has Debian's current 3.14, 3.14.9 or later) are
listed there only, with no correction: 3.14.0-3.14.8's ``shield()``, which reports a
shielded operation's exception at once (gh-86802, undone by gh-156321).
"""

from __future__ import annotations

import asyncio
import re
import sys
import types
from dataclasses import dataclass
from typing import Callable

__all__ = ["Rule", "RULES", "accepted_by", "STDLIB_VIEW", "corrected_create_task"]


@dataclass(frozen=True)
class Rule:
    name: str
    issue: str
    description: str
    # (program, asyncio's trace, coroloop's trace, index of the first difference)
    # -> does this rule explain the difference?
    matches: Callable[[object, list, list, int], bool]


# "<time> <task> <label> ..." as traces.Tracer.log writes it.
_LINE = re.compile(r"^(\S+) (\S+) (\S+) (.*)$")


def _wait_for_keeps_cancellation(program, a: list, b: list, i: int) -> bool:
    """3.12+: where asyncio's wait_for() returns the value of an awaited task that
    suppressed the caller's cancellation, coroloop's raises CancelledError.

    The traces then part exactly at asyncio's line for that wait_for step; coroloop
    never logs a value for the step (it logs the CancelledError, if the step is
    guarded, or nothing, if it is not).
    """
    if tuple(program.version) < (3, 12) or i >= len(a):
        return False
    line = _LINE.match(a[i])
    if not line or not line.group(4).startswith("'wait_for' "):
        return False
    task, label = line.group(2), line.group(3)
    # Only wait_for() on a task (a coroutine runs in the caller's task on 3.12+).
    if f"T.log({label!r}, 'wait_for', await asyncio.wait_for(tk[" not in program.source:
        return False
    for later in b[i:]:
        other = _LINE.match(later)
        if other and other.group(2, 3) == (task, label):
            return other.group(4).startswith("! CancelledError(")
    return True


RULES = [
    Rule(
        name="wait_for keeps the caller's cancellation",
        issue="CPython gh-86296",
        description=(
            "3.12+: the task running wait_for(task, ...) is cancelled and the "
            "awaited task suppresses the cancellation and returns a value; asyncio "
            "returns the value, coroloop raises CancelledError (the value stays in "
            "the task), so the cancellation is never lost."),
        matches=_wait_for_keeps_cancellation,
    ),
]


def accepted_by(program, a: list, b: list, i: int) -> Rule | None:
    """The rule that explains why traces *a* (asyncio) and *b* (coroloop) of
    *program* part at line *i*, if any."""
    for rule in RULES:
        if rule.matches(program, a, b, i):
            return rule
    return None


# ==================================================================================
# The stdlib side, as programs see it
# ==================================================================================
#
# Two kinds of change, both small and each explained: orders asyncio leaves to
# chance are made fixed (one of the orders asyncio can produce), and CPython bugs
# that coroloop does not copy are corrected the way CPython itself later did.

PY = sys.version_info


class _CreationOrder:
    """A set that iterates in insertion order (what TaskGroup uses of a set)."""

    def __init__(self):
        self._items = {}

    def add(self, item):
        self._items[item] = None

    def discard(self, item):
        self._items.pop(item, None)

    def __iter__(self):
        return iter(list(self._items))

    def __len__(self):
        return len(self._items)

    def __contains__(self, item):
        return item in self._items


def _make_stdlib_view():
    view = types.ModuleType("asyncio")
    view.__dict__.update(asyncio.__dict__)

    class TaskGroup(asyncio.TaskGroup):
        # Chance: asyncio keeps the children in a set and an abort cancels them in
        # its order, i.e. by address, which changes from run to run.
        def __init__(self):
            super().__init__()
            self._tasks = _CreationOrder()

    view.TaskGroup = TaskGroup

    if PY < (3, 13):
        class Condition(asyncio.Condition):
            """wait() as 3.13 has it (CPython gh-112202, not backported): a task
            leaving wait() with an exception hands its notification on to the next
            waiter, and a cancellation while re-acquiring the lock is re-raised as
            it came (3.11/3.12 raise a new CancelledError).  coroloop does this on
            every version (docs/migrating.md)."""

            async def wait(self):
                if not self.locked():
                    raise RuntimeError("cannot wait on un-acquired lock")
                waiter = self._get_loop().create_future()
                self.release()
                try:
                    self._waiters.append(waiter)
                    try:
                        await waiter
                    finally:
                        self._waiters.remove(waiter)
                        cancelled = None
                        while True:   # the lock is held again however we leave
                            try:
                                await self.acquire()
                                break
                            except asyncio.CancelledError as exc:
                                cancelled = exc
                        if cancelled is not None:
                            raise cancelled
                except BaseException:
                    for other in self._waiters:
                        if not other.done():
                            other.set_result(False)
                            break
                    raise
                return True

        class Barrier(asyncio.Barrier):
            def __init__(self, parties):
                super().__init__(parties)
                self._cond = Condition()   # asyncio's Barrier is built on Condition

        view.Condition = Condition
        view.Barrier = Barrier
    return view


STDLIB_VIEW = _make_stdlib_view()


def corrected_create_task(create_task):
    """BaseEventLoop.create_task, corrected where coroloop does not copy a bug.

    3.13.0-3.13.2 name a task "None" when a task factory is set and no name is
    given (CPython gh-130033, fixed in 3.13.3); coroloop keeps the factory's
    Task-N name.
    """
    if not ((3, 13) <= PY[:3] < (3, 13, 3)):
        return create_task

    def fixed(self, coro, *, name=None, context=None):
        factory = self.get_task_factory()
        if name is None and factory is not None:
            if context is None:
                return factory(self, coro)
            return factory(self, coro, context=context)
        return create_task(self, coro, name=name, context=context)

    return fixed

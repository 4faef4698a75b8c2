"""Generates random asyncio programs that are deterministic on stdlib asyncio.

    program = generate(seed, version=(3, 12))
    print(program.source)

A program is Python source defining ``async def main()``; it uses the name
``asyncio`` (bound to stdlib asyncio or to coroloop by the worker) and records
every step with ``T.log`` (see ``traces.py``).  The same seed and version give the
same program.  Families:

* ``core``: tasks spawned, awaited and cancelled (with and without messages,
  ``uncancel``), ``gather`` (``return_exceptions`` both ways), ``wait`` (all three
  ``return_when``), ``wait_for``, ``shield``, ``as_completed``, locks, events,
  conditions, semaphores, barriers, queues (with ``shutdown`` on 3.13+),
  ``TaskGroup``, ``timeout`` / ``timeout_at`` / ``reschedule``, eager tasks
  (3.12+: the eager task factory; 3.14+: ``create_task(..., eager_start=)``, also
  against the factory) and ``TaskGroup.cancel()`` (3.15+: before, inside and after
  ``async with``, and from other tasks).  Only what the target version's asyncio
  has is used.
* ``unix``: a Unix-socket server started, used and closed; records whether the
  socket file is still there.

Why the programs are deterministic
----------------------------------
All time is virtual (``vloop.py``), so only the order of events matters, and
that is fixed by the runtime.  Every function is called from exactly one place
and bodies have no loops, so each statement runs at most once; that lets the
timeouts avoid ties: sleeps are multiples of 1/4 s, and every timeout gets its
own binary fraction (2**-6, 2**-7, ...) on top, so no deadline can coincide with
a sleep ending or with another deadline.  A tie would be decided by a documented
difference: coroloop lets an operation that completed in the same loop iteration
as its deadline keep its result (CPython #86296, #81917; docs/migrating.md), and
programs are generated so that this never decides their outcome.

Every blocking step can wait forever (an event nobody sets): ``T.finish()``, the
last step of ``main()``, waits for the program's tasks for a (virtual) while and
then cancels what is left, in rounds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Program", "generate", "FAMILIES"]

FAMILIES = ("core", "unix")

SLEEPS = (0, 0, 0, 0.25, 0.5, 1.0)
_TIMEOUT_BASES = (0.0, 0.25, 0.5, 1.0, 2.0)
# Distinct binary fractions for the deadlines of one program (see the module
# docstring).  They stay far above the stdlib's 1e-9 s clock resolution.
_TIE_BREAKERS = tuple(2.0 ** -e for e in range(6, 26))


@dataclass
class Program:
    """One generated program: its source and how to run it."""

    seed: int
    version: tuple
    family: str
    source: str
    io: bool = False            # does real I/O (then waits without a timer are real)
    features: list = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.family}-{self.seed}"

    def header(self) -> str:
        v = ".".join(map(str, self.version))
        return (f"# coroloop differential program: seed={self.seed} python={v} "
                f"family={self.family} io={int(self.io)}\n")

    def text(self) -> str:
        """The program as a file (``run.py --replay FILE`` reads it back)."""
        return self.header() + self.source

    @classmethod
    def from_text(cls, text: str) -> "Program":
        first, _, source = text.partition("\n")
        fields = dict(item.split("=", 1) for item in first.split(":", 1)[1].split())
        return cls(seed=int(fields["seed"]),
                   version=tuple(int(p) for p in fields["python"].split(".")),
                   family=fields["family"], source=source, io=fields["io"] == "1")


def generate(seed: int, version: tuple, family: str | None = None) -> Program:
    """The program of *seed* for Python *version* (``(3, 12)``); *family* is picked
    by the seed unless given."""
    rng = random.Random(f"coroloop-differential-{seed}")
    if family is None:
        family = "unix" if rng.random() < 0.06 else "core"
    if family == "core":
        gen = _CoreGenerator(rng, tuple(version))
        return Program(seed, tuple(version), family, gen.program(), False, sorted(gen.used))
    if family == "unix":
        source, used = _unix_program(rng, tuple(version))
        return Program(seed, tuple(version), family, source, True, used)
    raise ValueError(f"unknown family {family!r}: expected one of {FAMILIES}")


# ==================================================================================
# core family
# ==================================================================================

class _Block:
    """Lines of source at increasing indentation."""

    def __init__(self):
        self.lines: list[str] = []
        self._indent = 0

    def add(self, line: str) -> None:
        self.lines.append("    " * self._indent + line)

    def extend(self, block: "_Block") -> None:
        for line in block.lines:
            self.lines.append("    " * self._indent + line)

    def indent(self, delta: int) -> None:
        self._indent += delta


# How a guarded step treats what it catches (weights in _CATCH_WEIGHTS).
_CATCH = {
    # let everything through
    "raise": ["raise"],
    # swallow errors and others' cancellations, re-raise a cancellation of ours
    "ours": ["if isinstance(e, asyncio.CancelledError) and "
             "asyncio.current_task().cancelling():",
             "    raise"],
    # a cancellation of ours is withdrawn; the task goes on
    "uncancel": ["if isinstance(e, asyncio.CancelledError):",
                 "    T.log({label!r}, 'uncancel', asyncio.current_task().uncancel())"],
    # swallow everything (bad style, but programs do it)
    "swallow": ["pass"],
}
_CATCH_WEIGHTS = {"raise": 35, "ours": 40, "uncancel": 10, "swallow": 15}


class _CoreGenerator:
    """Builds one ``core`` program; see the module docstring for the shape."""

    MAX_DEPTH = 3        # nesting of spawned functions and blocks
    MAX_FUNCTIONS = 9

    def __init__(self, rng: random.Random, version: tuple):
        self.rng = rng
        self.version = version
        self.eager = version >= (3, 12)
        self.eager_factory = False             # this program sets the eager factory
        self.queue_shutdown = version >= (3, 13)
        self.async_as_completed = version >= (3, 13)
        self.eager_start_arg = version >= (3, 14)    # create_task(**kwargs)
        self.taskgroup_cancel = version >= (3, 15)
        self.budget = rng.randint(6, 36)       # statements left to generate
        self.functions: list[tuple[str, _Block]] = []
        self.handles: list[str] = []           # tk handles created so far
        self.groups: list[str] = []            # TaskGroups (3.15: for cancel())
        # Handles awaited (or waited for) already: likely done when used again,
        # which is where gather() and friends differ between versions.
        self.settled: list[str] = []
        self.tie_breakers = list(_TIE_BREAKERS)
        self.used: set[str] = set()
        self.shared: dict[str, str] = {}       # primitive name -> constructor source
        self._n_functions = 0
        self._n_handles = 0

    # -- the program -----------------------------------------------------------------
    def program(self) -> str:
        # main() runs the generated body as a task it watches: a body that blocks
        # for ever (on a queue nobody reads) is cancelled like any other task.
        self.eager_factory = self.eager and self.rng.random() < 0.3
        body = _Block()
        body.indent(1)
        self.body(body, "main", depth=0, own=[])
        main = _Block()
        main.indent(1)
        if self.eager_factory:
            self.used.add("eager")
            main.add("asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)")
        main.add("T.track('body', asyncio.create_task(body()))")
        main.add("await T.finish()")
        out = [f"{name} = {ctor}" for name, ctor in sorted(self.shared.items())]
        if "cond" in self.shared:
            out.append("box = {'n': 0}")
        if self.groups:
            out.append("groups = {}")
        for name, block in reversed(self.functions):  # leaves first: easier to read
            out.append("")
            out.append(f"async def {name}():")
            out.extend(block.lines)
        out.append("")
        out.append("async def body():")
        out.extend(body.lines)
        out.append("")
        out.append("async def main():")
        out.extend(main.lines)
        return "\n".join(out) + "\n"

    def new_function(self, depth: int) -> str:
        """Define a new coroutine function (called from exactly one place)."""
        self._n_functions += 1
        name = f"f{self._n_functions}"
        block = _Block()
        block.indent(1)
        self.functions.append((name, block))
        self.body(block, name, depth + 1, own=[])
        return name

    def body(self, block: _Block, fn: str, depth: int, own: list) -> None:
        count = self.rng.randint(1, 5) if depth else self.rng.randint(2, 7)
        steps = [0]
        for _ in range(count):
            if self.budget <= 0:
                break
            self.budget -= 1
            self.statement(block, fn, depth, own, steps)
        if fn != "main":
            ending = self.rng.random()
            if ending < 0.25:
                self.used.add("raise")
                kind = self.rng.choice(["ValueError", "KeyError", "RuntimeError"])
                block.add(f"raise {kind}({fn!r})")
            elif ending < 0.28:
                block.add(f"raise asyncio.CancelledError({fn + ' gives up'!r})")
            else:
                block.add(f"return {fn!r}")

    # -- helpers ---------------------------------------------------------------------
    def label(self, fn: str, steps: list) -> str:
        steps[0] += 1
        return f"{fn}.{steps[0]}"

    def timeout_value(self, allow_none=True, allow_zero=True):
        """A timeout (as source) that ties with no other event (module docstring)."""
        r = self.rng.random()
        if allow_none and r < 0.15:
            return None
        if allow_zero and r < 0.2:
            return 0
        if not self.tie_breakers:
            return None
        return self.rng.choice(_TIMEOUT_BASES) + self.tie_breakers.pop(0)

    def new_handle(self, prefix="t") -> str:
        self._n_handles += 1
        handle = f"{prefix}{self._n_handles}"
        self.handles.append(handle)
        return handle

    def spawn_expr(self, fn: str, handle: str, via: str = "create_task") -> str:
        name = f", name={handle!r}" if self.rng.random() < 0.5 else ""
        if via == "ensure_future":
            return f"asyncio.ensure_future({fn}())"
        name += self.eager_start()
        if via == "loop":
            return f"asyncio.get_running_loop().create_task({fn}(){name})"
        return f"asyncio.create_task({fn}(){name})"

    def eager_start(self) -> str:
        """Sometimes an ``eager_start=`` argument for create_task() (3.14+); False
        where the program set the eager factory, so that it is overridden."""
        if not self.eager_start_arg or self.rng.random() >= 0.25:
            return ""
        self.used.add("eager_start")
        eager = not self.eager_factory if self.rng.random() < 0.8 else self.eager_factory
        return f", eager_start={eager}"

    def share(self, name: str) -> str:
        if name not in self.shared:
            rng = self.rng
            ctor = {
                "lock": "asyncio.Lock()",
                "ev": "asyncio.Event()",
                "cond": "asyncio.Condition()",
                "sem": rng.choice(["asyncio.Semaphore(1)", "asyncio.Semaphore(2)",
                                   "asyncio.BoundedSemaphore(1)"]),
                "barrier": f"asyncio.Barrier({rng.randint(2, 3)})",
                "q": (rng.choice(["asyncio.Queue", "asyncio.LifoQueue",
                                  "asyncio.PriorityQueue"])
                      + f"(maxsize={rng.choice([0, 0, 1, 2])})"),
            }[name]
            self.shared[name] = ctor
        return name

    def guarded(self, block: _Block, label: str, inner: _Block, finally_=None) -> None:
        """*inner* inside try/except that logs what it catches (and maybe re-raises)."""
        policy = self.rng.choices(list(_CATCH_WEIGHTS), weights=_CATCH_WEIGHTS.values())[0]
        block.add("try:")
        block.indent(1)
        block.extend(inner)
        block.indent(-1)
        block.add("except BaseException as e:")
        block.indent(1)
        block.add(f"T.log({label + ' !'!r}, e)")
        for line in _CATCH[policy]:
            block.add(line.format(label=label + " !"))
        block.indent(-1)
        if finally_:
            block.add("finally:")
            block.indent(1)
            block.add(finally_)
            block.indent(-1)

    def maybe_guarded(self, block, label, inner, p=0.45) -> None:
        if self.rng.random() < p:
            self.guarded(block, label, inner)
        else:
            block.extend(inner)

    # -- statements ------------------------------------------------------------------
    def statement(self, block, fn, depth, own, steps) -> None:
        can_spawn = depth < self.MAX_DEPTH and self._n_functions < self.MAX_FUNCTIONS
        kinds = {
            "sleep": 14, "cancel": 8, "introspect": 3, "event": 6, "queue": 7,
            "lock": 5, "sem": 3, "cond": 4, "barrier": 3,
        }
        if can_spawn:
            kinds.update(spawn=12, gather=8, wait=8, wait_for=7, shield=4,
                         as_completed=4, taskgroup=7, timeout=7)
        elif depth < self.MAX_DEPTH:
            kinds.update(timeout=5)
        if own:
            kinds["await"] = 8
        kind = self.rng.choices(list(kinds), weights=kinds.values())[0]
        self.used.add(kind)
        getattr(self, "s_" + kind)(block, fn, depth, own, steps)

    def s_sleep(self, block, fn, depth, own, steps):
        label = self.label(fn, steps)
        delay = self.rng.choice(SLEEPS)
        inner = _Block()
        inner.add(f"T.log({label!r}, 'sleep', {delay!r})")
        if self.rng.random() < 0.2:
            inner.add(f"T.log({label!r}, 'slept', await asyncio.sleep({delay!r}, "
                      f"result={label!r}))")
        else:
            inner.add(f"await asyncio.sleep({delay!r})")
        self.maybe_guarded(block, label, inner, p=0.3)

    def s_spawn(self, block, fn, depth, own, steps):
        label = self.label(fn, steps)
        handle = self.new_handle()
        target = self.new_function(depth)
        via = self.rng.choices(["create_task", "loop", "ensure_future"], weights=[6, 2, 1])[0]
        block.add(f"T.track({handle!r}, {self.spawn_expr(target, handle, via)})")
        block.add(f"T.log({label!r}, 'spawned', tk[{handle!r}])")
        own.append(handle)

    def s_await(self, block, fn, depth, own, steps):
        label = self.label(fn, steps)
        handle = self.rng.choice(own)
        inner = _Block()
        inner.add(f"T.log({label!r}, 'await', {handle!r})")
        inner.add(f"T.log({label!r}, 'awaited', await tk[{handle!r}])")
        self.settled.append(handle)
        self.maybe_guarded(block, label, inner, p=0.7)

    def s_cancel(self, block, fn, depth, own, steps):
        label = self.label(fn, steps)
        rng = self.rng
        msg = rng.choice([None, None, f"by {label}"])
        args = "" if msg is None else repr(msg)
        if self.groups and rng.random() < 0.3:
            # 3.15: cancel a TaskGroup (from its body, a child, or anywhere else).
            tg = rng.choice(self.groups)
            block.add(f"T.log({label!r}, 'tg.cancel', {tg!r}, "
                      f"groups[{tg!r}].cancel() if {tg!r} in groups else None)")
            return
        if self.handles and rng.random() < 0.8:
            handle = rng.choice(self.handles)
            if rng.random() < 0.12:
                block.add(f"T.log({label!r}, 'uncancel', {handle!r}, "
                          f"tk[{handle!r}].uncancel() if {handle!r} in tk else None)")
                return
            block.add(f"T.log({label!r}, 'cancel', {handle!r}, "
                      f"tk[{handle!r}].cancel({args}) if {handle!r} in tk else None)")
        else:
            block.add(f"T.log({label!r}, 'cancel self', "
                      f"asyncio.current_task().cancel({args}))")

    def s_introspect(self, block, fn, depth, own, steps):
        label = self.label(fn, steps)
        block.add(f"T.log({label!r}, 'cancelling', asyncio.current_task().cancelling())")

    def _awaitables(self, depth, own, max_new=3, max_coroutines=3):
        """Sources of 1-3 awaitables: new coroutines and (sometimes) own tasks."""
        parts = []
        coroutines = 0
        settled = [h for h in self.settled if h in own]
        if settled and self.rng.random() < 0.5:
            parts.append(f"tk[{self.rng.choice(settled)!r}]")
        for _ in range(self.rng.randint(1, max_new)):
            if own and (coroutines >= max_coroutines or self.rng.random() < 0.3):
                parts.append(f"tk[{self.rng.choice(own)!r}]")
            elif self._n_functions < self.MAX_FUNCTIONS and coroutines < max_coroutines:
                parts.append(f"{self.new_function(depth)}()")
                coroutines += 1
        if not parts:
            parts.append(f"{self.new_function(depth)}()" if not own
                         else f"tk[{own[0]!r}]")
        return list(dict.fromkeys(parts))

    def s_gather(self, block, fn, depth, own, steps):
        label = self.label(fn, steps)
        parts = self._awaitables(depth, own)
        flag = self.rng.random() < 0.5
        handle = self.new_handle("g")
        inner = _Block()
        inner.add(f"T.track({handle!r}, asyncio.gather({', '.join(parts)}, "
                  f"return_exceptions={flag}))")
        inner.add(f"T.log({label!r}, 'gathered', await tk[{handle!r}])")
        self.maybe_guarded(block, label, inner, p=0.75)

    def _new_tasks(self, block, depth, own, count):
        handles = []
        for _ in range(count):
            if own and self.rng.random() < 0.25:
                handles.append(self.rng.choice(own))
                continue
            handle = self.new_handle()
            target = self.new_function(depth)
            block.add(f"T.track({handle!r}, {self.spawn_expr(target, handle)})")
            handles.append(handle)
            own.append(handle)
        return sorted(set(handles), key=handles.index)

    def s_wait(self, block, fn, depth, own, steps):
        label = self.label(fn, steps)
        handles = self._new_tasks(block, depth, own, self.rng.randint(1, 3))
        when = self.rng.choice(["FIRST_COMPLETED", "FIRST_EXCEPTION", "ALL_COMPLETED"])
        timeout = self.timeout_value(allow_zero=False)
        listing = ", ".join(f"tk[{h!r}]" for h in handles)
        inner = _Block()
        inner.add(f"done, pending = await asyncio.wait([{listing}], "
                  f"return_when=asyncio.{when}, timeout={timeout!r})")
        inner.add(f"T.log({label!r}, 'wait', done, pending)")
        self.settled.extend(handles)
        self.maybe_guarded(block, label, inner, p=0.5)

    def s_wait_for(self, block, fn, depth, own, steps):
        label = self.label(fn, steps)
        if own and self.rng.random() < 0.35:
            target = f"tk[{self.rng.choice(own)!r}]"
        else:
            target = f"{self.new_function(depth)}()"
        timeout = self.timeout_value()
        inner = _Block()
        inner.add(f"T.log({label!r}, 'wait_for', await asyncio.wait_for({target}, {timeout!r}))")
        self.maybe_guarded(block, label, inner, p=0.8)

    def s_shield(self, block, fn, depth, own, steps):
        label = self.label(fn, steps)
        if own and self.rng.random() < 0.5:
            target = f"tk[{self.rng.choice(own)!r}]"
        else:
            target = f"{self.new_function(depth)}()"
        inner = _Block()
        inner.add(f"T.log({label!r}, 'shield', await asyncio.shield({target}))")
        self.maybe_guarded(block, label, inner, p=0.8)

    def s_as_completed(self, block, fn, depth, own, steps):
        label = self.label(fn, steps)
        # as_completed() handles its arguments in the order of a set, i.e. of
        # their addresses: coroutines are wrapped in tasks in that order, and
        # futures already done are reported in that order.  So it gets at most
        # one coroutine and one task (which may be done already) -- or, with eager
        # tasks (a coroutine's task may be done at once), just one of them.
        parts = [f"{self.new_function(depth)}()"]
        if self.eager_factory:
            pass
        elif own and self.rng.random() < 0.5:
            parts.append(f"tk[{self.rng.choice(own)!r}]")
        elif self.rng.random() < 0.5:
            parts += [f"tk[{h!r}]" for h in self._new_tasks(block, depth, own, 1)]
        self.rng.shuffle(parts)
        timeout = self.timeout_value(allow_zero=False)
        inner = _Block()
        listing = ", ".join(parts)
        if self.async_as_completed and self.rng.random() < 0.4:
            inner.add(f"async for t in asyncio.as_completed([{listing}], timeout={timeout!r}):")
            inner.add(f"    T.log({label!r}, 'as_completed', t)")
        else:
            inner.add(f"for c in asyncio.as_completed([{listing}], timeout={timeout!r}):")
            inner.add(f"    T.log({label!r}, 'as_completed', await c)")
        self.maybe_guarded(block, label, inner, p=0.85)

    def s_taskgroup(self, block, fn, depth, own, steps):
        label = self.label(fn, steps)
        rng = self.rng
        inner = _Block()
        inner.add(f"T.log({label!r}, 'taskgroup')")
        if self.taskgroup_cancel:
            # One name per group (they may nest), and in `groups`, so that other
            # tasks can cancel() it (s_cancel) -- before, inside or after the block.
            tg = "tg" + label.replace(".", "_")
            self.groups.append(tg)
            self.used.add("taskgroup_cancel")
            inner.add(f"{tg} = groups[{tg!r}] = asyncio.TaskGroup()")
            if rng.random() < 0.1:
                inner.add(f"T.log({label!r}, 'tg.cancel', {tg}.cancel())")
            inner.add(f"async with {tg}:")
        else:
            tg = "tg"
            inner.add("async with asyncio.TaskGroup() as tg:")
        inner.indent(1)
        local = list(own)
        cancelled_inside = False
        for _ in range(rng.randint(1, 3)):
            if self._n_functions >= self.MAX_FUNCTIONS:
                break
            handle = self.new_handle()
            target = self.new_function(depth)
            name = f", name={handle!r}" if rng.random() < 0.5 else ""
            name += self.eager_start()
            inner.add(f"T.track({handle!r}, {tg}.create_task({target}(){name}))")
            local.append(handle)
            if self.taskgroup_cancel and not cancelled_inside and rng.random() < 0.15:
                cancelled_inside = True
                inner.add(f"T.log({label!r}, 'tg.cancel', {tg}.cancel())")
        sub = _Block()
        self.sub_body(sub, fn, depth, local, steps)
        inner.extend(sub)
        if self.taskgroup_cancel and rng.random() < 0.15:
            inner.add(f"T.log({label!r}, 'tg.cancel', {tg}.cancel())")
        inner.indent(-1)
        inner.add(f"T.log({label!r}, 'taskgroup done')")
        if self.taskgroup_cancel and rng.random() < 0.1:
            inner.add(f"T.log({label!r}, 'tg.cancel after', {tg}.cancel())")
        self.guarded(block, label, inner)

    def s_timeout(self, block, fn, depth, own, steps):
        label = self.label(fn, steps)
        rng = self.rng
        # No zero delay: a deadline of "now" ties with whatever completes in the
        # next iteration (wait_for(aw, 0) has a path of its own, without a timer).
        delay = self.timeout_value(allow_none=True, allow_zero=False)
        form = rng.choice(["timeout", "timeout", "timeout_at"])
        if form == "timeout_at" and delay is not None:
            ctx = f"asyncio.timeout_at(asyncio.get_running_loop().time() + {delay!r})"
        else:
            ctx = f"asyncio.timeout({delay!r})"
        cm = "cm" + label.replace(".", "_")   # one name per block: they may nest
        inner = _Block()
        inner.add(f"T.log({label!r}, 'timeout', {delay!r})")
        inner.add(f"async with {ctx} as {cm}:")
        inner.indent(1)
        reschedule = None
        if rng.random() < 0.3:
            self.used.add("reschedule")
            later = self.timeout_value(allow_none=True, allow_zero=False)
            when = "None" if later is None else \
                f"asyncio.get_running_loop().time() + {later!r}"
            reschedule = f"{cm}.reschedule({when})"
        if reschedule and rng.random() < 0.5:
            inner.add(reschedule)
            reschedule = None
        sub = _Block()
        self.sub_body(sub, fn, depth, own, steps)
        inner.extend(sub)
        if reschedule:
            inner.add(reschedule)
        inner.indent(-1)
        self.guarded(block, label, inner,
                     finally_=f"T.log({label!r}, 'expired', {cm}.expired(), {cm}.when())")

    def sub_body(self, block, fn, depth, own, steps):
        for _ in range(self.rng.randint(1, 3)):
            if self.budget <= 0:
                block.add("await asyncio.sleep(0)")
                return
            self.budget -= 1
            self.statement(block, fn, depth + 1, own, steps)
        if self.rng.random() < 0.1:
            block.add(f"raise ValueError({fn + ' inside'!r})")

    # -- synchronization primitives --------------------------------------------------
    def s_event(self, block, fn, depth, own, steps):
        label = self.label(fn, steps)
        ev = self.share("ev")
        op = self.rng.choices(["wait", "set", "clear"], weights=[5, 4, 1])[0]
        if op == "wait":
            inner = _Block()
            inner.add(f"T.log({label!r}, 'ev.wait', {ev}.is_set())")
            inner.add(f"T.log({label!r}, 'ev.wait', await {ev}.wait())")
            self.maybe_guarded(block, label, inner)
        else:
            block.add(f"{ev}.{op}()")
            block.add(f"T.log({label!r}, 'ev.{op}', {ev}.is_set())")

    def s_queue(self, block, fn, depth, own, steps):
        label = self.label(fn, steps)
        q = self.share("q")
        ops = {"put": 5, "get": 5, "put_nowait": 2, "get_nowait": 2, "task_done": 2,
               "join": 2, "sizes": 1}
        if self.queue_shutdown:
            ops["shutdown"] = 2
        op = self.rng.choices(list(ops), weights=ops.values())[0]
        item = self.rng.randint(0, 9)
        inner = _Block()
        if op == "put":
            inner.add(f"T.log({label!r}, 'put', {item})")
            inner.add(f"await {q}.put({item})")
        elif op == "get":
            inner.add(f"T.log({label!r}, 'get')")
            inner.add(f"T.log({label!r}, 'got', await {q}.get())")
        elif op == "put_nowait":
            inner.add(f"T.log({label!r}, 'put_nowait', {q}.put_nowait({item}))")
        elif op == "get_nowait":
            inner.add(f"T.log({label!r}, 'get_nowait', {q}.get_nowait())")
        elif op == "task_done":
            inner.add(f"T.log({label!r}, 'task_done', {q}.task_done())")
        elif op == "join":
            inner.add(f"T.log({label!r}, 'join')")
            inner.add(f"T.log({label!r}, 'joined', await {q}.join())")
        elif op == "shutdown":
            immediate = self.rng.random() < 0.5
            inner.add(f"T.log({label!r}, 'shutdown', {q}.shutdown(immediate={immediate}))")
            self.used.add("queue_shutdown")
        else:
            inner.add(f"T.log({label!r}, 'sizes', {q}.qsize(), {q}.empty(), {q}.full())")
        self.maybe_guarded(block, label, inner, p=0.7)

    def _held(self, block, fn, depth, own, steps, name):
        """``async with <primitive>:`` around a sub-body, or acquire/release by hand."""
        label = self.label(fn, steps)
        inner = _Block()
        if self.rng.random() < 0.75 or depth >= self.MAX_DEPTH:
            inner.add(f"T.log({label!r}, 'acquire', {name}.locked())")
            inner.add(f"async with {name}:")
            inner.indent(1)
            inner.add(f"T.log({label!r}, 'acquired')")
            if depth < self.MAX_DEPTH:
                sub = _Block()
                self.sub_body(sub, fn, depth, own, steps)
                inner.extend(sub)
            inner.indent(-1)
            inner.add(f"T.log({label!r}, 'released', {name}.locked())")
        else:
            inner.add(f"T.log({label!r}, 'acquire', await {name}.acquire())")
            inner.add("try:")
            inner.indent(1)
            sub = _Block()
            self.sub_body(sub, fn, depth, own, steps)
            inner.extend(sub)
            inner.indent(-1)
            inner.add("finally:")
            inner.add(f"    T.log({label!r}, 'release', {name}.release())")
        self.maybe_guarded(block, label, inner, p=0.5)

    def s_lock(self, block, fn, depth, own, steps):
        self._held(block, fn, depth, own, steps, self.share("lock"))

    def s_sem(self, block, fn, depth, own, steps):
        sem = self.share("sem")
        if self.rng.random() < 0.2:
            label = self.label(fn, steps)
            inner = _Block()
            inner.add(f"T.log({label!r}, 'release', {sem}.release())")
            self.guarded(block, label, inner)
            return
        self._held(block, fn, depth, own, steps, sem)

    def s_cond(self, block, fn, depth, own, steps):
        label = self.label(fn, steps)
        cond = self.share("cond")
        op = self.rng.choice(["wait", "wait_for", "notify", "notify_all", "bare_notify"])
        inner = _Block()
        if op == "bare_notify":  # RuntimeError: the lock is not held
            inner.add(f"T.log({label!r}, 'notify', {cond}.notify())")
            self.guarded(block, label, inner)
            return
        inner.add(f"async with {cond}:")
        inner.indent(1)
        if op == "wait":
            inner.add(f"T.log({label!r}, 'cond.wait')")
            inner.add(f"T.log({label!r}, 'cond.woke', await {cond}.wait())")
        elif op == "wait_for":
            n = self.rng.randint(1, 3)
            inner.add(f"T.log({label!r}, 'cond.wait_for', {n})")
            inner.add(f"T.log({label!r}, 'cond.woke', "
                      f"await {cond}.wait_for(lambda: box['n'] >= {n}))")
        else:
            inner.add("box['n'] += 1")
            call = "notify_all()" if op == "notify_all" else \
                f"notify({self.rng.randint(1, 2)})"
            inner.add(f"T.log({label!r}, {op!r}, box['n'], {cond}.{call})")
        inner.indent(-1)
        self.maybe_guarded(block, label, inner, p=0.5)

    def s_barrier(self, block, fn, depth, own, steps):
        label = self.label(fn, steps)
        barrier = self.share("barrier")
        op = self.rng.choices(["wait", "abort", "reset", "state"], weights=[6, 1, 1, 1])[0]
        inner = _Block()
        if op == "wait":
            inner.add(f"T.log({label!r}, 'barrier.wait')")
            inner.add(f"T.log({label!r}, 'barrier passed', await {barrier}.wait())")
        elif op == "state":
            inner.add(f"T.log({label!r}, 'barrier', {barrier}.parties, "
                      f"{barrier}.n_waiting, {barrier}.broken)")
        else:
            inner.add(f"T.log({label!r}, 'barrier.{op}', await {barrier}.{op}())")
        self.maybe_guarded(block, label, inner, p=0.6)


# ==================================================================================
# unix family
# ==================================================================================

def _unix_program(rng: random.Random, version: tuple):
    """A Unix-socket server started, used once and closed; is its file still there?

    No timers while I/O is pending: real descriptors decide when steps run, and
    each logged step is causally after the one before it.
    """
    used = ["unix_server"]
    how = rng.choice(["path", "path", "pathlib", "sock"])
    use_async_with = rng.random() < 0.3
    start_serving = rng.random() < 0.8
    cleanup = None
    if version >= (3, 13) and rng.random() < 0.3:
        cleanup = rng.choice([True, False])
        used.append("cleanup_socket")
    stale = rng.random() < 0.2   # a socket file left by an earlier server
    lines = ["import pathlib, socket", "", "async def handle(reader, writer):",
             "    data = await reader.readline()",
             "    T.log('server got', data)",
             "    writer.write(data.upper())",
             "    await writer.drain()",
             "    writer.close()",
             "    await writer.wait_closed()",
             "", "async def main():",
             "    path = os.path.join(TMP, 's.sock')"]
    if stale:
        lines += ["    old = socket.socket(socket.AF_UNIX)",
                  "    old.bind(path)",
                  "    old.close()",
                  "    T.log('stale file', os.path.exists(path))"]
    kwargs = ""
    if not start_serving:
        kwargs += ", start_serving=False"
    if how == "sock":
        if stale:
            lines.append("    os.unlink(path)")
        lines += ["    sock = socket.socket(socket.AF_UNIX)",
                  "    sock.bind(path)"]
        target = "sock=sock"
    elif how == "pathlib":
        target = "pathlib.Path(path)"
    else:
        target = "path"
    if cleanup is not None:
        loop_call = (f"asyncio.get_running_loop().create_unix_server("
                     f"lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader(), handle), "
                     f"{target}{kwargs}, cleanup_socket={cleanup})")
        lines.append(f"    srv = await {loop_call}")
    else:
        lines.append(f"    srv = await asyncio.start_unix_server(handle, {target}{kwargs})")
    lines.append("    T.log('serving', srv.is_serving(), os.path.exists(path))")
    body = []
    if not start_serving:
        body.append("await srv.start_serving()")
        body.append("T.log('serving', srv.is_serving())")
    body += ["r, w = await asyncio.open_unix_connection(path)",
             "w.write(b'ping\\n')",
             "T.log('client got', await r.readline())",
             "w.close()",
             "await w.wait_closed()"]
    if use_async_with:
        lines.append("    async with srv:")
        lines += [f"        {line}" for line in body]
        lines.append("    T.log('after async with', srv.is_serving(), os.path.exists(path))")
    else:
        lines += [f"    {line}" for line in body]
        lines.append("    srv.close()")
        lines.append("    T.log('closed', srv.is_serving(), os.path.exists(path))")
    lines.append("    await srv.wait_closed()")
    lines.append("    T.log('wait_closed', os.path.exists(path))")
    if how == "sock":
        lines.append("    sock.close()")
    lines.append("    await T.finish()")
    return "\n".join(lines) + "\n", used

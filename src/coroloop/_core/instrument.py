"""Instrumentation hooks: how debugging and testing tools watch the scheduler.

An instrument is any object with some of these methods; the loop calls the ones it
has.  Install with ``loop.add_instrument(obj)``; remove with ``loop.remove_instrument``.

    task_spawned(task)          a task was created on this loop (inside its creator's
                                step: ``task.spawned_by()`` is running)
    task_step_started(task)     the task's coroutine is about to run a step
    task_step_ended(task)       ...and has yielded, returned or raised
    task_stepped(task, started, ended)
                                the same step in one call, after it: it ran from loop
                                time *started* to *ended*; ``task.waiting_on()`` is what
                                it waits on now (None: runnable again, or done)
    task_exited(task)           the task is done (result, exception or cancelled)
    task_woken(task, future)    *future* is done and has queued *task*, which waited
                                on it, for its next step; called where the future
                                completes (inside the step or callback that completed
                                it, or as the loop fires a due sleep)
    task_cancel_requested(task, msg)
                                ``task.cancel(msg)`` counts (the task is not done);
                                called inside cancel(), so the stack and
                                ``current_task()`` are the canceller's
    callback_ran(handle, seconds)  a callback of the ready queue finished
    ready_run_started(count)    the loop is about to run the *count* callbacks and
                                steps that were ready when this iteration polled
    io_wait_started(timeout)    the loop is about to block in the poller
    io_wait_ended(n_events)     ...and woke up

Cost.  With no instrument installed the loop's ``_instruments`` is None and each hook
site costs a single branch.  Instruments with only ``io_wait_started``/``io_wait_ended``
keep the ready queue on the fast path (``watch_ready`` is False).  With instruments, each hook name is an attribute of the
loop's ``Instruments``, prepared whenever the set changes: None when no instrument
has that hook (so a site skips the call and the work of preparing its arguments),
else a function calling each instrument's method.  Methods inherited unchanged from
``Instrument`` (its no-ops) do not count.  Callbacks are timed only for
``callback_ran`` (or debug mode), and the task a ready item steps is looked up only
for the step hooks.

Step records.  An instrument with a true ``records_steps`` attribute (the debug
package's TaskMonitor) has the loop keep, per task, a ``StepRecord`` on the task
(``task._step_record``, made by the instrument's ``task_spawned`` or, for a task
spawned before it, by the loop at its first step): its step count, the loop time
spent in its steps and when its last step ended.  The loop does this inline, with
no Python call per step: one clock read per step when steps follow each other in
an iteration, two after a plain callback (whose time is not a step's).  Its eager
first step (3.12's eager tasks) counts too.  Such an instrument should not also
implement per-step hooks (``task_step_started`` and the like): with them the loop
takes its general watched path, which keeps the records as well but costs more.
``task_stepped`` is the exception: an instrument whose only per-item hook it is (a
trace recorder) has the lean path too, called there with the same chained times (one
step's end is the next one's start), records or not.

Step log.  An instrument that is the only one with ``task_stepped`` may have a
``step_log`` (a list) and a ``read_step_log()`` method: the lean path then
appends to the log, per task step, the task, the loop time the step began and the
time it ended -- three appends, no Python call -- instead of calling
``task_stepped``, which the other paths (debug mode's, an eager first step) still
call; and it calls ``read_step_log()`` every ``STEP_LOG_BATCH`` steps, which
should empty the log (an instrument that raises there is removed and reported, as
from a hook; without a ``read_step_log`` of its own it gets task_stepped calls).  The instrument may read it at other times too (a trace
recorder does at each iteration's start).  A task's state as it is read then is
still its state at the end of its logged step: a task's fields change only in its
own steps, and a task steps at most once in an iteration.  So the log keeps a
task at most STEP_LOG_BATCH steps (or to the end of the iteration) longer than
the ready queue did, and the instrument reads it while its memory is likely still
in the CPU's caches (a batch of a whole iteration -- 50,000 steps -- was read
from main memory: twice the cost).  The loop lets go of the list at the end of
each iteration (for an instrument removed by an item).

Exit log.  A ``records_steps`` instrument may also have an ``exit_log`` (a
``collections.deque``, bounded as it likes) and an ``exit_seq`` (a callable
returning the next sequence number, ``itertools.count(1).__next__``): the loop
then appends, inline and with no Python call, one entry per finished task --
``log_exit``'s tuple ``(seq, id, name, coro, cancelled, error, steps, run_time,
last_step_end, created_at)``, where *name* is the task's raw name (an int N for
the default ``Task-N``), *coro* its coroutine's ``__qualname__`` (the coroutine
itself if it has none, None if gone), *error* the repr of its exception (or
None), and the last four its StepRecord's fields.  Nothing in it keeps the task,
its result or its exception alive (the exception is retrieved later as usual;
"never retrieved" is reported when the task goes), nor its coroutine or record:
an entry of strings and numbers (and the creation site's tuple of code objects
and offsets) is dropped from the garbage collector's lists at its first pass, so
a history of 1000 entries costs the collector nothing afterwards (keeping the
record and the coroutine had the collector walk them again and again: ~0.9 us
a task on create_task, a third of the monitor's cost in time).  The debug
package's TaskMonitor keeps its history of finished tasks so.

Errors.  An instrument that raises is removed and the error is reported through the
loop's exception handler, so a broken tool cannot break the program it watches.  An
instrument whose hooks catch and report their own errors may say so with a true
``hooks_catch_errors`` attribute: when it is the only one with a hook, the loop then
calls its method directly, without the guard (one Python call less per event, which
is what a tracer recording every step pays most).
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable

from .futures import CANCELLED

__all__ = ["Instrument", "Instruments", "HOOKS", "STEP_LOG_BATCH", "StepRecord", "log_exit", "error_repr", "add_loop_watcher", "remove_loop_watcher",
           "announce_loop", "set_debug_mode_tools", "debug_mode_started", "debug_mode_ended"]

STEP_LOG_BATCH = 64  # steps between two read_step_log() calls (see "Step log")

HOOKS = ("task_spawned", "task_step_started", "task_step_ended", "task_stepped",
         "task_exited", "task_woken", "task_cancel_requested", "callback_ran",
         "ready_run_started", "io_wait_started", "io_wait_ended")

_versions = itertools.count(1)

# The hooks the loop calls around its poll, not while running the ready queue.
_POLL_HOOKS = ("io_wait_started", "io_wait_ended")
# The hooks that make the loop find the task each ready-queue item steps.
_STEP_HOOKS = ("task_step_started", "task_step_ended", "task_stepped", "task_exited")
# The hooks the lean recording path calls (or that are not called from the ready run).
_LEAN_HOOKS = ("ready_run_started", "task_exited", "task_spawned", "task_woken",
               "task_cancel_requested", "task_stepped")


class StepRecord:
    """What the loop counts for a task while an instrument ``records_steps``.

    ``steps``: steps run; ``run_time``: loop time spent in them; ``last_step_end``:
    loop time the last one ended (the start of the task's current wait, or when it
    finished); ``cancel_requests`` and ``created_at`` belong to the instrument (the
    loop never touches them).  Slots, not an instance dict: made once per task
    spawned while a TaskMonitor watches, a slotted record with its fields set in
    ``__init__`` measured ~1k instructions less per task than class defaults
    shadowed in a ``__dict__`` (made at the first field written), and slots are
    cheaper to read in a snapshot.
    """

    __slots__ = ("steps", "run_time", "last_step_end", "cancel_requests", "created_at")

    def __init__(self, created_at: tuple = ()) -> None:
        # >>> rule new-record
        self.steps = 0
        self.run_time = 0.0
        self.last_step_end = None
        self.cancel_requests = 0
        self.created_at = created_at
        # <<< rule new-record

    last_step_end: float | None

    def add_step(self, began: float, ended: float) -> None:
        """Count one step that ran from loop time *began* to *ended*."""
        # >>> rule add-step
        self.steps += 1
        self.run_time += ended - began
        self.last_step_end = ended
        # <<< rule add-step


def error_repr(exc) -> str:
    """repr(*exc*) for the exit log; never raises (a debugging tool must not)."""
    try:
        return repr(exc)
    except Exception:
        return f"<{type(exc).__name__} (repr failed)>"


def log_exit(log, seq, task, record) -> None:
    """Append finished *task*'s entry to an instrument's exit log (see the module doc)."""
    if record is None:
        record = _NO_RECORD
    # >>> rule exit-entry
    error = task._exception  # not exception(): that would mark it retrieved
    coro = task._coro
    log.append((seq(), id(task), task._name, getattr(coro, "__qualname__", coro),
                error is None and task._state is CANCELLED,
                None if error is None else error_repr(error),
                record.steps, record.run_time, record.last_step_end, record.created_at))
    # <<< rule exit-entry


_NO_RECORD = StepRecord()  # the entry of a task that was never recorded (log_exit)


def record_step(task, began: float, ended: float) -> None:
    """Count a step of *task* in its StepRecord, made now if it has none (the loop's
    watched path and eager steps; the lean path does the same inline)."""
    record = task._step_record
    if record is None:
        record = task._step_record = StepRecord()
    record.add_step(began, ended)


class Instrument:
    """Optional base class documenting the hooks; every hook does nothing."""

    #: True if every hook catches and reports its own errors (see the module doc).
    hooks_catch_errors = False
    #: True to have the loop keep each task's StepRecord (see the module doc).
    records_steps = False
    #: With records_steps: a deque the loop appends finished tasks' entries to, and
    #: the callable numbering them (see the module doc).
    exit_log: collections.deque | None = None
    exit_seq: Callable[[], int] | None = None
    #: A list the lean path appends each step's task, start and end to, in place of
    #: calling task_stepped (see the module doc).
    step_log: list | None = None

    def read_step_log(self) -> None:
        """With a step_log: take what the loop has appended to it (see the module
        doc); called every ``STEP_LOG_BATCH`` steps."""

    def task_spawned(self, task) -> None:
        """A task was created on the loop (in its creator's step)."""

    def task_step_started(self, task) -> None:
        """*task*'s coroutine is about to run a step."""

    def task_step_ended(self, task) -> None:
        """*task*'s step has yielded, returned or raised."""

    def task_stepped(self, task, started: float, ended: float) -> None:
        """*task* ran a step from loop time *started* to *ended*; its
        ``waiting_on()`` is what it waits on now."""

    def task_exited(self, task) -> None:
        """*task* is done (result, exception or cancelled)."""

    def task_woken(self, task, future) -> None:
        """*future* is done and queued *task*, which waited on it, for a step."""

    def task_cancel_requested(self, task, msg) -> None:
        """``task.cancel(msg)`` was called and counts (inside cancel():
        the stack is the canceller's)."""

    def callback_ran(self, handle, seconds: float) -> None:
        """A ready-queue callback finished after *seconds*."""

    def ready_run_started(self, count: int) -> None:
        """The loop is about to run the *count* ready callbacks and steps."""

    def io_wait_started(self, timeout) -> None:
        """The loop is about to wait in the poller (up to *timeout* seconds)."""

    def io_wait_ended(self, n_events: int) -> None:
        """The poller returned *n_events* events."""


def _implements(instrument, hook: str) -> bool:
    """Has *instrument* a method for *hook* that is not Instrument's no-op?"""
    if not callable(getattr(instrument, hook, None)):
        return False
    return getattr(type(instrument), hook, None) is not getattr(Instrument, hook)


class Instruments:
    """The instruments installed on one loop.  Each hook name is an attribute: None
    when no member implements it, else a function calling the members that do."""

    def __init__(self, loop) -> None:
        self._loop = loop
        self.members: list = []
        self._prepare()

    def add(self, instrument) -> None:
        if not any(callable(getattr(instrument, hook, None)) for hook in HOOKS):
            raise TypeError(f"{instrument!r} has none of the instrument hooks {HOOKS}")
        if instrument not in self.members:
            self.members.append(instrument)
            self._prepare()

    def remove(self, instrument) -> None:
        self.members.remove(instrument)
        self._prepare()

    def _prepare(self) -> None:
        for hook in HOOKS:
            methods = [(member, getattr(member, hook)) for member in self.members
                       if _implements(member, hook)]
            setattr(self, hook, self._fan_out(hook, methods) if methods else None)
        self.records_steps = any(getattr(member, "records_steps", False)
                                 for member in self.members)
        # The exit log of the first records_steps member that has one (see the doc).
        logging = [member for member in self.members if getattr(member, "records_steps", False)
                   and getattr(member, "exit_log", None) is not None]
        self.exit_log = logging[0].exit_log if logging else None
        self.exit_seq = logging[0].exit_seq if logging else None
        # The step log: only the one task_stepped member's, and only with its own
        # read_step_log() (without one, nothing would empty the log: task_stepped
        # calls instead), which is guarded as its hooks are.
        stepping = [member for member in self.members if _implements(member, "task_stepped")]
        member = stepping[0] if len(stepping) == 1 else None
        if member is not None and getattr(member, "step_log", None) is not None \
                and _implements(member, "read_step_log"):
            self.step_log = member.step_log
            self.read_step_log = self._fan_out("read_step_log", [(member, member.read_step_log)])
        else:
            self.step_log = self.read_step_log = None
        self.watch_steps = any(getattr(self, hook) is not None for hook in _STEP_HOOKS)
        # Only hooks the ready-queue run calls need its watched path: an instrument
        # with just the poller's hooks (the deadlock detector) leaves the fast one.
        self.watch_ready = self.records_steps or any(
            getattr(self, hook) is not None for hook in HOOKS if hook not in _POLL_HOOKS)
        # Step records and nothing else per item but task_exited: the loop's lean
        # recording path (no Python call per step, no timing of callbacks).
        # task_stepped too (a tracer): called there with the same chained times.
        self.lean = (self.records_steps or getattr(self, "task_stepped") is not None) and not any(
            getattr(self, hook) is not None for hook in HOOKS
            if hook not in _POLL_HOOKS and hook not in _LEAN_HOOKS)
        # Changes with every change of the set: a loop may keep the hooks it read
        # while this is the same (1 and up: 0 is the loop's "no instruments").
        self.version = next(_versions)

    def _fan_out(self, hook: str, methods: list):
        """One function calling each (member, method) of *methods*, each guarded."""
        failed = self._failed
        if len(methods) == 1:
            [(member, method)] = methods
            if getattr(member, "hooks_catch_errors", False):
                return method

            def call_one(*args):
                try:
                    method(*args)
                except Exception as exc:
                    failed(member, hook, exc)
            return call_one

        def call_each(*args):
            for member, method in methods:
                try:
                    method(*args)
                except Exception as exc:
                    failed(member, hook, exc)
        return call_each

    def _failed(self, instrument, hook: str, exc: Exception) -> None:
        # Reported once: the lean path may call what it read of a removed
        # instrument until its iteration ends, and it may fail again there.
        if instrument not in self.members:
            return
        self._loop.remove_instrument(instrument)
        self._loop.call_exception_handler({
            "message": f"Instrument {instrument!r} raised in {hook}() and was removed",
            "exception": exc,
        })


# -- new loops ---------------------------------------------------------------------
# Callables called with every coroloop loop as it is created: how a tool that watches
# a whole program (``python -m coroloop trace SCRIPT``) installs its instruments on
# the loops the program makes, however it makes them.  Creating a loop is not a hot
# path; the loop checks this list once, in __init__.
_loop_watchers: list = []


def add_loop_watcher(callback) -> None:
    """Call ``callback(loop)`` with every coroloop loop created from now on (in the
    thread creating it, at the end of the loop's ``__init__``)."""
    if not callable(callback):
        raise TypeError(f"add_loop_watcher() needs a callable, got {callback!r}")
    _loop_watchers.append(callback)


def remove_loop_watcher(callback) -> None:
    """Stop calling *callback* for new loops (ValueError if it was not added)."""
    try:
        _loop_watchers.remove(callback)
    except ValueError:
        raise ValueError(f"{callback!r} is not a loop watcher") from None


def announce_loop(loop) -> None:
    """Called by every loop's __init__ (a no-op without watchers); a watcher that raises is
    reported through the loop's exception handler and the loop is created anyway."""
    for callback in tuple(_loop_watchers):
        try:
            callback(loop)
        except Exception as exc:
            loop.call_exception_handler({
                "message": f"Loop watcher {callback!r} raised for a new loop", "exception": exc})


# -- debug mode ------------------------------------------------------------------------
# The tools debug mode turns on (coroloop.debug's task monitor, cancellation provenance,
# pitfall reports, ...) live above the core: the package registers one callable here
# (see coroloop/__init__.py) and the loop calls it as run_forever() starts in debug
# mode.  Not a hot path: once per run_forever().
_debug_mode_tools = None


def set_debug_mode_tools(callback) -> None:
    """Call ``callback(loop)`` whenever a coroloop loop starts running in debug mode."""
    global _debug_mode_tools
    _debug_mode_tools = callback


def debug_mode_started(loop):
    """Called by run_forever() in debug mode; a failing tool is reported, never raised.
    Returns what the callback returns: a function run_forever() calls as it ends (the
    tools that last one run, like the blocking watchdog thread), or None."""
    if _debug_mode_tools is None:
        return None
    try:
        return _debug_mode_tools(loop)
    except Exception as exc:
        loop.call_exception_handler({
            "message": f"The debug-mode tools failed to start on {loop!r}", "exception": exc})
        return None


def debug_mode_ended(loop, stop) -> None:
    """Called by run_forever() as a debug-mode run ends, with debug_mode_started()'s
    result; a failing stop is reported, never raised."""
    try:
        stop()
    except Exception as exc:
        loop.call_exception_handler({
            "message": f"The debug-mode tools failed to stop on {loop!r}", "exception": exc})

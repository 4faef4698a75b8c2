"""Deadlock and hang detection: every task waits and nothing can wake them.

``detect_deadlocks(loop)`` installs an instrument whose one hook,
``io_wait_started(timeout)``, runs as the loop is about to block in the poller.  A
timeout of None means "until a descriptor is ready": no callback is ready and no
timer is due.  The detector then asks the loop what else could wake it
(``loop.wake_sources()``: watched descriptors other than the loop's own -- sockets,
pipes, subprocess pidfds, the signal socket --, executor jobs and other concurrent
futures on their way) and whether the program installed a signal handler of its own
with ``signal.signal()`` (run()'s Ctrl-C handler is not counted).  If nothing can and tasks are pending, they can never run
again: it builds a ``DeadlockReport`` and logs it (``action="log"``) or, with
``action="raise"``, also raises ``DeadlockError`` in the main task (the one
``run()`` / ``run_until_complete()`` waits for).  This happens in the iteration
where the last task blocked, before the poll, so under a ``VirtualClock`` too.

Threads.  Any thread may call ``call_soon_threadsafe``; the loop cannot know it
will.  So before reporting, the detector looks at the other threads: its own
watchdogs and idle executor workers (blocked waiting for work) cannot wake the
loop.  If another thread is alive, the stall is only *possibly* a deadlock: the
detector waits ``grace`` real seconds and reports it then, if still stalled, as
``certain=False`` and naming the threads (logged, never raised).

The report is built from ``snapshot()`` (the single source of truth for tasks):
every waiting task as a ``TaskInfo`` with its ``WaitReason`` (kind, target, the task
holding the lock or semaphore it waits for), and the wait-for cycles: a task waits
for the tasks it awaits (``awaited_by`` read backwards: a task, a gather's children,
a TaskGroup's) and for the holder of its lock.  A cycle through locks reads "A holds
L1 and waits for L2; B holds L2 and waits for L1".  Each stall (the same tasks
waiting on the same futures) is reported once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import traceback
from dataclasses import dataclass, field

import coroloop

from .blocking import BlockingWatch, loop_to_watch
from .snapshot import snapshot
from .trace import is_recording, mark

__all__ = ["DeadlockDetector", "DeadlockError", "DeadlockReport", "detect_deadlocks"]

logger = logging.getLogger("coroloop.debug")

_ACTIONS = ("log", "raise")
_POOL_WORKER_FILE = os.path.join("concurrent", "futures", "thread.py")
# Frames an idle worker waits in, under its _worker loop.
_WAITING_FILES = ("threading.py", "queue.py")


@dataclass
class DeadlockReport:
    """Every waiting task of a stalled loop, and the wait-for cycles among them.

    ``tasks``: the ``TaskInfo`` of each waiting task (the main task first, then by
    name), from ``snapshot``, the whole ``Snapshot``.  ``cycles``: lists of
    ``TaskInfo``, each waiting for the next and the last for the first.
    ``certain`` is False when other threads are alive that might still wake the
    loop (their names in ``threads``); such a report is only ever logged.
    ``main``: the id of the task ``run()`` waits for, or None.
    """

    tasks: list
    cycles: list
    snapshot: object = None
    certain: bool = True
    threads: list = field(default_factory=list)
    main: int | None = None

    def task(self, name: str):
        """The waiting ``TaskInfo`` named *name*, or None."""
        return next((info for info in self.tasks if info.name == name), None)

    def format(self) -> str:
        """The report as it is logged."""
        if self.certain:
            head = (f"Deadlock: {len(self.tasks)} task(s) wait and nothing can wake them "
                    "(no ready callback, timer, watched descriptor, executor job or thread)")
        else:
            head = (f"Possible deadlock: {len(self.tasks)} task(s) wait and only another "
                    "thread could wake them: " + ", ".join(self.threads))
        names = {info.id: info.name for info in self.tasks}
        lines = [head]
        for cycle in self.cycles:
            lines.append("Cycle: " + _describe_cycle(cycle))
        for info in self.tasks:
            main = " (main)" if info.id == self.main else ""
            lines.append(f"  task {info.name!r}{main} waits for {_describe_wait(info, names)}")
            if info.stack:
                summaries = [traceback.FrameSummary(*entry) for entry in info.stack]
                for line in traceback.format_list(summaries):
                    lines.append("    " + line.rstrip().replace("\n", "\n    "))
        return "\n".join(lines)

    __str__ = format


def _describe_wait(info, names) -> str:
    wait = info.wait
    if wait is None:
        return "nothing (runnable)"
    text = f"{wait.kind} {wait.target}".rstrip()
    if wait.holder is not None:
        text += f" held by {names.get(wait.holder, hex(wait.holder))!r}"
    return text


def _describe_cycle(cycle) -> str:
    if len(cycle) == 1:
        return f"task {cycle[0].name!r} waits for itself ({_describe_wait(cycle[0], {})})"
    if all(info.wait.holder is not None for info in cycle):
        # A lock-order inversion: each holds what the one before it waits for.
        return "; ".join(f"{info.name!r} holds {cycle[i - 1].wait.target} and waits for "
                         f"{info.wait.target}" for i, info in enumerate(cycle))
    return " -> ".join(f"{info.name!r} ({info.wait.kind})" for info in cycle) + \
        f" -> {cycle[0].name!r}"


class DeadlockError(RuntimeError):
    """Raised in the main task when every task waits and nothing can wake them
    (``detect_deadlocks(action="raise")``); ``report`` is the ``DeadlockReport``."""

    def __init__(self, report: DeadlockReport) -> None:
        super().__init__(report.format())
        self.report = report


class DeadlockDetector(coroloop.Instrument):
    """An installed deadlock detector (what ``detect_deadlocks`` returns).

    ``reports`` keeps the reports made (the most recent 100); ``stop()`` removes
    the detector (a context manager too).
    """

    def __init__(self, loop, action: str = "log", grace: float = 5.0, on_deadlock=None):
        if action not in _ACTIONS:
            raise ValueError(f"detect_deadlocks() action must be one of {_ACTIONS}, "
                             f"got {action!r}")
        if not hasattr(loop, "wake_sources"):
            raise TypeError(f"detect_deadlocks() needs a coroloop loop, got {loop!r} "
                            "(run the program on coroloop.new_event_loop())")
        if on_deadlock is not None and not callable(on_deadlock):
            raise TypeError(f"detect_deadlocks() on_deadlock must be callable, "
                            f"got {on_deadlock!r}")
        self.loop = loop
        self.action = action
        self.grace = float(grace)
        self.on_deadlock = on_deadlock
        self.reports: list[DeadlockReport] = []
        self._reported = None     # the stall reported last (see _stall)
        self._timer: threading.Timer | None = None  # the grace timer while threads may wake it
        coroloop.Lock._track_holders(True)  # lock waits name their holders (waits.py)
        loop.add_instrument(self)

    def __enter__(self) -> "DeadlockDetector":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def stop(self) -> None:
        """Remove the detector and cancel its grace timer (waiting for it)."""
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            if timer is not threading.current_thread():
                timer.join()
        if self in self.loop.instruments:
            self.loop.remove_instrument(self)

    # -- the hook (loop thread) ------------------------------------------------------
    def io_wait_started(self, timeout) -> None:
        """Instrument hook: the loop is about to poll; with no timeout, check whether anything can still wake it."""
        if timeout is None:
            self.check()

    def check(self, _after_grace=None):
        """Look for a deadlock now (on the loop's thread); the report, or None."""
        loop = self.loop
        if loop.wake_sources().can_wake or _signal_handlers_may_wake():
            return None
        tasks = [task for task in coroloop.all_tasks(loop) if not task.done()]
        if not tasks:
            return None
        # The stall: which tasks wait on what.  Each is reported once.
        stall = frozenset((id(task), id(getattr(task, "waiting_on", _none)()))
                          for task in tasks)
        if stall == self._reported:
            return None
        threads = _threads_that_may_wake(loop)
        if threads and self.grace > 0 and _after_grace != stall:
            self._start_grace(stall)
            return None
        self._reported = stall
        report = build_report(loop, threads)
        self._deliver(report)
        return report

    def _start_grace(self, stall) -> None:
        """Check *stall* again in ``grace`` real seconds (once at a time)."""
        if self._timer is not None:
            return

        def recheck():
            self._timer = None
            try:
                self.loop.call_soon_threadsafe(self.check, stall)
            except RuntimeError:
                pass  # the loop closed meanwhile
        timer = threading.Timer(self.grace, recheck)
        timer.daemon = True
        setattr(timer, BlockingWatch.THREAD_MARK, True)
        self._timer = timer
        timer.start()

    def _deliver(self, report: DeadlockReport) -> None:
        self.reports.append(report)
        del self.reports[:-100]
        # Raised: the program has the report (DeadlockError.report); else logged.
        if not (self.action == "raise" and report.certain and _interrupt(self.loop, report)):
            logger.error("%s", report)
        if is_recording(self.loop):
            mark("deadlock", f"{len(report.tasks)} tasks deadlocked", loop=self.loop,
                 args={"certain": report.certain, "cycles": len(report.cycles)})
        if self.on_deadlock is not None:
            self.on_deadlock(report)


def _none():
    return None


def _interrupt(loop, report) -> bool:
    """Raise DeadlockError in the main task; False if there is none to raise in.

    Scheduled with call_soon_threadsafe: the hook runs as the loop is about to
    block in the poller, which only a wake-up ends.
    """
    main = loop.main_future()
    if main is None or main.done():
        return False
    error = DeadlockError(report)
    interrupt = getattr(main, "interrupt", None)
    abandoned = main.waiting_on() if interrupt is not None else None
    if abandoned is not None:
        # The main task stops awaiting it: its outcome (a gather cancelled as run()
        # cleans up, say) is nobody's to retrieve, so it must not be reported as such.
        abandoned.add_done_callback(_retrieve)
        loop.call_soon_threadsafe(interrupt, error)
        return True
    if not isinstance(main, asyncio.Task):
        # run_until_complete(future): the future fails.
        loop.call_soon_threadsafe(_fail_unless_done, main, error)
        return True
    return False  # a stdlib task: it cannot be interrupted; the report is logged


def _retrieve(future) -> None:
    if not future.cancelled():
        future.exception()


def _fail_unless_done(future, error) -> None:
    if not future.done():
        future.set_exception(error)


def _signal_handlers_may_wake() -> bool:
    """Whether the program installed a Python-level signal handler
    (``signal.signal``), which may wake a task when its signal comes (Ctrl-C
    handled by its own handler, SIGTERM setting an Event, ...).

    The loop's ``add_signal_handler`` handlers are counted by the loop already (their
    socket is watched).  Not counted: Python's default Ctrl-C handler and run()'s
    (``Runner._on_sigint``, coroloop's and asyncio's), which cancel the main task --
    a program waiting for nothing else is still reported; and a test runner's
    per-test timeout (pytest-timeout's SIGALRM), which ends the test, not a wait.
    """
    for signum in _CATCHABLE:
        try:
            handler = signal.getsignal(signum)
        except (ValueError, OSError):
            continue
        if not callable(handler) or handler is signal.default_int_handler:
            continue
        function = getattr(handler, "func", handler)  # a functools.partial's
        name = getattr(function, "__name__", "")
        module = getattr(function, "__module__", "") or ""
        if name == "_on_sigint" or module == "pytest_timeout" or \
                module.startswith("coroloop._net."):  # the loop's own (see above)
            continue
        return True
    return False


_CATCHABLE = tuple(sorted(signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP}))


def _threads_that_may_wake(loop) -> list:
    """Names of the other live threads, but for coroloop.debug's own threads and
    idle executor workers (blocked waiting for a job)."""
    frames: dict = sys._current_frames()  # (keyed by ident: enumerate()'s threads have one)
    names = []
    for thread in threading.enumerate():
        if thread.ident == loop.thread_id or getattr(thread, BlockingWatch.THREAD_MARK, False):
            continue
        if _idle_pool_worker(frames.get(thread.ident)):
            continue
        names.append(thread.name)
    return names


def _idle_pool_worker(frame) -> bool:
    while frame is not None and frame.f_code.co_filename.endswith(_WAITING_FILES):
        frame = frame.f_back
    return frame is not None and frame.f_code.co_name == "_worker" and \
        frame.f_code.co_filename.endswith(_POOL_WORKER_FILE)


# -- the report --------------------------------------------------------------------
def build_report(loop, threads=()) -> DeadlockReport:
    """The ``DeadlockReport`` of *loop*'s tasks as they wait now (on its thread)."""
    snap = snapshot(loop)
    main = loop.main_future() if hasattr(loop, "main_future") else None
    main_id = None if main is None else id(main)
    waiting = sorted((info for info in snap.tasks if info.state != "done"),
                     key=lambda info: (info.id != main_id, info.name))
    return DeadlockReport(waiting, _cycles(waiting), snap, certain=not threads,
                          threads=list(threads), main=main_id)


def _cycles(infos) -> list:
    """Each cycle of the wait-for graph once, rotated to start at its first task in
    *infos*' order, by depth-first search."""
    by_id = {info.id: info for info in infos}
    order = {info.id: i for i, info in enumerate(infos)}
    edges: dict[int, list] = {info.id: [] for info in infos}
    for info in infos:  # X.awaited_by holds Y: Y waits for X
        for waiter in info.awaited_by:
            if waiter in edges and info.id not in edges[waiter]:
                edges[waiter].append(info.id)
    for info in infos:  # a task waits for the holder of its lock
        holder = info.wait.holder if info.wait is not None else None
        if holder in by_id and holder not in edges[info.id]:
            edges[info.id].append(holder)
    found, keys, done = [], set(), set()

    def visit(node, path):
        for nxt in edges[node]:
            if nxt in path:
                cycle = path[path.index(nxt):]
                first = min(range(len(cycle)), key=lambda i: order[cycle[i]])
                cycle = cycle[first:] + cycle[:first]
                if tuple(cycle) not in keys:
                    keys.add(tuple(cycle))
                    found.append([by_id[task_id] for task_id in cycle])
            elif nxt not in done:
                visit(nxt, path + [nxt])
        done.add(node)

    for info in infos:
        if info.id not in done:
            visit(info.id, [info.id])
    return found


def detect_deadlocks(loop=None, *, action: str = "log", grace: float = 5.0,
                     on_deadlock=None) -> DeadlockDetector:
    """Report when every task of *loop* (default: the running loop) waits and
    nothing can wake them.

    *action* ``"log"`` logs the ``DeadlockReport`` as an error on the
    ``coroloop.debug`` logger; ``"raise"`` also raises ``DeadlockError`` in the
    main task.  *grace*: real seconds to wait, when other threads are alive, before
    reporting a possible deadlock.  *on_deadlock(report)* is called on the loop's
    thread with each report.  Returns the ``DeadlockDetector``; ``stop()`` it.
    """
    return DeadlockDetector(loop_to_watch(loop, "detect_deadlocks"), action, grace,
                            on_deadlock)

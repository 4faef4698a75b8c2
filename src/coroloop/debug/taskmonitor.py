"""TaskMonitor: the live tasks of a loop, their counts by state, the finished ones.

The asyncio tutorials write a ``TaskMonitor`` by hand (a set of tasks, a done
callback removing each); this one is an instrument on the loop's hooks and is the
building block of ``snapshot()``: it records, per task, what public introspection
cannot give afterwards —

* where the task was created (raw ``(code, lineno)`` pairs, formatted lazily),
* its step count and the loop time spent in its steps,
* when its current wait began (``WaitReason.since``),
* how many ``cancel()`` calls reached it,

and per loop, its iterations and when the running step began.  Finished tasks go
to a bounded history (default 1000) with their outcome.

Cost: nothing until installed (the loop's hooks stay one branch); installed, one
small record per task (kept on the task itself, so a collected task takes its
record with it) and a few attribute updates per step.
"""

from __future__ import annotations

import collections
import collections.abc
import dataclasses
import os
import sys
import types

import coroloop

from ._tool import LoopTool, current_task_or_none

__all__ = ["FinishedTask", "FrameList", "TaskMonitor", "format_frames"]

_RECORD = "_coroloop_debug_record"
_PACKAGE_DIR = os.path.dirname(coroloop.__file__) + os.sep
# How many frames of the creating code a task remembers (innermost ones).
CREATION_FRAMES = 8


class _TaskRecord:
    """What the monitor keeps per task (on the task, see the module doc)."""

    __slots__ = ("created_at", "steps", "run_time", "wait_since", "cancel_requests")

    def __init__(self, created_at) -> None:
        self.created_at = created_at   # ((code, lineno), ...), innermost last
        self.steps = 0
        self.run_time = 0.0            # loop time spent in steps
        self.wait_since = None         # loop time the current wait began
        self.cancel_requests = 0


def record_of(task):
    """The monitor's record of *task*, or None (not watched)."""
    try:
        return task.__dict__.get(_RECORD)
    except AttributeError:  # a stdlib task (no record: spawned without our hooks)
        return None


def creation_frames(skip: int = 1) -> tuple:
    """``((code, lineno), ...)`` of the calling code outside coroloop, innermost last."""
    frames: list = []
    frame: types.FrameType | None = sys._getframe(skip)
    while frame is not None and len(frames) < CREATION_FRAMES:
        code = frame.f_code
        if not code.co_filename.startswith(_PACKAGE_DIR):
            frames.append((code, frame.f_lineno))
        frame = frame.f_back
    frames.reverse()
    return tuple(frames)


def format_frames(raw) -> list[tuple[str, int, str]]:
    """``[(filename, lineno, function), ...]`` from raw ``(code, lineno)`` pairs."""
    return [(code.co_filename, lineno, getattr(code, "co_qualname", code.co_name))
            for code, lineno in raw]


class FrameList(collections.abc.Sequence):
    """``(filename, lineno, function)`` entries, formatted from raw ``(code, lineno)``
    pairs only when first read (a snapshot of thousands of tasks stays cheap)."""

    __slots__ = ("_raw", "_entries")

    def __init__(self, raw) -> None:
        self._raw = raw
        self._entries: list | None = None

    def _formatted(self) -> list:
        if self._entries is None:
            self._entries = format_frames(self._raw)
            self._raw = None
        return self._entries

    def __getitem__(self, index):
        return self._formatted()[index]

    def __len__(self) -> int:
        return len(self._raw) if self._entries is None else len(self._entries)

    def __eq__(self, other):
        return list(self) == list(other)

    def __repr__(self) -> str:
        return repr(self._formatted())


@dataclasses.dataclass(frozen=True, slots=True)
class FinishedTask:
    """A task of the monitor's history: ``outcome`` is "result", "exception" or
    "cancelled"; ``error`` the exception's repr (or None); times are loop times."""

    id: int
    name: str
    coro: str
    outcome: str
    error: str | None
    finished_at: float
    steps: int
    run_time: float
    created_at: tuple

    def to_dict(self) -> dict:
        """The fields as a JSON-serializable dict."""
        return {"id": self.id, "name": self.name, "coro": self.coro,
                "outcome": self.outcome, "error": self.error,
                "finished_at": self.finished_at, "steps": self.steps,
                "run_time": self.run_time,
                "created_at": [list(entry) for entry in self.created_at]}


def coro_name(task) -> str:
    """The qualified name of *task*'s coroutine ("" when it has none left)."""
    coro = task.get_coro()
    if coro is None:
        return ""
    return getattr(coro, "__qualname__", None) or type(coro).__qualname__


class TaskMonitor(LoopTool):
    """Watches the tasks of one loop: ``active()``, ``counts()``, ``finished``.

    ::

        monitor = coroloop.debug.TaskMonitor.install(loop)   # or: with TaskMonitor(loop):
        ...
        monitor.counts()    # {"running": 1, "runnable": 0, "waiting": 3, "done": 12}
        monitor.finished    # the last 1000 finished tasks (FinishedTask)

    One monitor per loop: ``TaskMonitor.install(loop)`` returns the installed one
    if there is one; ``TaskMonitor.of(loop)`` finds it (or None).
    """

    def __init__(self, loop=None, *, history: int = 1000) -> None:
        if loop is None:
            loop = coroloop.get_running_loop()
        if not isinstance(history, int) or history < 0:
            raise ValueError(f"TaskMonitor(history=...) must be an int >= 0, got {history!r}")
        self.loop = loop
        self.finished: collections.deque = collections.deque(maxlen=history)
        self.finished_count = 0          # all tasks seen finishing, beyond the history
        self.iterations = 0              # loop iterations since installed
        self.last_event = None           # loop time of the last step end / iteration start

    # -- installing --------------------------------------------------------------------
    @classmethod
    def install(cls, loop=None, *, history: int = 1000) -> "TaskMonitor":
        """The monitor of *loop*, installed now if it had none."""
        if loop is None:
            loop = coroloop.get_running_loop()
        monitor = cls.of(loop)
        if monitor is None:
            monitor = cls(loop, history=history)
            monitor.start()
        return monitor

    def start(self) -> None:
        """Install on the loop (a no-op if installed)."""
        if not self._installed:
            self._attach()
            coroloop.Lock._track_holders(True)  # see _api/locks.py

    def __enter__(self) -> "TaskMonitor":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- the hooks (each catches its own errors: a tool never breaks the program) -------
    def task_spawned(self, task) -> None:
        """Instrument hook: start tracking *task* (its creation site and spawner)."""
        try:
            task.__dict__[_RECORD] = _TaskRecord(creation_frames(2))
        except Exception as exc:
            self._fail("task_spawned", exc)

    def task_stepped(self, task, started, ended) -> None:
        """Instrument hook: count one step of *task* and its run time."""
        try:
            record = task.__dict__.get(_RECORD)
            if record is None:
                record = task.__dict__[_RECORD] = _TaskRecord(())
            record.steps += 1
            record.run_time += ended - started
            record.wait_since = ended if task.waiting_on() is not None else None
            self.last_event = ended
        except Exception as exc:
            self._fail("task_stepped", exc)

    def task_cancel_requested(self, task, msg) -> None:
        """Instrument hook: count a cancel request for *task*."""
        try:
            record = task.__dict__.get(_RECORD)
            if record is not None:
                record.cancel_requests += 1
        except Exception as exc:
            self._fail("task_cancel_requested", exc)

    def task_exited(self, task) -> None:
        """Instrument hook: move *task* to the bounded history of finished tasks."""
        try:
            self.finished_count += 1
            if self.finished.maxlen == 0:
                return
            record = task.__dict__.get(_RECORD)
            if task.cancelled():
                outcome, error = "cancelled", None
            else:
                exc = task._exception  # not exception(): that would mark it retrieved
                outcome, error = ("result", None) if exc is None else ("exception", repr(exc))
            self.finished.append(FinishedTask(
                id(task), task.get_name(), coro_name(task), outcome, error,
                self.loop.time(), record.steps if record else 0,
                record.run_time if record else 0.0,
                tuple(format_frames(record.created_at)) if record else ()))
        except Exception as exc:
            self._fail("task_exited", exc)

    def ready_run_started(self, count) -> None:
        """Instrument hook: count one loop iteration."""
        self.iterations += 1
        self.last_event = self.loop.time()

    # -- what it knows ----------------------------------------------------------------
    def active(self) -> list:
        """The loop's tasks that are not done (coroloop's and stdlib's)."""
        return [task for task in coroloop.all_tasks(self.loop) if not task.done()]

    def counts(self) -> dict:
        """How many tasks are running, runnable, waiting (now) and done (so far)."""
        from .snapshot import task_state
        current = current_task_or_none(self.loop)
        counts = {"running": 0, "runnable": 0, "waiting": 0}
        for task in self.active():
            counts[task_state(task, current)] += 1
        counts["done"] = self.finished_count
        return counts

    def __repr__(self) -> str:
        return (f"<TaskMonitor loop={self.loop!r} installed={self._installed} "
                f"finished={self.finished_count}>")

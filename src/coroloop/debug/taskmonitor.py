"""TaskMonitor: the live tasks of a loop, their counts by state, the finished ones.

The asyncio tutorials write a ``TaskMonitor`` by hand (a set of tasks, a done
callback removing each); this one is an instrument on the loop's hooks and is the
building block of ``snapshot()``: it records, per task, what public introspection
cannot give afterwards --

* where the task was created (raw ``(code, f_lasti)`` pairs, formatted lazily),
* its step count and the loop time spent in its steps,
* when its current wait began (``WaitReason.since``: when its last step ended),
* how many ``cancel()`` calls reached it,

and per loop, its iterations and when the running step began.  Finished tasks go
to a bounded history (default 1000) with their outcome.

Cost.  Nothing until installed (the loop's hooks stay one branch).  Installed, the
monitor is a ``records_steps`` instrument (``coroloop.Instrument``): the loop itself
counts each step in the task's ``StepRecord``, inline, with no Python call per step
(one clock read per step), and appends each finished task to the monitor's
``exit_log`` itself (one tuple of strings and numbers: no Python call at exit, and
nothing the garbage collector walks again; ``FinishedTask`` objects are made when
``finished`` is read).  The monitor's own Python code runs once per task
at spawn (the creation site: a walk of the creating frames up to the scheduler's,
the frames kept as ``(code, f_lasti)``) and once per ``cancel()``.  The record lives
on the task, so a collected task takes it along.

What that costs and why it is not less (instructions per task, valgrind, Python
3.11, create_task: ~20.3k per task without tools, ~34.7k with the monitor): the
lean path with its records ~4.4k (a clock read ~0.5k; the record made by the loop
when no spawn hook made it), the exit entry ~2.5k, the spawn hook ~7.4k (its call
~0.6k; the creation-site walk ~1.3k per frame looked at, two here; the record
~0.5k).  docs/benchmarks.md has the table.
Python's own coroutine origin tracking (``cr_origin``) was measured as the
alternative for the creation site: ~1.9k per coroutine at depth 1 and 4-12k at
depth 2 (it works out line numbers eagerly, for every coroutine, awaited ones too).
"""

from __future__ import annotations

import collections
import collections.abc
import dataclasses
import itertools
import os
import sys
import types

import coroloop
from coroloop import StepRecord

from ._tool import LoopTool, current_task_or_none

__all__ = ["FinishedTask", "FrameList", "TaskMonitor", "format_frames"]

_PACKAGE_DIR = os.path.dirname(coroloop.__file__) + os.sep
_CORE_DIR = _PACKAGE_DIR + "_core" + os.sep
# How many frames of the creating code a task remembers (innermost ones).
CREATION_FRAMES = 8

# What each source file is to the creation-site walk, by its code objects'
# co_filename (cached: a spawn sees the same few files again and again; keyed by
# the name, as a code object's hash is worked out from its contents at each call).
_USER, _LIBRARY, _SCHEDULER = 0, 1, 2
_kinds: dict = {}


def _kind(filename: str) -> int:
    if not filename.startswith(_PACKAGE_DIR):
        kind = _USER
    elif filename.startswith(_CORE_DIR) and os.path.basename(filename) in (
            "loop.py", "tasks.py", "handles.py"):
        kind = _SCHEDULER
    else:
        kind = _LIBRARY
    if len(_kinds) < 10_000:  # names of exec()'d code must not pile up
        _kinds[filename] = kind
    return kind


_new_object = object.__new__


def record_of(task):
    """The loop's ``StepRecord`` of *task* (steps, run time, creation site...), or
    None (not watched, or a stdlib task)."""
    return getattr(task, "_step_record", None)


def creation_frames(skip: int = 1, outermost=None) -> tuple:
    """The calling code outside coroloop, innermost last, as raw ``(code, f_lasti)``
    pairs (a plain tuple: a tuple subclass costs a type call and stays tracked by
    the GC; ``format_frames(..., offsets=True)`` works out the lines).

    The walk starts *skip* frames out (the spawn hook: at the caller of the core
    function that called it, so ``create_task()``'s caller is the first frame
    looked at), skips coroloop's frames until it meets the program's, then goes
    outwards up to the scheduler (a task's step or the loop: the same for every
    task), or up to *outermost* when known (the spawning task's coroutine frame:
    that spares looking at the scheduler's frame beyond it).  Each frame looked
    at costs ~1.3k instructions (a frame object made or found, ``f_code``,
    ``f_lasti``, the kind of its file); a frame object made for a frame of
    coroloop's is new at each call, one of the program's is mostly reused.
    """
    kinds = _kinds
    frame: types.FrameType | None
    try:
        frame = sys._getframe(skip)
    except ValueError:  # a shallower stack than *skip*
        return ()
    while frame is not None:
        filename = frame.f_code.co_filename
        kind = kinds.get(filename)
        if kind is None:
            kind = _kind(filename)
        if kind == _USER:
            break
        frame = frame.f_back
    if frame is None:  # no frame of the program's (a task made by coroloop alone)
        return ()
    # The first is the program's frame found above; then outwards.
    code = frame.f_code
    first = (code, frame.f_lasti)
    if frame is outermost:
        return (first,)
    frames: list | None = None  # made at a third frame: most sites have one or two
    frame = frame.f_back
    while frame is not None:
        code = frame.f_code
        kind = kinds.get(code.co_filename)
        if kind is None:
            kind = _kind(code.co_filename)
        if kind == _USER:
            # f_lasti, not f_lineno: working out a line scans the code's line
            # table (a microsecond for a long function); done when formatted.
            pair = (code, frame.f_lasti)
            if frames is None:
                if frame is outermost:
                    return (pair, first)
                frames = [first, pair]
            else:
                frames.append(pair)
                if frame is outermost or len(frames) == CREATION_FRAMES:
                    break
        elif kind == _SCHEDULER:
            break
        frame = frame.f_back
    if frames is None:
        return (first,)
    frames.reverse()
    return tuple(frames)


def line_at(code, offset: int) -> int:
    """The line of the instruction at byte *offset* of *code* (as ``f_lineno``)."""
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return line if line is not None else code.co_firstlineno
    return code.co_firstlineno


def format_frames(raw, offsets: bool = False) -> list[tuple[str, int, str]]:
    """``[(filename, lineno, function), ...]`` from raw ``(code, lineno)`` pairs, or
    with *offsets* ``(code, f_lasti)`` pairs (a task's recorded creation site)."""
    if offsets:
        raw = [(code, line_at(code, offset)) for code, offset in raw]
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

    #: The loop keeps each task's StepRecord (steps, run time, last step end).
    records_steps = True

    def __init__(self, loop=None, *, history: int = 1000) -> None:
        if loop is None:
            loop = coroloop.get_running_loop()
        if not isinstance(history, int) or history < 0:
            raise ValueError(f"TaskMonitor(history=...) must be an int >= 0, got {history!r}")
        self.loop = loop
        # The loop appends finished tasks to it, inline (coroloop.Instrument's exit
        # log); made into FinishedTask objects when ``finished`` is read.  With
        # history=0 it keeps the last entry only (its number is finished_count).
        self.exit_log: collections.deque = collections.deque(maxlen=max(history, 1))
        self.exit_seq = itertools.count(1).__next__
        self._keep = history > 0
        self._iterations_before = 0      # the loop's iterations when installed

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
            self._iterations_before = self.loop.iterations()
            coroloop.Lock._track_holders(True)  # see _api/locks.py

    def __enter__(self) -> "TaskMonitor":
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- the hooks (each catches its own errors: a tool never breaks the program) -------
    def task_spawned(self, task) -> None:
        """Instrument hook: start tracking *task* (its creation site)."""
        try:
            parent = task._parent  # the spawning task: its coroutine's frame is outermost
            try:
                outermost = parent._coro.cr_frame
            except AttributeError:  # no task (a callback), or not a coroutine
                outermost = None
            created_at = creation_frames(3, outermost)
            # StepRecord(created_at) without the type call and __init__'s frame
            # (~0.45k instructions a task).
            record = task._step_record = _new_object(StepRecord)
            # >>> copy new-record (self -> record)
            record.steps = 0
            record.run_time = 0.0
            record.last_step_end = None
            record.cancel_requests = 0
            record.created_at = created_at
            # <<< copy new-record
        except Exception as exc:
            self._fail("task_spawned", exc)

    def task_cancel_requested(self, task, msg) -> None:
        """Instrument hook: count a cancel request for *task*."""
        try:
            record = task._step_record
            if record is None:
                record = task._step_record = StepRecord()
            record.cancel_requests += 1
        except Exception as exc:
            self._fail("task_cancel_requested", exc)

    @property
    def finished_count(self) -> int:
        """How many tasks finished while the monitor watched (beyond the history too)."""
        log = self.exit_log
        return log[-1][0] if log else 0

    @property
    def finished(self) -> collections.deque:
        """The last finished tasks (``FinishedTask``), oldest first, at most
        ``history`` of them (a new deque at each read)."""
        if not self._keep:
            return collections.deque(maxlen=0)
        made: collections.deque = collections.deque(maxlen=self.exit_log.maxlen)
        now = None
        created: tuple
        for (_, task_id, name, coro, cancelled, error, steps, run_time, finished_at,
             site) in self.exit_log:
            if type(name) is int:
                name = f"Task-{name}"  # as get_name() formats it
            outcome = "cancelled" if cancelled else "result" if error is None else "exception"
            if type(coro) is not str:  # gone (None), or a coroutine without __qualname__
                coro = "" if coro is None else type(coro).__qualname__
            if finished_at is None:  # never stepped while recorded
                if now is None:
                    now = self.loop.time()
                finished_at, steps, run_time, created = now, 0, 0.0, ()
            else:
                created = tuple(format_frames(site, offsets=True))
            made.append(FinishedTask(task_id, name, coro, outcome, error, finished_at,
                                     steps, run_time, created))
        return made

    @property
    def iterations(self) -> int:
        """Loop iterations since the monitor was installed."""
        return self.loop.iterations() - self._iterations_before

    @property
    def last_event(self):
        """Loop time the running task step began (None between steps)."""
        return self.loop.step_began()

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

"""Timelines: record what a loop's tasks do, write it as a Chrome trace (Perfetto).

``record_trace(path)`` records every task step, wait, spawn, wake-up, cancellation
and the ready-queue length of a coroloop loop, and writes them on exit as Chrome's
trace event JSON, which https://ui.perfetto.dev and chrome://tracing open (and
``python -m coroloop timeline`` draws without either)::

    with coroloop.debug.record_trace("trace.json"):
        coroloop.run(main())            # every loop created in the block is recorded

    async def main():
        with coroloop.debug.record_trace("trace.json"):   # the running loop, from now
            ...

What the file holds (one "process" per loop, one "thread" -- a track -- per task):

    M  process_name / thread_name / thread_sort_index   the loop; each task's name
    X  cat "step"     a step of the task: name = its coroutine, args.step = its number
    X  cat "wait"     the time between two steps, name = the wait's kind (issue 9's
                      kinds: sleep, future, task, gather, lock, queue_get, ...;
                      "runnable" when queued to run again), args.target
    s/f  cat "spawn"  from the step that created a task to the task's first step
                      (from that step's end, where the task's first wait,
                      "runnable" with target "created", begins)
    s/f  cat "wake"   from the step (or, on the loop's track, the callback) that
                      completed the awaited future to the step it woke
    C  "ready queue"  callbacks and steps ready at the start of each iteration
    i  cat "cancel"   a cancel() request, on the cancelled task's track, args.by
    i  cat "blocking" / "deadlock" / ...   what a detector reported (``mark()``)

Timestamps are microseconds of loop time (``loop.time()``; virtual time on a
``VirtualClock``).  Slices on one track never overlap: each starts at or after the
previous one's end, every wait lasts at least 1 ns and every step 2 ns, with its
arrows bound 1 ns inside it -- so steps that take no loop time (all of them, in
virtual time) stay visible, in order, and each arrow binds to the right slice.
Each track's times are pushed forward by at most 2 ns per slice for this.

Cost.  Per task step the loop's lean ready-queue path reads the clock once (one
step's end is the next one's start) and appends the task and the two times to the
recorder's step log: no Python call per step (``coroloop.Instrument``, "Step
log").  Every 64 steps, and at each iteration's start, the recorder reads the log
while those tasks are still in the CPU's caches: per step a few of asyncio's
attributes read directly (what it waits on, its state; a wait is coded by its
future's type when every future of that type has one label, a gather's, else by
``wait_reason()``; an exit keeps the raw name and the coroutine's) and one
``struct`` call packs the batch, 32 bytes a step.  ``task_spawned`` is a list's
append, read with the log; ``task_woken``, ``task_cancel_requested`` and
``ready_run_started`` pack a 33-byte event each, with the number of steps before
it, which is how the three streams are merged back into order when the file is
written (names, labels and the JSON are worked out then too).  No Python object
is kept per event, nothing for the garbage collector.  On ``async_tree`` that
costs 12-19% of its CPU time, depending on how it is timed (issue 10's budget is
15%; docs/benchmarks.md, "Trace on", says where it goes).  Each hook catches its own errors: a failing recorder removes itself
and reports through the loop's exception handler, the program goes on, and the
file says why it is short (``otherData.errors``).
"""

from __future__ import annotations

import array
import contextlib
import functools
import itertools
import json
import operator
import os
import struct
import sys
import threading
import weakref

import coroloop

from .waits import constant_wait_reason, wait_reason

__all__ = ["TraceRecorder", "is_recording", "record_trace", "mark", "trace_events",
           "write_trace"]

# What a recording keeps -- arrays of numbers and bytes, no Python object per event,
# so recording adds no work for the garbage collector and ~33 bytes an event:
#
#   steps    step_ids, step_starts, step_ends, step_codes: one entry per task step,
#            in the order the steps ended.  The code says what the task does next:
#            _YIELDED, runnable again; >= 0, it waits: the index of its
#            (kind, target) in `labels`; _EXITED / _CANCELLED, it is done (its raw
#            name -- an int N for the default "Task-N" -- and its coroutine's name
#            are the next of `exit_names` and `exit_coros`).
#   spawns   spawn_ids, spawn_parents (id(None): created outside any task),
#            spawn_pos, spawn_at: the tasks created, each before the step spawn_pos
#            names (its index among the steps) and before every event of that
#            position.  spawn_at is NaN for "in its parent's next step" (the step
#            that created it), else the loop time it is known to exist by.
#   events   `records`, one 33-byte record each, for the rest:
#              code    time   a      b          pos
#              WAKE    at     task   waker      (0: a callback or the scheduler)
#              CANCEL  at     task   canceller  (0: none); message: next of `notes`
#              READY   at     count  -
#              MARK    at     task   -          (0: none); (kind, name, args): next
#                                               of `notes`
#            where pos is the number of steps that had ended then: the event comes
#            before that step.
#
# The loop's lean path appends each step's task, start and end to the recorder's
# `step_log` (coroloop.Instrument's "Step log": three list appends per step, no
# Python call); `task_spawned` is the `spawned` list's append.  Both are turned
# into the arrays above at the start of the next iteration (and at an eager first
# step, and at stop()) -- in C loops: map(id, ...), attribute getters, one dict
# lookup per step for its code, array.extend -- so a step costs the recorder no
# Python call and no bytecode of its own; only odd waits (a lock's, a queue's: a
# label per future, not per type) and exits cost Python per step.
_EVENT = struct.Struct("<BdQQQ")
_WAKE, _CANCEL, _READY, _MARK = range(4)
_YIELDED = -1
_EXITED = -2
_CANCELLED = -3
_NONE = id(None)  # a spawn's parent when it has none
_NAN = float("nan")
_parent = operator.attrgetter("_parent")
_CHUNK = 256  # steps moved into the arrays at a time


@functools.lru_cache(maxsize=512)
def _step_chunk(count: int) -> struct.Struct:
    """The layout of *count* steps: their ids, starts, ends and codes, column by
    column (one C call packs them; array.extend() converts item by item through
    argument parsing, 5x slower, and a growing array is copied as it grows)."""
    return struct.Struct(f"<{count}Q{2 * count}d{count}q")


@functools.lru_cache(maxsize=512)
def _spawn_chunk(count: int) -> struct.Struct:
    """The layout of *count* spawns: the position of the step they come before,
    the time (NaN: in their parents' next steps), their ids, their parents'."""
    return struct.Struct(f"<Qd{2 * count}Q")


_STEP_SIZE = _step_chunk(1).size    # bytes a step takes in a chunk
_SPAWN_HEADER = _spawn_chunk(0).size  # a spawn chunk's position and time
_SPAWN_SIZE = _spawn_chunk(1).size - _SPAWN_HEADER  # and each spawn's two ids


def _each_spawn(chunks: list[bytes]):
    """(position, id, parent, time) of every spawn in *chunks*, in order."""
    for chunk in chunks:
        count = (len(chunk) - _SPAWN_HEADER) // _SPAWN_SIZE
        pos, at, *ids = _spawn_chunk(count).unpack(chunk)
        for child, parent in zip(ids[:count], ids[count:]):
            yield pos, child, parent, at


def _columns(chunks: list[bytes], size: int, types: str) -> list[array.array]:
    """The columns of *chunks* (each column by column, of items *size* bytes in
    all) as one array per column, of the array type codes in *types*."""
    columns = [array.array(code) for code in types]
    for chunk in chunks:
        count = len(chunk) // size
        at = 0
        for column in columns:
            end = at + count * column.itemsize
            column.frombytes(chunk[at:end])
            at = end
    if sys.byteorder != "little":  # the chunks are little-endian ("<")
        for column in columns:
            column.byteswap()
    return columns


_active_lock = threading.Lock()
# loop -> the recorders recording it (weak: a recording never keeps a loop alive).
_active: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class TraceRecorder:
    """Records one coroloop loop through its instrument hooks (see the module doc).

    ``stop()`` uninstalls it; ``events(pid)`` turns what it recorded into Chrome
    trace events.  ``record_trace`` is the usual way to make and write one.
    """

    hooks_catch_errors = True  # every hook below guards itself (see coroloop.Instrument)

    def __init__(self, loop) -> None:
        if not isinstance(loop, coroloop.CoreEventLoop):
            raise TypeError(
                f"record_trace() records coroloop's loops through their instrument hooks; "
                f"{loop!r} is not one: run the program on coroloop (coroloop.run(), "
                f"coroloop.install(), or python -m coroloop trace SCRIPT)")
        self.loop = loop
        self.clock = type(loop.clock).__name__
        self.thread = threading.current_thread().name
        # What is kept (see "What a recording keeps" above).
        self.step_chunks: list[bytes] = []           # _step_chunk()s
        self.steps = 0                               # how many steps they hold
        self.exit_names: list = []
        self.exit_coros: list[str] = []
        self.spawn_chunks: list[bytes] = []          # _spawn_chunk()s
        self.records = bytearray()                 # the events
        self.labels: dict[tuple[str, str], int] = {}   # (kind, target) -> its index
        self.notes: list = []                      # cancel messages, marks
        self.alive: list[tuple] = []               # (id, name, coroutine) at stop()
        self.error: str | None = None              # why recording stopped early
        self.started_at = loop.time()
        self.stopped_at: float | None = None
        self._installed = False
        self._make_hooks()

    # -- the hooks (closures: no attribute lookups on the hot path) ------------------
    def _make_hooks(self) -> None:
        """Make the hooks, with a step log and a spawned list of their own."""
        # Steps not yet recorded: task, start, end, ... (the loop's three appends,
        # or task_stepped's); tasks created since: task_spawned is its append.
        # Both hold only tasks the ready queue held this iteration, or that are
        # about to run.
        log: list = []
        spawned: list = []
        add = self.records.extend
        pack = _EVENT.pack
        now = self.loop.clock.time
        loop = self.loop
        labels = self.labels
        label_of = labels.get
        # Future type -> the code of a wait on it, when every future of that type
        # has one label (a gather's; waits.constant_wait_reason): most waits cost
        # one lookup, not a wait_reason() call.
        code_by_type: dict[type, int] = {}
        code_of = code_by_type.get
        add_steps = self.step_chunks.append
        add_name, add_coro = self.exit_names.append, self.exit_coros.append
        add_spawns = self.spawn_chunks.append
        add_note = self.notes.append
        current_task = coroloop.current_task
        fail = self._fail
        recorder = self

        def label(task, future) -> int:
            """The code of a wait on *future* that its type does not tell."""
            reason = wait_reason(task, future)
            index = label_of(reason)
            if index is None:
                index = labels[reason] = len(labels)
            if constant_wait_reason(type(future)) == reason and len(code_by_type) < 64:
                code_by_type[type(future)] = index
            return index

        def record(known_at=None) -> None:
            """Move the log and the spawned tasks into the chunks.  *known_at*: the
            loop time the spawned tasks are known to exist by -- the start of an
            eager first step, or the stop -- else None: by the end of their
            parents' next steps."""
            if not recorder._installed:
                return
            first = recorder.steps
            if spawned:
                children = spawned[:]
                spawned.clear()
                parents = list(map(_parent, children))
                if known_at is not None and None in parents:
                    # An eager task that finished in its first step has let go of
                    # its parent: the task whose step is running made it.
                    creator = _eager_parent(loop)
                    parents = [creator if parent is None and child._state != "PENDING"
                               else parent for child, parent in zip(children, parents)]
                add_spawns(_spawn_chunk(len(children)).pack(
                    first, _NAN if known_at is None else known_at,
                    *map(id, children), *map(id, parents)))
            # In chunks: a chunk's temporaries are small and reused, where one
            # batch of 50,000 steps would write megabytes of fresh memory (cache
            # misses that cost more than the packing).
            for at in range(0, len(log), 3 * _CHUNK):
                steps = log[at:at + 3 * _CHUNK]
                tasks = steps[0::3]
                codes: list[int] = []
                add_code = codes.append
                for task in tasks:
                    # asyncio's Task and Future attributes, read directly: a
                    # method call each (waiting_on(), done(), ...) would cost more.
                    future = task._fut_waiter
                    if future is not None:
                        code = code_of(type(future))
                        add_code(label(task, future) if code is None else code)
                    elif task._state == "PENDING":
                        add_code(_YIELDED)
                    else:
                        # The raw name (an int for "Task-N", formatted when the
                        # file is written) and the code's name: nothing is made.
                        add_name(task._name)
                        try:
                            add_coro(task._coro.__qualname__)
                        except AttributeError:  # not a coroutine (or None: an eager task's)
                            add_coro(_coroutine_name(task))
                        add_code(_CANCELLED if task._state == "CANCELLED" else _EXITED)
                add_steps(_step_chunk(len(tasks)).pack(
                    *map(id, tasks), *steps[1::3], *steps[2::3], *codes))
                recorder.steps += len(tasks)
            log.clear()

        def position() -> int:
            return recorder.steps + len(log) // 3

        def read_step_log():
            try:
                record()
            except Exception as exc:
                fail("read_step_log", exc)

        def task_stepped(task, started, ended):
            # The paths that call it (debug mode's; an eager first step): the
            # same log as the lean path's appends, read as often.
            try:
                log.append(task)
                log.append(started)
                log.append(ended)
                if spawned and task in spawned:  # an eager first step
                    record(started)
                elif len(log) >= 3 * _CHUNK:
                    record()
            except Exception as exc:
                fail("task_stepped", exc)

        def task_woken(task, future):
            try:
                waker = current_task(loop)
                add(pack(_WAKE, now(), id(task), 0 if waker is None else id(waker),
                         position()))
            except Exception as exc:
                fail("task_woken", exc)

        def task_cancel_requested(task, msg):
            try:
                canceller = current_task(loop)
                add_note(msg if msg is None or isinstance(msg, str) else repr(msg))
                add(pack(_CANCEL, now(), id(task),
                         0 if canceller is None else id(canceller), position()))
            except Exception as exc:
                fail("task_cancel_requested", exc)

        def ready_run_started(count):
            try:
                record()
                add(pack(_READY, now(), count, 0, recorder.steps))
            except Exception as exc:
                fail("ready_run_started", exc)

        self.step_log = log
        self.task_spawned = spawned.append
        self.task_stepped = task_stepped
        self.task_woken = task_woken
        self.task_cancel_requested = task_cancel_requested
        self.ready_run_started = ready_run_started
        self._record = record
        self.read_step_log = read_step_log
        self._position = position

    def _fail(self, hook: str, exc: Exception) -> None:
        """A hook failed: stop recording (keeping what we have) and report it."""
        self.error = f"{hook}() raised {exc!r}; recording stopped there"
        with contextlib.suppress(Exception):
            self.stop()
        with contextlib.suppress(Exception):
            self.loop.call_exception_handler({
                "message": f"Trace recorder stopped: {self.error}", "exception": exc})

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> "TraceRecorder":
        """Install the hooks (from the loop's thread, or before the loop runs)."""
        self._installed = True
        self.loop.add_instrument(self)
        with _active_lock:
            _active.setdefault(self.loop, []).append(self)
        return self

    def stop(self) -> None:
        """Uninstall the hooks and note the tasks still alive (names for their tracks)."""
        if not self._installed:
            return
        with _active_lock:
            recorders = _active.get(self.loop, [])
            if self in recorders:
                recorders.remove(self)
        if self in self.loop.instruments:
            self.loop.remove_instrument(self)
        self.stopped_at = self.loop.time()
        with contextlib.suppress(Exception):
            self._record(self.stopped_at)
        self._installed = False
        # The loop may append to the old log for the rest of this iteration (its
        # lean path reads the instruments once per iteration): new hooks, so that
        # the old log and what it holds go with the iteration.  Nothing after
        # stop() is kept.
        self._make_hooks()
        if not self.loop.is_closed():
            for task in coroloop.all_tasks(self.loop):
                self.alive.append((id(task), task.get_name(), _coroutine_name(task)))

    def note(self, kind: str, name: str, task=None, args: dict | None = None) -> None:
        """Add an instant event (what ``mark()`` does for every recorder of a loop)."""
        self.notes.append((str(kind), str(name), dict(args or {})))
        self.records.extend(_EVENT.pack(_MARK, self.loop.clock.time(),
                                        0 if task is None else id(task), 0,
                                        self._position()))

    @property
    def event_count(self) -> int:
        """How many events were recorded."""
        spawns = sum(len(chunk) - _SPAWN_HEADER for chunk in self.spawn_chunks) // _SPAWN_SIZE
        return len(self.records) // _EVENT.size + self.steps + spawns

    # -- export -------------------------------------------------------------------------
    def events(self, pid: int = 1) -> list[dict]:
        """This recording as Chrome trace events, the loop as process *pid*."""
        return [json.loads(text) for text in self.event_texts(pid)]

    def event_texts(self, pid: int = 1) -> list[str]:
        """The same events as JSON texts (what write_trace writes)."""
        return _Exporter(self, pid).run()


def _eager_parent(loop):
    """The task whose step is running on *loop*: the creator of an eager task that
    finished in its first step (which dropped its ``spawned_by()`` link)."""
    running = loop.running_callback()
    item = None if running is None else running[1]
    if not isinstance(item, coroloop.Task):
        item = getattr(getattr(item, "_callback", None), "__self__", None)
    return item if isinstance(item, coroloop.Task) else None


def _coroutine_name(task) -> str:
    coro = task.get_coro()
    try:
        return coro.__qualname__
    except AttributeError:  # not a coroutine object (or None: an eager task's)
        return "?" if coro is None else type(coro).__name__


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


class _Track:
    """One task's track while exporting: its slices so far and what it waits on."""

    __slots__ = ("tid", "name", "coro", "end", "wait", "woken_at", "steps", "closed")

    def __init__(self, tid: int) -> None:
        self.tid = tid
        self.name: str | None = None
        self.coro: str | None = None
        self.end: int | None = None       # ns: where the next slice may start (None: nothing yet)
        self.wait: tuple[str, str, int] | None = None  # (kind, target, since_ns) of the wait
        self.woken_at: int | None = None  # ns of the wake-up that ends the wait
        self.steps = 0
        self.closed = False


class _Exporter:
    """Turns one recorder's flat records into Chrome trace events (two passes: the
    records in order, then names, which are known only at exit or at stop)."""

    def __init__(self, recorder: TraceRecorder, pid: int) -> None:
        self.rec = recorder
        self.pid = pid
        self.tracks: dict[int, _Track] = {}   # task id -> its current track
        self.all_tracks: list[_Track] = []
        self.loop_track = _Track(0)
        self.loop_track.name = "loop"
        self.out: list = []                   # events, names still to fill in
        self.flow_ids = 0
        self.flow_starts: dict[int, list] = {}  # task id -> flows starting in its step
        self.flow_ends: dict[int, list] = {}    # task id -> flows ending at its next step
        self.flow_start_at: dict[int, int] = {}  # flow id -> ns of its start, once known
        self.ready = None                     # the ready-queue count last sampled

    def track(self, task_id: int, new: bool = False) -> _Track:
        track = self.tracks.get(task_id)
        if track is None or new or track.closed:
            track = _Track(len(self.all_tracks) + 1)
            self.tracks[task_id] = track
            self.all_tracks.append(track)
        return track

    def slot(self, track: _Track, at_ns: int) -> int:
        """The start of a slice on *track* at *at_ns* or after its last slice."""
        return at_ns if track.end is None or at_ns >= track.end else track.end

    def run(self) -> list[str]:
        rec = self.rec
        self.labels = list(rec.labels)       # index -> (kind, target)
        self.names = iter(rec.exit_names)
        self.coros = iter(rec.exit_coros)
        self.notes = iter(rec.notes)
        ids, starts, ends, codes = _columns(rec.step_chunks, _STEP_SIZE, "Qddq")
        self.starts = starts
        steps = len(ids)
        # The three streams merged by position: before step i, the spawns and then
        # the events recorded before it ended.
        handlers = _HANDLERS
        spawns = _each_spawn(rec.spawn_chunks)
        events = _EVENT.iter_unpack(rec.records)
        spawn = next(spawns, None)
        event = next(events, None)
        for i in range(steps + 1):
            while spawn is not None and spawn[0] <= i:
                self.on_spawn(*spawn)
                spawn = next(spawns, None)
            while event is not None and event[4] <= i:
                code, t, a, b, _ = event
                handlers[code](self, t, a, b)
                event = next(events, None)
            if i < steps:
                self.on_step(starts[i], ends[i], ids[i], codes[i])
        self.finish()
        return self.render()

    # -- one method per record --------------------------------------------------------
    def on_spawn(self, pos, task_id, parent_id, at):
        track = self.track(task_id, new=True)
        parent_id = 0 if parent_id == _NONE else parent_id
        if at == at:  # a time: the task existed by then
            since = _ns(at)
        elif parent_id:  # NaN: made in its parent's next step, whose end sets the time
            track.wait = ("runnable", "created", None)
            self.flow(parent_id, task_id, "spawn", None, track)
            return
        else:  # NaN, made by a callback: by the step that comes next
            since = _ns(self.starts[pos] if pos < len(self.starts) else self.stop_time())
        track.wait = ("runnable", "created", since)
        track.end = since
        if parent_id:
            self.flow(parent_id, task_id, "spawn", since)

    def on_step(self, started, ended, task_id, wait):
        track = self.track(task_id)
        start = _ns(started)
        ends = self.flow_ends.pop(task_id, ())
        for flow_id, _ in ends:  # an arrow never points back in time
            start = max(start, self.flow_start_at.get(flow_id, start) - 1)
        if track.wait is not None:
            kind, target, since = track.wait
            since = self.slot(track, start if since is None else since)
            start = max(start, since + 1)
            args = {"target": target} if target else {}
            if track.woken_at is not None:
                args["woken_at_us"] = max(since, min(track.woken_at, start)) / 1000
            self.out.append(("X", track, "wait", kind, since, start - since, args))
            track.woken_at = None
        else:
            start = self.slot(track, start)
        # At least 2 ns, and arrows bound 1 ns inside: a viewer binds an arrow's end
        # to the slice open at its time, which must not be a tie with the slice
        # before (Perfetto's JSON importer takes the topmost slice open then).
        end = max(_ns(ended), start + 2)
        track.steps += 1
        self.out.append(("X", track, "step", None, start, end - start, {"step": track.steps}))
        for flow_id, name in ends:
            self.out.append(("f", track, name, flow_id, start + 1))
        for flow_id, name, at, child in self.flow_starts.pop(task_id, ()):
            at = end - 1 if at is None else min(max(at, start + 1), end - 1)
            self.flow_start_at[flow_id] = at
            self.out.append(("s", track, name, flow_id, at))
            if child is not None and child.wait is not None and child.wait[2] is None:
                child.wait = (*child.wait[:2], at)  # its creation: this step made it
                child.end = at
        track.end = end
        if wait <= _EXITED:
            outcome = "cancelled" if wait == _CANCELLED else "done"
            name = next(self.names)
            if name.__class__ is int:  # a coroloop task's number: get_name()'s rule
                # >>> copy default-name
                name = f"Task-{name}"
                # <<< copy default-name
            track.name = name
            track.coro, track.closed = next(self.coros), True
            track.wait = None
            self.out.append(("i", track, "exit", outcome, end, None))
        elif wait == _YIELDED:
            track.wait = ("runnable", "", end)
        else:
            kind, target = self.labels[wait]
            track.wait = (kind, target, end)

    def on_wake(self, t, task_id, waker_id):
        at = _ns(t)
        track = self.track(task_id)
        track.woken_at = at
        if waker_id:
            self.flow(waker_id, task_id, "wake", at)
        elif track.wait is None or track.wait[0] != "sleep":
            # Woken by a callback: the arrow starts on the loop's track, from a
            # marker slice there (a due sleep needs no arrow: the wait says it all).
            loop_track = self.loop_track
            start = self.slot(loop_track, at)
            self.out.append(("X", loop_track, "callback", None, start, 2, {}))
            loop_track.end = start + 2
            self.flow_ids += 1
            self.flow_start_at[self.flow_ids] = start + 1
            self.out.append(("s", loop_track, "wake", self.flow_ids, start + 1))
            self.flow_ends.setdefault(task_id, []).append((self.flow_ids, "wake"))

    def on_cancel(self, t, task_id, canceller_id):
        message = next(self.notes)
        track = self.track(task_id)
        by = self.tracks.get(canceller_id) if canceller_id else None
        self.out.append(("i", track, "cancel", by, self.slot(track, _ns(t)), {"msg": message}))

    def on_ready(self, t, count, _b):
        if count != self.ready:  # a counter needs a sample only when it changes
            self.ready = count
            self.out.append(("C", None, "ready queue", None, _ns(t), {"ready": count}))

    def on_mark(self, t, task_id, _b):
        kind, name, args = next(self.notes)
        track = self.track(task_id) if task_id else None
        at = _ns(t) if track is None else self.slot(track, _ns(t))
        self.out.append(("mark", track, kind, name, at, args))

    def flow(self, from_id: int, to_id: int, name: str, at: int | None,
             child: _Track | None = None) -> None:
        """An arrow from *from_id*'s current step to *to_id*'s next step (*at*:
        when in that step, None: at its end; *child*: a track created there)."""
        self.flow_ids += 1
        self.flow_starts.setdefault(from_id, []).append((self.flow_ids, name, at, child))
        self.flow_ends.setdefault(to_id, []).append((self.flow_ids, name))

    def stop_time(self) -> float:
        rec = self.rec
        return rec.stopped_at if rec.stopped_at is not None else rec.loop.time()

    def finish(self) -> None:
        """Close what is still open at stop: waits run to the end; names of live tasks."""
        rec = self.rec
        for task_id, name, coro in rec.alive:
            track = self.tracks.get(task_id)
            if track is not None and not track.closed:
                track.name, track.coro = name, coro
        stop = _ns(self.stop_time())
        for track in self.all_tracks:
            if track.closed or track.wait is None:
                continue
            kind, target, since = track.wait
            since = self.slot(track, stop if since is None else since)
            end = max(stop, since + 1)
            self.out.append(("X", track, "wait", kind, since, end - since,
                             {"target": target, "unfinished": True} if target
                             else {"unfinished": True}))
            track.end = end
        # Flows whose start or end never happened (the trace stopped first) are
        # dropped: every arrow in the file has both ends.
        unpaired = {fid for starts in self.flow_starts.values() for fid, _, _, _ in starts}
        unpaired |= {fid for ends in self.flow_ends.values() for fid, _ in ends}
        if unpaired:
            self.out = [e for e in self.out if e[0] not in "sf" or e[3] not in unpaired]

    def render(self) -> list[str]:
        """The events as JSON texts, in time order (stable: what happened at one
        instant stays in record order).  Text, not dicts: the bulk (steps, waits,
        arrows) is formatted from templates, several times faster than json.dumps
        of as many dicts, which is what makes writing a big trace slow."""
        pid = self.pid
        rec = self.rec
        dumps = json.dumps
        self.out.sort(key=_time_of)
        label = f"coroloop loop {pid}"
        if rec.clock != "MonotonicClock":
            label += f" ({rec.clock})"
        events = [
            dumps({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
                   "args": {"name": label}}),
            dumps({"ph": "M", "name": "process_labels", "pid": pid, "tid": 0,
                   "args": {"labels": f"pid {os.getpid()}, thread {rec.thread}"}}),
            dumps({"ph": "M", "name": "process_sort_index", "pid": pid, "tid": 0,
                   "args": {"sort_index": pid}}),
        ]
        step_names = {}
        for track in [self.loop_track, *self.all_tracks]:
            events.append(dumps({"ph": "M", "name": "thread_name", "pid": pid,
                                 "tid": track.tid, "args": {"name": track_name(track)}}))
            events.append(dumps({"ph": "M", "name": "thread_sort_index", "pid": pid,
                                 "tid": track.tid, "args": {"sort_index": track.tid}}))
            step_names[track] = dumps("callback" if track is self.loop_track
                                      else track.coro or track_name(track))
        add = events.append
        for item in self.out:
            ph = item[0]
            if ph == "X":
                _, track, cat, kind, start, dur, args = item
                if cat == "wait":
                    add(f'{{"ph":"X","cat":"wait","name":"{kind}","pid":{pid},'
                        f'"tid":{track.tid},"ts":{_us(start)},"dur":{_us(dur)},'
                        f'"args":{dumps({"kind": kind, **args})}}}')
                else:
                    add(f'{{"ph":"X","cat":"{cat}","name":{step_names[track]},"pid":{pid},'
                        f'"tid":{track.tid},"ts":{_us(start)},"dur":{_us(dur)},'
                        f'"args":{dumps(args) if args else "{}"}}}')
            elif ph in ("s", "f"):
                _, track, name, flow_id, at = item
                add(f'{{"ph":"{ph}","cat":"{name}","name":"{name}","id":{flow_id},'
                    f'"pid":{pid},"tid":{track.tid},"ts":{_us(at)}'
                    + (',"bp":"e"}' if ph == "f" else "}"))
            elif ph == "C":
                _, _, name, _, at, args = item
                add(f'{{"ph":"C","name":"{name}","pid":{pid},"tid":0,"ts":{_us(at)},'
                    f'"args":{dumps(args)}}}')
            elif ph == "i":
                _, track, name, extra, at, args = item
                if name == "cancel":
                    args = {**args, "by": track_name(extra) if extra else None}
                else:  # exit
                    args = {"outcome": extra}
                add(f'{{"ph":"i","s":"t","cat":"{name}","name":"{name}","pid":{pid},'
                    f'"tid":{track.tid},"ts":{_us(at)},"args":{dumps(args)}}}')
            else:  # mark
                _, track, kind, name, at, args = item
                add(dumps({"ph": "i", "cat": kind, "name": name, "pid": pid,
                           "tid": track.tid if track else 0, "ts": float(_us(at)),
                           "s": "t" if track else "p", "args": args}))
        return events


_HANDLERS = (_Exporter.on_wake, _Exporter.on_cancel, _Exporter.on_ready, _Exporter.on_mark)


def _time_of(item) -> int:
    return item[4]


def track_name(track: _Track) -> str:
    return track.name or f"task {track.tid}"


def _us(ns: int) -> str:
    """Nanoseconds as the JSON text of exact microseconds (three decimals)."""
    if ns < 0:
        return "-" + _us(-ns)
    return f"{ns // 1000}.{ns % 1000:03d}"


# -- the public API --------------------------------------------------------------------

def is_recording(loop) -> bool:
    """True if a trace is recording *loop* now (so a ``mark()`` would be kept)."""
    with _active_lock:
        return bool(_active.get(loop))


def mark(kind: str, name: str, *, loop=None, task=None, args: dict | None = None) -> None:
    """Add an instant event to every trace recording *loop* (default: the running
    loop), on *task*'s track if given, else on the loop's.

    For the detectors: ``mark("blocking", "loop blocked 230 ms", args={...})``,
    ``mark("deadlock", ...)``.  Does nothing when nothing records the loop.
    """
    if loop is None:
        loop = coroloop.get_running_loop()
    with _active_lock:
        recorders = list(_active.get(loop, ()))
    for recorder in recorders:
        recorder.note(kind, name, task, args)


def _other_data(recorders, metadata) -> dict:
    other = {"generator": f"coroloop {getattr(coroloop, '__version__', '')}".strip(),
             "python": sys.version.split()[0],
             "clocks": sorted({r.clock for r in recorders}),
             "time_unit": "microseconds of loop time"}
    errors = [r.error for r in recorders if r.error]
    if errors:
        other["errors"] = errors
    other.update(metadata or {})
    return other


def trace_events(recorders, *, metadata: dict | None = None) -> dict:
    """The Chrome trace JSON object for *recorders*, one process per loop."""
    events = []
    for pid, recorder in enumerate(recorders, 1):
        events.extend(recorder.events(pid))
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": _other_data(recorders, metadata)}


def write_trace(path, recorders, *, metadata: dict | None = None) -> None:
    """Write *recorders* to *path* as Chrome trace JSON, one event a line (the same
    object as ``trace_events``), atomically: a half-written file never replaces a
    good one."""
    path = os.fspath(path)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as out:
        out.write('{"traceEvents":[\n')
        first = True
        for pid, recorder in enumerate(recorders, 1):
            texts = recorder.event_texts(pid)
            if texts:
                out.write(("" if first else ",\n") + ",\n".join(texts))
                first = False
        out.write('\n],"displayTimeUnit":"ms","otherData":')
        out.write(json.dumps(_other_data(recorders, metadata)))
        out.write("}\n")
    os.replace(temporary, path)


class record_trace:
    """Record coroloop loops into a Chrome trace written to *path* on exit.

    With *loop*, that loop; else the running loop when there is one (used inside a
    coroutine: from now on); else every coroloop loop created while the block runs
    (around ``coroloop.run(main())`` or ``asyncio.run`` under ``coroloop.install()``).
    Also usable by hand: ``start()`` / ``stop()`` (``stop`` writes the file).
    """

    def __init__(self, path, *, loop=None) -> None:
        self.path = os.fspath(path)
        directory = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"record_trace({path!r}): no directory {directory!r} "
                                    "to write the trace in")
        self.loop = loop
        self.recorders: list[TraceRecorder] = []
        self._watching = False

    def start(self) -> "record_trace":
        """Begin recording: the given loop, else the running one, else every coroloop
        loop created from now until stop()."""
        loop = self.loop
        if loop is None:
            try:
                loop = coroloop.get_running_loop()
            except RuntimeError:
                loop = None
        if loop is not None:
            self._record(loop)
        else:
            coroloop.add_loop_watcher(self._record)
            self._watching = True
        return self

    def _record(self, loop) -> None:
        self.recorders.append(TraceRecorder(loop).start())

    def stop(self) -> None:
        """Stop every recorder this started and write the trace to the path."""
        if self._watching:
            coroloop.remove_loop_watcher(self._record)
            self._watching = False
        for recorder in self.recorders:
            recorder.stop()
        write_trace(self.path, self.recorders)

    def __enter__(self) -> "record_trace":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

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

Cost.  Recording packs one 33-byte record per event into a bytearray (no Python
object kept per event, nothing for the garbage collector); names, wait labels and
the JSON are worked out when the file is written.  The hooks are ``task_stepped``
(one call per step), ``task_spawned``, ``task_woken``, ``task_cancel_requested`` and
``ready_run_started``, all of which the loop's lean ready-queue path calls (one
clock read per step, see ``coroloop.Instrument``).  Per step the hook reads the
task's asyncio attributes directly (a method call each would cost more than the
record) and labels a wait by its future's type when every future of that type has
one label (a gather's; ``waits.constant_wait_reason``), else by ``wait_reason()``;
an exit keeps two strings, the task's name and its coroutine's.  On ``async_tree``
that is about 3 records a node (a spawn, two steps) and costs ~20% of its CPU time,
over issue 10's 15% (docs/benchmarks.md, "Trace on", says where it goes).  Each
hook catches its own errors: a failing recorder removes itself and reports through
the loop's exception handler, the program goes on, and the file says why it is
short (``otherData.errors``).
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import sys
import threading
import weakref

import coroloop

from .waits import constant_wait_reason, wait_reason

__all__ = ["TraceRecorder", "is_recording", "record_trace", "mark", "trace_events",
           "write_trace"]

# Records: one fixed-size binary record per event, appended to a bytearray in the
# order things happened -- no Python object is kept per event, so recording adds no
# work for the garbage collector and little memory (33 bytes an event):
#   code    time     time2    task   b
#   SPAWN   created  -        task   parent (0: created outside any task)
#   STEP    started  ended    task   _YIELDED: runnable again; >= 0: waiting, the
#                                    index of its (kind, target) in `labels`;
#                                    _EXITED / _CANCELLED: done (its name and its
#                                    coroutine's: the next two of `names`)
#   WAKE    time     -        task   waker (0: a callback or the scheduler)
#   CANCEL  time     -        task   canceller (0: none); message: next of `notes`
#   READY   time     -        count  -
#   MARK    time     -        task   -  (0: none); (kind, name, args): next of `notes`
# A task is its id(); the exporter gives each task a track of its own (an id that a
# later task reuses starts a new track at that task's SPAWN).  Side lists are
# appended before their record, so a failure in between loses nothing but itself.
_RECORD = struct.Struct("<BddQq")
_SPAWN, _STEP, _WAKE, _CANCEL, _READY, _MARK = range(6)
_YIELDED = -1
_EXITED = -2
_CANCELLED = -3


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
        self.records = bytearray()                 # see "Records" above
        self.labels: dict[tuple[str, str], int] = {}   # (kind, target) -> its index
        self.names: list[str] = []                 # each exited task's name and its
                                                   # coroutine's, in order
        self.notes: list = []                      # cancel messages, marks
        self.alive: list[tuple] = []               # (id, name, coroutine) at stop()
        self.error: str | None = None              # why recording stopped early
        self.started_at = loop.time()
        self.stopped_at: float | None = None
        self._installed = False
        self._stopped_size: int | None = None  # len(records) at stop()
        self._make_hooks()

    # -- the hooks (closures: no attribute lookups on the hot path) ------------------
    def _make_hooks(self) -> None:
        add = self.records.extend
        pack = _RECORD.pack
        now = self.loop.clock.time
        loop = self.loop
        labels = self.labels
        label_of = labels.get
        # Future type -> the index of the label every future of that type has (a
        # gather's, say): most waits cost one lookup, not a wait_reason() call.
        label_by_type: dict[type, int] = {}
        label_for_type = label_by_type.get
        add_name = self.names.append
        add_note = self.notes.append
        current_task = coroloop.current_task
        fail = self._fail

        def task_spawned(task):
            try:
                parent = task.spawned_by()
                add(pack(_SPAWN, now(), 0.0, id(task), 0 if parent is None else id(parent)))
            except Exception as exc:
                fail("task_spawned", exc)

        def task_stepped(task, started, ended):
            try:
                # asyncio's Task and Future attributes, read directly: a method
                # call each (waiting_on(), done(), ...) would be most of the cost.
                future = task._fut_waiter
                if future is not None:
                    label = label_for_type(type(future))
                    if label is None:
                        reason = wait_reason(task, future)
                        label = label_of(reason)
                        if label is None:
                            label = labels[reason] = len(labels)
                        if constant_wait_reason(type(future)) == reason \
                                and len(label_by_type) < 64:
                            label_by_type[type(future)] = label
                    add(pack(_STEP, started, ended, id(task), label))
                elif task._state != "PENDING":
                    # Two strings, no tuple per exit (nothing for the GC); a
                    # coroutine's name is its code's, shared by all its tasks.
                    try:
                        coroutine = task._coro.__qualname__
                    except AttributeError:  # not a coroutine (or None: an eager task's)
                        coroutine = _coroutine_name(task)
                    add_name(task.get_name())
                    add_name(coroutine)
                    add(pack(_STEP, started, ended, id(task),
                             _CANCELLED if task._state == "CANCELLED" else _EXITED))
                else:
                    add(pack(_STEP, started, ended, id(task), _YIELDED))
            except Exception as exc:
                fail("task_stepped", exc)

        def task_woken(task, future):
            try:
                waker = current_task(loop)
                add(pack(_WAKE, now(), 0.0, id(task), 0 if waker is None else id(waker)))
            except Exception as exc:
                fail("task_woken", exc)

        def task_cancel_requested(task, msg):
            try:
                canceller = current_task(loop)
                add_note(msg if msg is None or isinstance(msg, str) else repr(msg))
                add(pack(_CANCEL, now(), 0.0, id(task),
                         0 if canceller is None else id(canceller)))
            except Exception as exc:
                fail("task_cancel_requested", exc)

        def ready_run_started(count):
            try:
                add(pack(_READY, now(), 0.0, count, 0))
            except Exception as exc:
                fail("ready_run_started", exc)

        self.task_spawned = task_spawned
        self.task_stepped = task_stepped
        self.task_woken = task_woken
        self.task_cancel_requested = task_cancel_requested
        self.ready_run_started = ready_run_started

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
        self.loop.add_instrument(self)
        self._installed = True
        self._stopped_size = None
        with _active_lock:
            _active.setdefault(self.loop, []).append(self)
        return self

    def stop(self) -> None:
        """Uninstall the hooks and note the tasks still alive (names for their tracks)."""
        if not self._installed:
            return
        self._installed = False
        with _active_lock:
            recorders = _active.get(self.loop, [])
            if self in recorders:
                recorders.remove(self)
        if self in self.loop.instruments:
            self.loop.remove_instrument(self)
        self.stopped_at = self.loop.time()
        # The loop may call the hooks for the rest of this iteration (its lean
        # path reads them once per iteration): records from now on are not kept.
        self._stopped_size = len(self.records)
        if not self.loop.is_closed():
            for task in coroloop.all_tasks(self.loop):
                self.alive.append((id(task), task.get_name(), _coroutine_name(task)))

    def note(self, kind: str, name: str, task=None, args: dict | None = None) -> None:
        """Add an instant event (what ``mark()`` does for every recorder of a loop)."""
        self.notes.append((str(kind), str(name), dict(args or {})))
        self.records.extend(_RECORD.pack(_MARK, self.loop.clock.time(), 0.0,
                                         0 if task is None else id(task), 0))

    @property
    def event_count(self) -> int:
        """How many events were recorded."""
        return len(self.records) // _RECORD.size

    # -- export -------------------------------------------------------------------------
    def events(self, pid: int = 1) -> list[dict]:
        """This recording as Chrome trace events, the loop as process *pid*."""
        return [json.loads(text) for text in self.event_texts(pid)]

    def event_texts(self, pid: int = 1) -> list[str]:
        """The same events as JSON texts (what write_trace writes)."""
        return _Exporter(self, pid).run()


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
        handlers = _HANDLERS
        rec = self.rec
        self.labels = list(rec.labels)       # index -> (kind, target)
        self.names = iter(rec.names)
        self.notes = iter(rec.notes)
        size = len(rec.records) if rec._stopped_size is None else rec._stopped_size
        size -= size % _RECORD.size
        for code, t, t2, task, b in _RECORD.iter_unpack(memoryview(rec.records)[:size]):
            handlers[code](self, t, t2, task, b)
        self.finish()
        return self.render()

    # -- one method per record code --------------------------------------------------
    def on_spawn(self, t, _t2, task_id, parent_id):
        track = self.track(task_id, new=True)
        at = _ns(t)
        track.wait = ("runnable", "created", at)
        track.end = at
        if parent_id:
            self.flow(parent_id, task_id, "spawn", at)

    def on_step(self, started, ended, task_id, wait):
        track = self.track(task_id)
        start = _ns(started)
        ends = self.flow_ends.pop(task_id, ())
        for flow_id, _ in ends:  # an arrow never points back in time
            start = max(start, self.flow_start_at.get(flow_id, start) - 1)
        if track.wait is not None:
            kind, target, since = track.wait
            since = self.slot(track, since)
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
        for flow_id, name, at in self.flow_starts.pop(task_id, ()):
            at = min(max(at, start + 1), end - 1)
            self.flow_start_at[flow_id] = at
            self.out.append(("s", track, name, flow_id, at))
        track.end = end
        if wait <= _EXITED:
            outcome = "cancelled" if wait == _CANCELLED else "done"
            names = self.names
            track.name, track.coro, track.closed = next(names), next(names), True
            track.wait = None
            self.out.append(("i", track, "exit", outcome, end, None))
        elif wait == _YIELDED:
            track.wait = ("runnable", "", end)
        else:
            kind, target = self.labels[wait]
            track.wait = (kind, target, end)

    def on_wake(self, t, _t2, task_id, waker_id):
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

    def on_cancel(self, t, _t2, task_id, canceller_id):
        message = next(self.notes)
        track = self.track(task_id)
        by = self.tracks.get(canceller_id) if canceller_id else None
        self.out.append(("i", track, "cancel", by, self.slot(track, _ns(t)), {"msg": message}))

    def on_ready(self, t, _t2, count, _b):
        if count != self.ready:  # a counter needs a sample only when it changes
            self.ready = count
            self.out.append(("C", None, "ready queue", None, _ns(t), {"ready": count}))

    def on_mark(self, t, _t2, task_id, _b):
        kind, name, args = next(self.notes)
        track = self.track(task_id) if task_id else None
        at = _ns(t) if track is None else self.slot(track, _ns(t))
        self.out.append(("mark", track, kind, name, at, args))

    def flow(self, from_id: int, to_id: int, name: str, at: int) -> None:
        """An arrow from *from_id*'s current step to *to_id*'s next step."""
        self.flow_ids += 1
        self.flow_starts.setdefault(from_id, []).append((self.flow_ids, name, at))
        self.flow_ends.setdefault(to_id, []).append((self.flow_ids, name))

    def finish(self) -> None:
        """Close what is still open at stop: waits run to the end; names of live tasks."""
        rec = self.rec
        for task_id, name, coro in rec.alive:
            track = self.tracks.get(task_id)
            if track is not None and not track.closed:
                track.name, track.coro = name, coro
        stop = _ns(rec.stopped_at if rec.stopped_at is not None else rec.loop.time())
        for track in self.all_tracks:
            if track.closed or track.wait is None:
                continue
            kind, target, since = track.wait
            since = self.slot(track, since)
            end = max(stop, since + 1)
            self.out.append(("X", track, "wait", kind, since, end - since,
                             {"target": target, "unfinished": True} if target
                             else {"unfinished": True}))
            track.end = end
        # Flows whose start or end never happened (the trace stopped first) are
        # dropped: every arrow in the file has both ends.
        unpaired = {fid for starts in self.flow_starts.values() for fid, _, _ in starts}
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


_HANDLERS = (_Exporter.on_spawn, _Exporter.on_step, _Exporter.on_wake,
             _Exporter.on_cancel, _Exporter.on_ready, _Exporter.on_mark)


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

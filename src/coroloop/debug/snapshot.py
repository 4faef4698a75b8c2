"""``snapshot()``: every task of a loop, what it waits on, who awaits it, where it came from.

The single source of truth for the tools that show tasks (``ps``/``pstree``/``top``,
the monitor endpoint, the deadlock report): they all read a ``Snapshot``.

Consistency.  A snapshot is taken on the loop's thread between two steps (or inside
the step calling it), so every ``awaited_by``/``spawned_by`` id names a task of the
same snapshot or a task that is not the loop's.  From another thread, ``snapshot()``
schedules the work on the loop with ``call_soon_threadsafe`` and waits for it, at
most *timeout* seconds (a blocked loop raises ``TimeoutError`` saying so).

What comes from where: states, wait reasons (``waits.describe_wait``), stacks and
links from public introspection; creation sites, step counts, run times, wait start
times and cancel counts from the loop's ``TaskMonitor`` when one is installed
(``TaskMonitor.install(loop)``, or debug mode) — without one those fields are None
(``created_at`` falls back to the debug-mode ``_source_traceback``).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import threading
import types
from collections.abc import Sequence
from typing import Any

import coroloop

from ._tool import awaited_future, current_task_or_none, gc_paused, running_loop_or_none
from .taskmonitor import TaskMonitor, coro_name, line_at
from .waits import _FUTURE_SORTS, WaitReason, _code_kind, capture_primitive_wait, \
    capture_wait, enclosing_deadline, finish_wait, gather_children

__all__ = ["Snapshot", "TaskInfo", "awaiters_of", "snapshot", "task_state"]

#: The states of ``TaskInfo.state``.
STATES = ("running", "runnable", "waiting", "done")


def task_state(task, current) -> str:
    """"running", "runnable", "waiting" or "done" (*current*: the running task)."""
    if task.done():
        return "done"
    if task is current:
        return "running"
    future = awaited_future(task)
    if future is None or future.done():
        return "runnable"  # queued for its next step
    return "waiting"


def awaiters_of(future) -> list:
    """The tasks and futures awaiting *future*: 3.14's ``_asyncio_awaited_by`` links
    (coroloop's futures keep them on every version), else its done callbacks' owners,
    plus the parent task of a TaskGroup the future (a task) belongs to."""
    found = []
    links = getattr(future, "_asyncio_awaited_by", None)
    if links:
        found.extend(links)
    try:
        callbacks = future._callbacks or ()
    except Exception:
        callbacks = ()
    for fn, _ in callbacks:
        owner = getattr(fn, "__self__", None)
        if owner is None or owner is future:
            continue
        if not isinstance(owner, type) and coroloop.isfuture(owner):
            if owner not in found:
                found.append(owner)
            continue
        parent = getattr(owner, "_parent_task", None)  # a TaskGroup's child
        if parent is not None and parent not in found and \
                type(owner).__name__ == "TaskGroup":
            found.append(parent)
    return found


@dataclasses.dataclass(slots=True)
class TaskInfo:
    """One task in a ``Snapshot``.

    ``id`` is ``id(task)`` (stable while the task lives; the trace's ids too);
    ``state`` one of ``STATES``; ``coro`` the coroutine's qualified name;
    ``created_at``/``stack`` lists of ``(filename, lineno, function)``, innermost
    last; ``spawned_by`` the creating task's id (or None); ``awaited_by`` the ids
    of the tasks awaiting it (through a gather or a TaskGroup too); ``wait`` a
    ``WaitReason`` or None; ``steps``, ``run_time`` (loop seconds in its steps) and
    ``cancel_requests`` come from the ``TaskMonitor`` (None without one, except
    ``cancel_requests``, then ``task.cancelling()``).
    """

    id: int
    name: str
    state: str
    coro: str
    created_at: Sequence
    spawned_by: int | None
    awaited_by: list | tuple  # () until the links are filled in
    wait: WaitReason | None
    stack: Sequence
    steps: int | None
    run_time: float | None
    cancel_requests: int
    task: object = dataclasses.field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        """JSON-serializable fields (the task object itself is left out)."""
        return {"id": self.id, "name": self.name, "state": self.state, "coro": self.coro,
                "created_at": [list(entry) for entry in self.created_at],
                "spawned_by": self.spawned_by, "awaited_by": list(self.awaited_by),
                "wait": None if self.wait is None else self.wait.to_dict(),
                "stack": [list(entry) for entry in self.stack], "steps": self.steps,
                "run_time": self.run_time, "cancel_requests": self.cancel_requests}


class Snapshot:
    """Every task of a loop at one moment, and the loop's own state.

    ``time`` is the loop time it was taken at; ``tasks`` the ``TaskInfo`` list;
    ``ready``, ``timers``, ``next_deadline``, ``fds``: the scheduler's queue
    length, live timers, first deadline and watched descriptors; ``iterations``
    (since the monitor was installed, else None); ``step_running`` how long the
    step that took the snapshot had been running (0.0 between steps, None without a
    monitor); ``monitored``: whether a ``TaskMonitor`` filled the per-task counters.

    ``snapshot()`` reads on the loop's thread only what a step could change (the
    raw facts, see ``_capture``); the ``TaskInfo`` objects, their strings and frame
    names are made from them when ``tasks`` is first read, on whichever thread
    reads it.  They are the same whenever that happens: what is read then (code
    objects, creation records, a coroutine's name) does not change.
    """

    #: The loop facts, in ``to_dict()``'s order (``tasks`` aside).
    FACTS = ("time", "ready", "timers", "next_deadline", "fds", "iterations",
             "step_running", "monitored")
    __slots__ = FACTS + ("_tasks", "_raw", "_names")

    def __init__(self, time: float, tasks: list | None, ready: int | None,
                 timers: int | None, next_deadline: float | None, fds: list,
                 iterations: int | None, step_running: float | None,
                 monitored: bool) -> None:
        self.time = time
        self.ready = ready
        self.timers = timers
        self.next_deadline = next_deadline
        self.fds = fds
        self.iterations = iterations
        self.step_running = step_running
        self.monitored = monitored
        self._tasks = tasks
        self._raw: Any = None  # _capture's (facts, awaited_by) until tasks is read
        # (id(code), lineno or offset, is an offset) -> (code, (filename, lineno,
        # function)), shared by the snapshot's frame lists: thousands of tasks
        # created and waiting at the same few lines.
        self._names: dict = {}

    @property
    def tasks(self) -> list:
        """The ``TaskInfo`` of every task (made from the raw facts when first read)."""
        if self._tasks is None:
            with gc_paused():
                self._tasks = _infos(self._raw, self._names)
            self._raw = None
        return self._tasks

    @tasks.setter
    def tasks(self, value: list) -> None:
        self._tasks, self._raw = value, None

    def __repr__(self) -> str:
        count = len(self._tasks if self._tasks is not None else self._raw[0])
        return f"<Snapshot time={self.time!r} tasks={count} ready={self.ready!r}>"

    def __eq__(self, other):
        if not isinstance(other, Snapshot):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def task(self, task_id: int) -> TaskInfo | None:
        """The ``TaskInfo`` with this id, or None."""
        for info in self.tasks:
            if info.id == task_id:
                return info
        return None

    def by_name(self, name: str) -> TaskInfo | None:
        """The first ``TaskInfo`` named *name*, or None."""
        return next((info for info in self.tasks if info.name == name), None)

    def to_dict(self) -> dict:
        """The snapshot as JSON-serializable data (``json.dumps`` takes it)."""
        data = {name: getattr(self, name) for name in self.FACTS}
        data["fds"] = list(self.fds)
        data["tasks"] = [info.to_dict() for info in self.tasks]
        return data


def snapshot(loop=None, *, timeout: float = 5.0) -> Snapshot:
    """A consistent ``Snapshot`` of *loop*'s tasks (default: the running loop).

    On the loop's thread it is taken at once; from another thread it runs on the
    loop (``call_soon_threadsafe``) and this waits at most *timeout* seconds.
    """
    if loop is None:
        loop = running_loop_or_none()
        if loop is None:
            raise RuntimeError("snapshot() needs a loop: call it inside the loop "
                               "(a task or callback) or pass loop=")
    if running_loop_or_none() is loop or not loop.is_running():
        return _take(loop)
    if loop.is_closed():
        raise RuntimeError(f"snapshot(): {loop!r} is closed")
    done = threading.Event()
    outcome = []

    def take():
        try:
            outcome.append(_take(loop))
        except BaseException as exc:  # reported to the caller, not the loop
            outcome.append(exc)
        finally:
            done.set()

    loop.call_soon_threadsafe(take)
    if not done.wait(timeout):
        raise TimeoutError(f"snapshot(): {loop!r} did not get to run the snapshot within "
                           f"{timeout} s (the loop is blocked in a step or callback)")
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _take(loop) -> Snapshot:
    with gc_paused():
        return _take_now(loop)


def _take_now(loop) -> Snapshot:
    monitor = TaskMonitor.of(loop)
    now = loop.time()
    current = current_task_or_none(loop)
    included = coroloop.all_tasks(loop)
    tasks = list(included)
    if current is not None and current not in included:
        tasks.append(current)
        included.add(current)
    raw = _capture(tasks, current, included)
    try:
        facts = loop.scheduler_facts()
    except AttributeError:  # not coroloop's loop
        facts = {"ready": None, "timers": None, "next_deadline": None, "fds": []}
    step_running = None
    if monitor is not None:
        step_running = (now - monitor.last_event
                        if current is not None and monitor.last_event is not None else 0.0)
    shot = Snapshot(now, None, facts["ready"], facts["timers"], facts["next_deadline"],
                    facts["fds"], None if monitor is None else monitor.iterations,
                    step_running, monitor is not None)
    shot._raw = raw
    return shot


# What _capture keeps: one flat list for the whole snapshot (one object for the
# cyclic GC to track, where a tuple per task and per frame was ~100,000 of them: the
# young-generation collection after a snapshot walked them all, on the loop's
# thread).  Per task, in this order:
#   task, name, state, parent (or None), the loop's StepRecord (or None: its
#   creation site is read later, it is set at the spawn), the counters (steps,
#   run_time, since, cancels: the record's, or Nones and task.cancelling() without
#   one), the number n of frames of the await chain,
#   then n (code, f_lasti) pairs (outermost first; lines are worked out off the
#   loop), then the wait facts (waits.capture_wait's five, or five Nones).
# Everything a later step could change is read here (a frame's f_lasti, a queue's
# size, a lock's holder, a gather's done children...); what is read later is the
# task itself for a debug-mode traceback, code objects, creation records and tuples
# that never change (a gather's children, a captured TaskGroup's tasks).
# The awaited_by ids are a dict (task id -> waiting task ids) beside the list, its
# inverse half (who waits on a task or a gather's children) made off the loop
# from the captured waits.
_HEADER = 9  # fields before the frame count
_NO_WAIT = (None, None, None, None, None)
# The flat lists that snapshots have finished with (emptied once their TaskInfo
# objects are made), reused: a list made for each snapshot is young, and the
# collection that follows the capture -- the GC is paused during it, so one comes
# at the first allocation after -- walks its ~200,000 references on the loop's
# thread (5 ms for 10,000 tasks).  A reused list has survived collections: it is
# in an older generation, walked only by the rarer collections of that one.
_SPARE_LISTS: list = []


def _spare_list() -> list:
    try:
        return _SPARE_LISTS.pop()  # atomic: _infos may give one back on another thread
    except IndexError:
        return []


def _give_back(flat: list) -> None:
    flat.clear()
    if len(_SPARE_LISTS) < 2:
        _SPARE_LISTS.append(flat)


def _capture(tasks, current, included) -> tuple:
    """The raw facts of *tasks* (see above) and who awaits whom, on the loop's
    thread: as few operations per task as the fields allow, and as few objects
    kept (a snapshot of 10,000 tasks is a stall of the program)."""
    chain_flags, chain_kinds = _CHAIN_FLAGS, _CHAIN_KINDS
    coroutine, generator = _CoroutineType, types.GeneratorType
    sorts = _FUTURE_SORTS
    native_task = coroloop.Task
    pending = _PENDING
    no_wait = _NO_WAIT
    state_back = _HEADER - 2  # from the frame count back to the state
    awaited: dict[int, list] = {}
    behind: dict = {}  # a gather's waiting tasks, found once for all its children
    flat = _spare_list()
    append, extend = flat.append, flat.extend
    for task in tasks:  # grows while iterated (see below)
        if type(task) is native_task:
            # >>> copy native-fields
            parent = task._parent
            future = task._fut_waiter
            awaitable = task._coro
            record = task._step_record
            links = task._awaited_by
            name = task._name
            state = task._state
            # <<< copy native-fields
            done = state != pending
            # name: a str, or the task's number until get_name() formats it (done
            # off the loop, by _infos: 10,000 f-strings are a millisecond or two).
            if parent is not None and parent not in included:
                # Every spawned_by id names a task of the snapshot: a spawner that
                # finished but is still alive (not collected) joins it, as "done".
                included.add(parent)
                tasks.append(parent)
        else:  # a stdlib task on this loop
            parent = record = None
            links = getattr(task, "_asyncio_awaited_by", None)
            future = awaited_future(task)
            awaitable = task.get_coro()
            done = task.done()
            name = task.get_name()
        if links:  # explicit links: gather, TaskGroup, shield, wait
            _link_waiters(task, links, included, awaited, behind)
        if record is None:
            extend((task, name, "done" if done else None, parent,
                    None, None, None, None, task.cancelling(), 0))
        else:
            extend((task, name, "done" if done else None, parent,
                    record, record.steps, record.run_time, record.last_step_end,
                    record.cancel_requests, 0))
        if done:
            extend(no_wait)
            continue
        # The await chain, one walk with its step inlined per type: (code, f_lasti)
        # per frame; the outermost frame of a primitive's waiting function; the
        # coroutines that may hold a timeout().  Most frames have no flags.
        count_at = len(flat) - 1
        frames = 0
        primitive_frame = None
        coros = None
        while awaitable is not None:
            if type(awaitable) is coroutine:
                frame = awaitable.cr_frame
                if frame is None:
                    break
                code = frame.f_code
                flags = chain_flags.get(id(code))
                if flags is None:
                    flags = _chain_flags(code)
                if flags:
                    if flags & _MAY_HOLD_TIMEOUT:
                        if coros is None:
                            coros = [awaitable]
                        else:
                            coros.append(awaitable)
                    if flags & _WAITING and primitive_frame is None:
                        primitive_frame = frame
                awaitable = awaitable.cr_await
            elif type(awaitable) is generator:  # a future's __await__, a yield from
                code = awaitable.gi_code
                flags = chain_flags.get(id(code))
                if flags is None:
                    flags = _chain_flags(code)
                if flags & _FUTURE_AWAIT:
                    break  # the awaited future itself (see waits._CODE_KINDS)
                frame = awaitable.gi_frame
                if frame is None:
                    break
                if flags & _WAITING and primitive_frame is None:
                    primitive_frame = frame
                awaitable = awaitable.gi_yieldfrom
            else:  # another implementation's coroutine
                frame = (getattr(awaitable, "cr_frame", None)
                         or getattr(awaitable, "gi_frame", None))
                if frame is None:
                    break
                code = frame.f_code
                flags = chain_flags.get(id(code))
                if flags is None:
                    flags = _chain_flags(code)
                if flags & _WAITING and primitive_frame is None:
                    primitive_frame = frame
                awaitable = (getattr(awaitable, "cr_await", None)
                             or getattr(awaitable, "gi_yieldfrom", None))
            extend((code, frame.f_lasti))
            frames += 1
            if frames == 256:
                break
        flat[count_at] = frames
        if task is current:
            flat[count_at - state_back] = "running"
            extend(no_wait)
        elif future is None or future.done():
            flat[count_at - state_back] = "runnable"
            extend(no_wait)
        else:
            flat[count_at - state_back] = "waiting"
            sort = sorts.get(type(future))
            if sort == "sleep" and coros is None:  # the commonest waits, inline
                extend(("sleep", None, None, future.when(), None))
            elif sort == "task" and coros is None:
                extend(("task", future.get_name(), future, None, None))
            elif sort == "" and primitive_frame is not None and \
                    id(primitive_frame.f_code) in chain_kinds:  # a lock's, a queue's...
                extend(capture_primitive_wait(
                    primitive_frame, chain_kinds[id(primitive_frame.f_code)],
                    enclosing_deadline(coros) if coros else None))
            else:
                extend(capture_wait(task, future,
                                    (primitive_frame,) if primitive_frame else (),
                                    coros=coros or ()))
    return flat, awaited, included


_CoroutineType = types.CoroutineType


def _native_fields(task) -> tuple:
    """What the capture reads of a coroloop Task: the fields behind spawned_by(),
    waiting_on(), get_coro(), record_of(), the explicit awaited-by links, get_name()
    (once formatted) and done() (asyncio's _state) -- checked against those
    methods by the tests.  _capture has a copy: seven plain loads, which the
    interpreter specializes, cost a third of one attrgetter call."""
    # >>> rule native-fields
    parent = task._parent
    future = task._fut_waiter
    awaitable = task._coro
    record = task._step_record
    links = task._awaited_by
    name = task._name
    state = task._state
    # <<< rule native-fields
    return parent, future, awaitable, record, links, name, state


# asyncio's pending state (base_futures._PENDING, compared against by libraries
# too), which coroloop's futures share.
_PENDING = "PENDING"
# A frame's code, for the chain walk (from waits._code_kind, per code object; most
# codes have none): a primitive's waiting function, may hold an ``async with``
# (a timeout() scope), a future's ``__await__``.
_WAITING, _MAY_HOLD_TIMEOUT, _FUTURE_AWAIT = 1, 2, 4
# By id: a code object's hash is worked out from its contents at each call (consts,
# names, line table).  The codes are kept alive in _CHAIN_CODES, so an id in the
# table names the same code for as long as it is there: no identity check needed.
_CHAIN_FLAGS: dict = {}  # id(code) -> flags
_CHAIN_KINDS: dict = {}  # id(code) -> the wait kind, for the codes flagged _WAITING
_CHAIN_CODES: list = []


def _chain_flags(code) -> int:
    kind = _code_kind(code)
    flags = ((_WAITING if kind[0] else 0) | (_MAY_HOLD_TIMEOUT if kind[2] else 0)
             | (_FUTURE_AWAIT if kind[3] else 0))
    if len(_CHAIN_CODES) < 4096:
        _CHAIN_CODES.append(code)
        _CHAIN_FLAGS[id(code)] = flags
        if kind[0]:
            _CHAIN_KINDS[id(code)] = kind[0]
    return flags


def _link_waiters(task, links, included, awaited, behind) -> None:
    """*task*'s explicit awaited-by *links*, as ids of tasks of the snapshot
    (*behind*: the tasks behind each waiter that is not a task, found so far)."""
    ids = awaited.setdefault(id(task), [])
    for waiter in links:
        if waiter in included:
            waiting_tasks = (waiter,)
        else:
            known = behind.get(id(waiter))
            if known is None or known[0] is not waiter:
                known = behind[id(waiter)] = (waiter, _tasks_behind(waiter))
            waiting_tasks = known[1]
        for waiting in waiting_tasks:
            if waiting in included and id(waiting) not in ids:
                ids.append(id(waiting))


# Waits whose awaited tasks are found from the waiting side (before 3.14, a gather
# and a TaskGroup link no children; a stdlib task awaiting one of ours).
_INVERSE_KINDS = ("task", "gather")


def _link_children(future, task, included, awaited) -> None:
    """*task* awaits *future* (a task, or a gather's children): note it."""
    for child in gather_children(future) if not hasattr(future, "get_coro") else (future,):
        if child in included:
            ids = awaited.setdefault(id(child), [])
            if id(task) not in ids:
                ids.append(id(task))
        elif not hasattr(child, "get_coro"):
            _link_children(child, task, included, awaited)


def _infos(raw, names) -> list:
    """The ``TaskInfo`` list from _capture's facts (on any thread)."""
    flat, awaited, included = raw
    infos: list = []
    append = infos.append
    linked = awaited.setdefault  # each TaskInfo gets its list: links made later land in it
    size = len(flat)
    at = 0
    while at < size:
        (task, name, state, parent, record, steps, run_time, since, cancels,
         frames) = flat[at:at + _HEADER + 1]
        if name.__class__ is int:  # a coroloop task's number, as get_name() formats it
            # >>> copy default-name
            name = f"Task-{name}"
            # <<< copy default-name
        at += _HEADER + 1
        end = at + 2 * frames
        # (code, f_lasti) pairs: lines are worked out when the frames are read.
        pairs = ([(flat[at], flat[at + 1])] if frames == 1
                 else list(zip(flat[at:end:2], flat[at + 1:end:2])) if frames else None)
        wait = flat[end:end + 5]
        at = end + 5
        kind = wait[0]
        if kind is not None:
            # Who awaits whom, from the waiting side: a task or a gather's children
            # (whose list is fixed when the gather is made), a TaskGroup's tasks
            # (copied by the capture).
            if kind in _INVERSE_KINDS:  # the detail is the task or the gather
                _link_children(wait[2], task, included, awaited)
            elif kind == "taskgroup":
                for child in wait[2][2]:
                    _link_children(child, task, included, awaited)
            wait = finish_wait(wait, since, pairs or (), offsets=True)
        else:
            wait = None
        created = None if record is None else record.created_at  # set at the spawn
        created_at: Sequence
        if created:
            created_at = _Frames(created, names, True)  # (code, f_lasti) pairs
        else:
            source = getattr(task, "_source_traceback", None)  # debug mode's
            created_at = ([(entry[0], entry[1], entry[2]) for entry in source]
                          if source else [])
        task_id = id(task)
        append(TaskInfo(
            task_id, name, state, coro_name(task), created_at,
            None if parent is None else id(parent), linked(task_id, []), wait,
            _Frames(pairs, names, True) if pairs else [], steps, run_time, cancels, task))
    _give_back(flat)
    return infos


class _Frames(collections.abc.Sequence):
    """``(filename, lineno, function)`` entries, formatted from raw ``(code, lineno)``
    pairs when first read, each pair once per snapshot (*names* is its cache).  With
    *offsets* (a recorded creation site, a stack captured on the loop) they are
    ``(code, f_lasti)`` pairs: their lines are worked out here, off the loop."""

    __slots__ = ("raw", "_names", "_entries", "_offsets")

    def __init__(self, raw, names, offsets: bool) -> None:
        self.raw = raw
        self._names = names
        self._entries: list | None = None
        self._offsets = offsets

    def _formatted(self) -> list:
        entries = self._entries
        if entries is None:
            names = self._names
            offsets = self._offsets
            entries = []
            for code, number in self.raw:
                # By the code's id (its hash is worked out from its contents at each
                # call); the cached entry keeps the code, checked by identity.
                key = (id(code), number, offsets)
                known = names.get(key)
                if known is None or known[0] is not code:
                    line = line_at(code, number) if offsets else number
                    known = names[key] = (code, (code.co_filename, line,
                                                 getattr(code, "co_qualname", code.co_name)))
                entries.append(known[1])
            self._entries = entries
        return entries

    def __getitem__(self, index):
        if isinstance(index, slice) and self._entries is None:
            return _Frames(self.raw[index], self._names, self._offsets)  # unformatted
        return self._formatted()[index]

    def __len__(self) -> int:
        return len(self.raw)

    def __eq__(self, other):
        return list(self) == list(other)

    def __repr__(self) -> str:
        return repr(self._formatted())


def _tasks_behind(waiter, depth: int = 0) -> list:
    """The tasks behind *waiter*: itself if a task, else whoever awaits it (a gather)."""
    if hasattr(waiter, "get_coro"):
        return [waiter]
    if depth > 32:
        return []
    found = []
    for outer in awaiters_of(waiter):
        found.extend(_tasks_behind(outer, depth + 1))
    return found

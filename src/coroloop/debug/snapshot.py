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

import dataclasses
import gc
import threading

import coroloop

from ._tool import awaited_future, current_task_or_none, running_loop_or_none
from .taskmonitor import FrameList, TaskMonitor, coro_name, record_of
from .waits import WaitReason, await_chain, describe_wait

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
    created_at: list
    spawned_by: int | None
    awaited_by: list | tuple  # () until the links are filled in
    wait: WaitReason | None
    stack: list
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


@dataclasses.dataclass(slots=True)
class Snapshot:
    """Every task of a loop at one moment, and the loop's own state.

    ``time`` is the loop time it was taken at; ``ready``, ``timers``,
    ``next_deadline``, ``fds``: the scheduler's queue length, live timers, first
    deadline and watched descriptors; ``iterations`` (since the monitor was
    installed, else None); ``step_running`` how long the step that took the
    snapshot had been running (0.0 between steps, None without a monitor);
    ``monitored``: whether a ``TaskMonitor`` filled the per-task counters.
    """

    time: float
    tasks: list
    ready: int | None
    timers: int | None
    next_deadline: float | None
    fds: list
    iterations: int | None
    step_running: float | None
    monitored: bool

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
        return {"time": self.time, "ready": self.ready, "timers": self.timers,
                "next_deadline": self.next_deadline, "fds": list(self.fds),
                "iterations": self.iterations, "step_running": self.step_running,
                "monitored": self.monitored,
                "tasks": [info.to_dict() for info in self.tasks]}


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
    # Thousands of small acyclic objects: the cyclic GC would walk every live object
    # (the tasks, their frames) again and again while they are made.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _take_now(loop)
    finally:
        if collecting:
            gc.enable()


def _take_now(loop) -> Snapshot:
    monitor = TaskMonitor.of(loop)
    now = loop.time()
    current = current_task_or_none(loop)
    tasks = list(coroloop.all_tasks(loop))
    if current is not None and current not in tasks:
        tasks.append(current)
    # Every spawned_by id names a task of the snapshot: a spawner that finished but
    # is still alive (not collected) joins it as "done".
    included = set(tasks)
    for task in tasks:  # grows while iterated: spawners of spawners too
        parent = getattr(task, "spawned_by", None)
        parent = parent() if parent is not None else None
        if parent is not None and parent not in included:
            included.add(parent)
            tasks.append(parent)
    # Who awaits whom: from each waiting task's future, once (gathers and groups
    # pass their waiters on to their children).
    awaited_by: dict[int, list] = {}
    infos: list[TaskInfo] = []
    append = infos.append
    for task in tasks:
        # task_state(), with the awaited future kept
        future = None
        if task.done():
            state = "done"
        elif task is current:
            state = "running"
        else:
            future = awaited_future(task)
            if future is None or future.done():
                state, future = "runnable", None
            else:
                state = "waiting"
        record = record_of(task)
        frames = () if state == "done" else await_chain(task)
        for waiter in awaiters_of(task):
            for waiting_task in _tasks_behind(waiter):
                ids = awaited_by.setdefault(id(task), [])
                if id(waiting_task) not in ids:
                    ids.append(id(waiting_task))
        spawned_by = getattr(task, "spawned_by", None)
        parent = spawned_by() if spawned_by is not None else None
        if record is None:
            steps = run_time = since = None
            cancels = task.cancelling()
        else:
            steps, run_time, since = record.steps, record.run_time, record.wait_since
            cancels = record.cancel_requests
        append(TaskInfo(
            id(task), task.get_name(), state, coro_name(task), _created_at(task, record),
            None if parent is None else id(parent), (),
            None if future is None else describe_wait(task, future, since, frames),
            _stack(frames), steps, run_time, cancels, task))
    for info in infos:
        info.awaited_by = awaited_by.get(info.id, [])
    try:
        facts = loop.scheduler_facts()
    except AttributeError:  # not coroloop's loop
        facts = {"ready": None, "timers": None, "next_deadline": None, "fds": []}
    step_running = None
    if monitor is not None:
        step_running = (now - monitor.last_event
                        if current is not None and monitor.last_event is not None else 0.0)
    return Snapshot(time=now, tasks=infos, ready=facts["ready"], timers=facts["timers"],
                    next_deadline=facts["next_deadline"], fds=facts["fds"],
                    iterations=None if monitor is None else monitor.iterations,
                    step_running=step_running, monitored=monitor is not None)


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


def _id_or_none(task):
    return None if task is None else id(task)


def _created_at(task, record):
    if record is not None and record.created_at:
        return FrameList(record.created_at)
    source = getattr(task, "_source_traceback", None)  # debug mode's
    if source:
        return [(entry[0], entry[1], entry[2]) for entry in source]
    return ()


def _stack(frames):
    # The lines now (a frame's line moves on); the names when first read.
    return FrameList([(frame.f_code, frame.f_lineno) for frame in frames])

"""What a suspended task waits on: ``WaitReason``, the ONE source of wait labels.

``describe_wait(task, future)`` turns ``task.waiting_on()`` into a ``WaitReason``
(kind, target, since, deadline, holder); ``snapshot()`` puts one in every waiting
``TaskInfo``, the trace names and colours its wait slices by its ``kind``
(``wait_reason(task, future)`` is the ``(kind, target)`` pair of it), and the
deadlock detector follows its ``holder`` links.  Every tool agrees because there is
no second copy of these rules.

How a wait is recognised, cheapest first, from public introspection only:

* by the future's type: a sleep (``SleepFuture.when()``), a task, a gather;
* by what the future is chained to: a future fed by a ``concurrent.futures.Future``
  (``run_in_executor``, ``wrap_future``) is an executor job;
* by the waiting task's await chain: the outermost frame of a primitive's waiting
  function (``Lock.acquire``, ``Queue.get``, ``StreamReader._wait_for_data``, ...)
  names the kind, and the primitive itself is that frame's ``self`` — its
  description is the target, and for a lock or semaphore the task holding it (when
  holder tracking is on, see ``coroloop._api.locks.track_holders``) is the holder;
* anything else is a plain ``future``, labelled with the program's own frame that
  awaits it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import types

import coroloop

__all__ = ["KINDS", "WaitReason", "await_chain", "describe_wait", "wait_reason"]

#: Every kind a wait may have (issue 9's wait kinds, plus "runnable": a task that
#: yielded without waiting, as ``sleep(0)`` does, and is queued to run again).
KINDS = ("sleep", "future", "task", "gather", "taskgroup", "lock", "event", "condition",
         "semaphore", "barrier", "queue_get", "queue_put", "read", "write", "executor",
         "subprocess", "runnable")


@dataclasses.dataclass(frozen=True, slots=True)
class WaitReason:
    """Why a task is suspended.

    ``kind`` is one of ``KINDS``; ``target`` a short description of what it waits
    on (the task awaited, the lock, the queue, the program line awaiting a plain
    future); ``since`` the loop time the wait began (None when the debug tools were
    not watching the loop then); ``deadline`` the loop time it ends at the latest (a
    sleep's end, an enclosing ``timeout()``), or None; ``holder`` the id of the task
    holding the lock or semaphore waited for, or None.
    """

    kind: str
    target: str
    since: float | None = None
    deadline: float | None = None
    holder: int | None = None

    def to_dict(self) -> dict:
        """The fields as a JSON-serializable dict."""
        return {"kind": self.kind, "target": self.target, "since": self.since,
                "deadline": self.deadline, "holder": self.holder}


def wait_reason(task, future) -> tuple[str, str]:
    """``(kind, target)`` of ``describe_wait(task, future)``: the trace's label.

    Never raises for an odd future: anything unknown is ``("future", ...)``.
    """
    constant = _BY_TYPE.get(type(future))
    if constant is not None:
        return constant
    kind, target, _, _ = _classify(task, future, False)
    return kind, target


def describe_wait(task, future, since=None, frames=None) -> WaitReason:
    """The ``WaitReason`` of *task* suspended on *future* (``task.waiting_on()``;
    None means runnable).  *since* is when the wait began, if known; *frames* the
    task's ``await_chain()`` if the caller has it."""
    kind, target, deadline, holder = _classify(task, future, True, frames)
    return WaitReason(kind, target, since, deadline,
                      None if holder is None else id(holder))


_GATHER = ("gather", "")
# Future types whose label is the same for every instance (filled as they are seen).
_BY_TYPE: dict[type, tuple[str, str]] = {type(None): ("runnable", "")}

# Coroutine functions of coroloop (and asyncio) that wait on a plain future for a
# known reason, by the function's qualified name.  The outermost such frame of the
# waiting task's await chain names the wait (a Barrier waits through a Condition,
# but the program waits on the barrier).
_WAITING_FUNCTIONS = {
    "Lock.acquire": "lock",
    "Lock.__aenter__": "lock",
    "Event.wait": "event",
    "Condition.wait": "condition",
    "Condition.wait_for": "condition",
    "Semaphore.acquire": "semaphore",
    "Semaphore.__aenter__": "semaphore",
    "Barrier.wait": "barrier",
    "Barrier._block": "barrier",
    "Barrier._wait": "barrier",
    "Queue.get": "queue_get",
    "Queue.put": "queue_put",
    "Queue.join": "queue_get",
    "StreamReader._wait_for_data": "read",
    "StreamWriter.drain": "write",
    "FlowControlMixin._drain_helper": "write",
    "TaskGroup.__aexit__": "taskgroup",
    "TaskGroup._aexit": "taskgroup",
    "Process.wait": "subprocess",
    "Process.communicate": "subprocess",
    "sleep": "sleep",  # asyncio's own sleep(), on a timer handle
}
# Loop methods that wait on the socket (asyncio's names).
_SOCKET_WAITS = {"sock_recv": "read", "sock_recv_into": "read", "sock_recvfrom": "read",
                 "sock_recvfrom_into": "read", "sock_accept": "read",
                 "sock_sendall": "write", "sock_sendto": "write", "sock_connect": "write"}
_EXECUTOR_FUNCTIONS = ("run_in_executor", "to_thread")
_LIBRARY_DIRS = tuple(os.path.dirname(str(module.__file__)) + os.sep
                      for module in (coroloop, asyncio))
# Kinds whose primitive may have a holding task.
_HELD = ("lock", "semaphore")


def _classify(task, future, detailed: bool, frames=None):
    """``(kind, target, deadline, holder task)``.  *detailed*: also look for the
    deadline of an enclosing timeout (the snapshot's extra cost, not the trace's)."""
    if future is None:
        return "runnable", "", None, None
    cls = type(future)
    sort = _FUTURE_SORTS.get(cls)
    if sort is None:
        sort = ("task" if isinstance(future, asyncio.Task)  # coroloop's pass (their twin)
                else "sleep" if callable(getattr(cls, "when", None))
                else "gather" if cls.__name__ == "_GatheringFuture" else "")
        if len(_FUTURE_SORTS) < 1024:
            _FUTURE_SORTS[cls] = sort
    if sort == "task":
        return "task", _task_label(future), None, None
    if sort == "sleep":  # coroloop's SleepFuture: a sleep on the timer heap
        deadline = future.when()
        return "sleep", f"until {deadline:.6f}", deadline, None
    if sort == "gather":
        if not detailed:
            # The same label for every instance: found by type from now on (bounded).
            if len(_BY_TYPE) < 64:
                _BY_TYPE[type(future)] = _GATHER
            return "gather", "", None, None
        children = getattr(future, "_children", ())
        done = sum(1 for child in children if child.done())
        return "gather", f"{len(children)} awaitables, {done} done", None, None
    if frames is None:
        frames = await_chain(task)
    deadline = _enclosing_deadline(frames) if detailed else None
    kind, target, holder = _from_frames(frames)
    if kind is None and _fed_by_thread(future):
        kind = "executor"
    if kind is None or not target:
        target = _program_line(frames) or type(future).__name__
    return (kind or "future"), target, deadline, holder


def await_chain(task) -> list:
    """The frames of *task*'s suspended await chain, outermost first (followed through
    ``cr_await``/``gi_yieldfrom``, as every implementation's coroutines have them)."""
    frames: list = []
    try:
        awaitable = task.get_coro()
        while awaitable is not None and len(frames) < 256:
            if type(awaitable) is _CoroutineType:  # the common case, without getattr
                frame = awaitable.cr_frame
                if frame is None:
                    break
                frames.append(frame)
                awaitable = awaitable.cr_await
                continue
            frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
            if frame is None:
                break
            frames.append(frame)
            awaitable = (getattr(awaitable, "cr_await", None)
                         or getattr(awaitable, "gi_yieldfrom", None))
    except Exception:
        pass
    return frames


_CoroutineType = types.CoroutineType
# future class -> "task", "sleep", "gather" or "" (anything else), learnt as seen.
_FUTURE_SORTS: dict = {}
# code object -> the wait kind its frames name, or "" (not a waiting function), and
# whether it is the program's (outside coroloop and asyncio).  Bounded; a snapshot of
# thousands of tasks asks about the same few code objects again and again.
_CODE_KINDS: dict = {}


def _code_kind(code):
    known = _CODE_KINDS.get(code)
    if known is not None:
        return known
    kind = ""
    in_library = code.co_filename.startswith(_LIBRARY_DIRS)
    if in_library:
        qualname = getattr(code, "co_qualname", code.co_name)
        kind = (_WAITING_FUNCTIONS.get(qualname) or _SOCKET_WAITS.get(code.co_name)
                or ("executor" if code.co_name in _EXECUTOR_FUNCTIONS else ""))
    known = (kind, in_library)
    if len(_CODE_KINDS) < 4096:
        _CODE_KINDS[code] = known
    return known


def _from_frames(frames):
    """``(kind, target, holder)`` from the outermost primitive frame, or Nones."""
    for frame in frames:
        kind = _code_kind(frame.f_code)[0]
        if not kind:
            continue
        primitive = frame.f_locals.get("self")
        holder = getattr(primitive, "_holder", None) if kind in _HELD else None
        if primitive is not None:
            target = _describe(primitive)
        else:
            code = frame.f_code
            target = getattr(code, "co_qualname", code.co_name)
        return kind, target, holder
    return None, "", None


def _describe(primitive) -> str:
    """A short, stable description of a primitive: its class, and a queue's size."""
    cls = type(primitive)
    known = _TYPE_NAMES.get(cls)
    if known is None:
        known = (cls.__name__, callable(getattr(cls, "qsize", None)))
        if len(_TYPE_NAMES) < 1024:
            _TYPE_NAMES[cls] = known
    name, is_queue = known
    if is_queue:
        try:
            return (f"{name} at {id(primitive):#x} (size {primitive.qsize()}"
                    f"/{primitive.maxsize or 'inf'})")
        except Exception:
            pass
    return f"{name} at {id(primitive):#x}"


_TYPE_NAMES: dict = {}


def _program_line(frames) -> str:
    """``function (file:line)`` of the program's innermost frame (outside coroloop
    and asyncio), else of the innermost frame."""
    innermost = next((frame for frame in reversed(frames)
                      if not frame.f_code.co_filename.startswith(_LIBRARY_DIRS)),
                     frames[-1] if frames else None)
    if innermost is None:
        return ""
    code = innermost.f_code
    return (f"{getattr(code, 'co_qualname', code.co_name)} "
            f"({os.path.basename(code.co_filename)}:{innermost.f_lineno})")


def _fed_by_thread(future) -> bool:
    """Is *future* chained to a concurrent.futures.Future (``wrap_future``)?"""
    try:
        callbacks = future._callbacks  # asyncio's [(fn, context)] view, on any future
    except Exception:
        return False
    for fn, _ in callbacks or ():
        if getattr(fn, "__qualname__", "").startswith(("chain_future.", "_chain_future.")):
            return True
    return False


def _enclosing_deadline(frames):
    """The earliest ``when()`` of a ``Timeout`` held in a local of the program's
    frames of the await chain (``async with timeout(5) as scope:``)."""
    deadline = None
    for frame in frames:
        if _code_kind(frame.f_code)[1] or not frame.f_code.co_nlocals:
            continue  # the library's frames hold no timeout of the program's
        for value in frame.f_locals.values():
            if type(value) in _TIMEOUT_TYPES:
                when = value.when()
                if when is not None and (deadline is None or when < deadline):
                    deadline = when
    return deadline


_TIMEOUT_TYPES = (coroloop.Timeout, asyncio.Timeout)


def _task_label(task) -> str:
    try:
        return task.get_name()
    except Exception:
        return repr(task)

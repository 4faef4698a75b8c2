"""What a suspended task waits on, as a ``(kind, target)`` label.

``wait_reason(task, future)`` is the ONE place the debugging tools turn
``task.waiting_on()`` into a label: the timeline's wait slices are named and
coloured by its ``kind``.  It derives the label from public introspection only: the
future's type (a sleep, a task, a gather) and, for a plain future, the coroutine
frames of the task that await it (a lock's ``acquire``, a queue's ``get``, ...).

Issue 9 (``coroloop.debug`` part 1) brings ``WaitReason``, which the primitives fill in
themselves; when it lands, this function returns ``(reason.kind, reason.target)`` from
it and the frame heuristics below go away.  The kinds are already issue 9's names.
"""

from __future__ import annotations

import asyncio
import os

import coroloop

__all__ = ["KINDS", "wait_reason"]

#: Every kind a label may have (issue 9's wait kinds, plus "runnable": a task that
#: yielded without waiting, as ``sleep(0)`` does, and is queued to run again).
KINDS = ("sleep", "future", "task", "gather", "taskgroup", "lock", "event", "condition",
         "semaphore", "barrier", "queue_get", "queue_put", "read", "write", "executor",
         "subprocess", "runnable")

# Coroutine functions of coroloop (and asyncio) that wait on a plain future for a
# known reason, by the function's qualified name.  The innermost such frame of the
# waiting task's await chain names the wait.
_WAITING_FUNCTIONS = {
    "Lock.acquire": "lock",
    "Event.wait": "event",
    "Condition.wait": "condition",
    "Condition.wait_for": "condition",
    "Semaphore.acquire": "semaphore",
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
}
# Loop methods that wait on the socket (asyncio's names).
_SOCKET_WAITS = {"sock_recv": "read", "sock_recv_into": "read", "sock_recvfrom": "read",
                 "sock_recvfrom_into": "read", "sock_accept": "read",
                 "sock_sendall": "write", "sock_sendto": "write", "sock_connect": "write"}
_LIBRARY_DIRS = tuple(os.path.dirname(module.__file__) + os.sep
                      for module in (coroloop, asyncio))


def wait_reason(task, future) -> tuple[str, str]:
    """``(kind, target)`` for *task* suspended on *future* (``task.waiting_on()``).

    *kind* is one of ``KINDS``; *target* a short description (the task awaited,
    the sleep's deadline, the function that waits).  Never raises for an odd
    future: anything unknown is ``("future", repr)``.
    """
    constant = _BY_TYPE.get(type(future))
    if constant is not None:
        return constant
    if future is None:
        return "runnable", ""
    if isinstance(future, asyncio.Task):  # coroloop's tasks pass too (their twin)
        return "task", future.get_name()
    when = getattr(future, "when", None)
    if callable(when):  # coroloop's SleepFuture: a sleep on the timer heap
        return "sleep", f"until {when():.6f}"
    if type(future).__name__ == "_GatheringFuture":
        # The same label for every instance: found by type from now on (bounded).
        if len(_BY_TYPE) < 64:
            _BY_TYPE[type(future)] = _GATHER
        return _GATHER
    return _reason_from_frames(task, future)


_GATHER = ("gather", "")
# Future types whose label is the same for every instance (filled as they are seen).
_BY_TYPE: dict[type, tuple[str, str]] = {}


def _reason_from_frames(task, future) -> tuple[str, str]:
    try:
        frames = task.get_stack()
    except Exception:
        frames = []
    # Where the program awaits: its innermost frame outside coroloop and asyncio.
    innermost = next((frame for frame in reversed(frames)
                      if not frame.f_code.co_filename.startswith(_LIBRARY_DIRS)),
                     frames[-1] if frames else None)
    # Outermost first: the primitive the program called names the wait (a Barrier
    # waits through a Condition, but the program waits on the barrier).
    for frame in frames:
        code = frame.f_code
        qualname = getattr(code, "co_qualname", code.co_name)
        if not code.co_filename.startswith(_LIBRARY_DIRS):
            continue
        kind = _WAITING_FUNCTIONS.get(qualname)
        if kind is None:
            kind = _SOCKET_WAITS.get(code.co_name)
        if kind is None and code.co_name in ("run_in_executor", "to_thread"):
            kind = "executor"
        if kind is not None:
            return kind, qualname
    if innermost is not None:
        code = innermost.f_code
        return "future", (f"{getattr(code, 'co_qualname', code.co_name)} "
                          f"({os.path.basename(code.co_filename)}:{innermost.f_lineno})")
    return "future", type(future).__name__


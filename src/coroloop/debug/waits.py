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
import dis
import gc
import os
import types

import coroloop

from .taskmonitor import line_at as _line_at

__all__ = ["KINDS", "WaitReason", "await_chain", "capture_primitive_wait", "capture_wait",
           "coroutines_of",
           "describe_wait", "enclosing_deadline", "finish_wait", "gather_children",
           "wait_reason"]

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
    frames = await_chain(task) if _needs_frames(future) else ()
    facts = capture_wait(task, future, frames, detailed=False)
    return facts[0], _target(facts, [(frame.f_code, frame.f_lineno) for frame in frames])


def describe_wait(task, future, since=None, frames=None) -> WaitReason:
    """The ``WaitReason`` of *task* suspended on *future* (``task.waiting_on()``;
    None means runnable).  *since* is when the wait began, if known; *frames* the
    task's ``await_chain()`` if the caller has it."""
    if frames is None:
        frames = await_chain(task)
    facts = capture_wait(task, future, frames, coros=coroutines_of(task))
    return finish_wait(facts, since, [(frame.f_code, frame.f_lineno) for frame in frames])


# -- two halves: what must be read on the loop's thread, and what may wait ------------
# capture_wait() reads what a step may change (a gather's done children, a queue's
# size, a lock's holder, a timeout's deadline, the frame holding the primitive) into
# a small tuple of facts; finish_wait() turns them into the WaitReason's strings,
# later and on any thread (snapshot() does that lazily, the endpoint off the loop).
# Facts: (kind, target or None, detail, deadline, holder task or None); a None
# target is made by finish_wait from the detail (see _target), and so is a gather's
# label, from the count of its done children (an int target).

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
_HELD = frozenset(("lock", "semaphore"))


def _needs_frames(future) -> bool:
    """Whether capture_wait() reads the await chain for *future* (not for a task,
    a sleep or a gather)."""
    return _sort_of(future) == ""


def _sort_of(future) -> str:
    """"task", "sleep", "gather" or "" (anything else), learnt per class."""
    cls = type(future)
    sort = _FUTURE_SORTS.get(cls)
    if sort is None:
        sort = ("task" if isinstance(future, asyncio.Task)  # coroloop's pass (their twin)
                else "sleep" if callable(getattr(cls, "when", None))
                else "gather" if cls.__name__ == "_GatheringFuture" else "")
        if len(_FUTURE_SORTS) < 1024:
            _FUTURE_SORTS[cls] = sort
    return sort


def capture_wait(task, future, frames, *, detailed: bool = True, coros=()) -> tuple:
    """The facts of *task*'s wait on *future* (on the loop's thread; see above).
    *frames*: its ``await_chain()``; *coros*: the coroutines of that chain, searched
    for an enclosing ``timeout()`` when *detailed*."""
    if future is None:
        return ("runnable", "", None, None, None)
    sort = _FUTURE_SORTS.get(type(future))
    if sort is None:
        sort = _sort_of(future)
    if sort == "task":  # the detail: the task awaited (snapshot() links it)
        return ("task", _task_label(future), future, None, None)
    if sort == "sleep":  # coroloop's SleepFuture: a sleep on the timer heap
        return ("sleep", None, None, future.when(), None)
    if sort == "gather":
        if not detailed:
            # The same label for every instance: found by type from now on (bounded).
            if len(_BY_TYPE) < 64:
                _BY_TYPE[type(future)] = _GATHER
            return ("gather", "", None, None, None)
        done = 0  # what a step may change; the label is made by _target
        for child in gather_children(future):
            if child.done():
                done += 1
        return ("gather", done, future, None, None)
    deadline = enclosing_deadline(coros) if detailed and coros else None
    kind, target, holder, primitive = _from_frames(frames)
    if kind is None and _fed_by_thread(future):
        kind = "executor"
    if kind is None or not (target or primitive is not None):
        return ((kind or "future"), None, type(future).__name__, deadline, holder)
    return _primitive_facts(kind, target, holder, primitive, deadline)


def capture_primitive_wait(frame, kind: str, deadline) -> tuple:
    """capture_wait()'s facts for a wait on a plain future inside *frame*, the
    outermost frame of the await chain that is a primitive's waiting function,
    whose wait *kind* the caller knows; *deadline*: an enclosing timeout()'s.
    (snapshot() finds that frame in its own walk of the chain.)"""
    kind, target, holder, primitive = _frame_primitive(frame, kind)
    return _primitive_facts(kind, target, holder, primitive, deadline)


def _primitive_facts(kind, target, holder, primitive, deadline) -> tuple:
    if primitive is None:
        return (kind, target, None, deadline, holder)
    # The primitive, and what of it may change: a queue's size; a group's tasks
    # (awaited by this one).
    size = None
    if _type_facts(primitive)[1]:
        try:
            size = (primitive.qsize(), primitive.maxsize)
        except Exception:
            pass
    children = (tuple(getattr(primitive, "_tasks", None) or ()) if kind == "taskgroup"
                else ())
    return (kind, None, (primitive, size, children), deadline, holder)


def gather_children(future) -> tuple:
    """The children of a gather's future (coroloop's or asyncio's), else ()."""
    return getattr(future, "_children", None) or ()


def finish_wait(facts, since, pairs, *, offsets: bool = False) -> WaitReason:
    """The ``WaitReason`` from capture_wait()'s *facts*; *pairs*: the await chain as
    ``(code, lineno)``, outermost first (``(code, f_lasti)`` with *offsets*)."""
    kind, _, _, deadline, holder = facts
    return WaitReason(kind, _target(facts, pairs, offsets), since, deadline,
                      None if holder is None else id(holder))


def _target(facts, pairs, offsets: bool = False) -> str:
    """The target of *facts*; *pairs*: the await chain as ``(code, lineno)`` (or
    ``(code, f_lasti)`` with *offsets*)."""
    kind, target, detail, deadline, _ = facts
    if target is not None:
        if target.__class__ is int:  # a gather's done children (its list is fixed)
            return f"{len(gather_children(detail))} awaitables, {target} done"
        return target
    if kind == "sleep":
        return f"until {deadline:.6f}"
    if type(detail) is tuple:
        return _describe(detail[0], detail[1])
    return _program_line(pairs, offsets) or detail


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


def coroutines_of(task) -> list:
    """The coroutines of *task*'s await chain, outermost first."""
    coros: list = []
    awaitable = task.get_coro()
    while type(awaitable) is _CoroutineType and len(coros) < 256:
        coros.append(awaitable)
        awaitable = awaitable.cr_await
    return coros


_CoroutineType = types.CoroutineType
# future class -> "task", "sleep", "gather" or "" (anything else), learnt as seen.
_FUTURE_SORTS: dict = {}
# id(code object) -> (the code, (the wait kind its frames name, or "" (not a waiting function),
# whether it is the library's (coroloop's or asyncio's), whether it may hold an
# ``async with`` scope, whether it is a future's ``__await__``: the protocol's own
# frame, where a snapshot's stack ends as it does at a stdlib future, which has no
# frame)).  Bounded; a snapshot of
# thousands of tasks asks about the same few code objects again and again.
_CODE_KINDS: dict = {}


def _code_kind(code):
    entry = _CODE_KINDS.get(id(code))
    if entry is not None and entry[0] is code:
        return entry[1]
    kind = ""
    in_library = code.co_filename.startswith(_LIBRARY_DIRS)
    if in_library:
        qualname = getattr(code, "co_qualname", code.co_name)
        kind = (_WAITING_FUNCTIONS.get(qualname) or _SOCKET_WAITS.get(code.co_name)
                or ("executor" if code.co_name in _EXECUTOR_FUNCTIONS else ""))
    raw = code.co_code
    known = (kind, in_library, any(bytes((op,)) in raw for op in _ASYNC_WITH_OPS),
             in_library and code.co_name == "__await__")
    if len(_CODE_KINDS) < 4096:
        # By id: a code object's hash is worked out from its contents at each call
        # (consts, names, line table); the entry keeps the code, so its id is not
        # reused while it is in the table.
        _CODE_KINDS[id(code)] = (code, known)
    return known


def _from_frames(frames):
    """``(kind, target, holder, primitive)`` from the outermost primitive frame:
    the primitive is the frame's ``self`` (the target is then None), else the
    target is the function's name; Nones when no frame is a primitive's."""
    for frame in frames:
        kind = _code_kind(frame.f_code)[0]
        if kind:
            return _frame_primitive(frame, kind)
    return None, "", None, None


def _frame_primitive(frame, kind: str) -> tuple:
    """_from_frames()'s answer for *frame*, a primitive's waiting function of *kind*."""
    primitive = frame.f_locals.get("self")
    holder = getattr(primitive, "_holder", None) if kind in _HELD else None
    if primitive is not None:
        return kind, None, holder, primitive
    code = frame.f_code
    return kind, getattr(code, "co_qualname", code.co_name), holder, None


def _type_facts(primitive) -> tuple:
    """``(class name, is a queue)`` of *primitive*'s class, learnt as seen."""
    cls = type(primitive)
    known = _TYPE_NAMES.get(cls)
    if known is None:
        known = (cls.__name__, callable(getattr(cls, "qsize", None)))
        if len(_TYPE_NAMES) < 1024:
            _TYPE_NAMES[cls] = known
    return known


def _describe(primitive, size) -> str:
    """A short, stable description of a primitive: its class, and a queue's *size*
    (``(qsize, maxsize)`` as it was, or None)."""
    name = _type_facts(primitive)[0]
    if size is not None:
        return f"{name} at {id(primitive):#x} (size {size[0]}/{size[1] or 'inf'})"
    return f"{name} at {id(primitive):#x}"


_TYPE_NAMES: dict = {}


def _program_line(pairs, offsets: bool = False) -> str:
    """``function (file:line)`` of the program's innermost frame (outside coroloop
    and asyncio), else of the innermost frame; *pairs* are ``(code, lineno)`` (or
    ``(code, f_lasti)`` with *offsets*)."""
    innermost = next((pair for pair in reversed(pairs)
                      if not _code_kind(pair[0])[1]), pairs[-1] if pairs else None)
    if innermost is None:
        return ""
    code, lineno = innermost
    if offsets:
        lineno = _line_at(code, lineno)
    return (f"{getattr(code, 'co_qualname', code.co_name)} "
            f"({os.path.basename(code.co_filename)}:{lineno})")


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


def enclosing_deadline(coros):
    """The earliest ``when()`` of the ``Timeout`` scopes the coroutines *coros* are
    inside (``async with timeout(5):``, bound to a name or not), or None.

    A scope is found among what the coroutine's frame holds, locals and value stack
    alike, which is what ``gc.get_referents()`` of a suspended coroutine lists: an
    ``async with`` keeps its exit method (its ``__self__`` the scope; from 3.14 the
    scope itself) on the stack until the block ends.  Only coroutines whose code has
    an ``async with`` are looked at (known per code object), which is few.
    """
    deadline = None
    for coro in coros:
        code = getattr(coro, "cr_code", None)
        if code is None or not _code_kind(code)[2]:
            continue
        referents = _referents(coro)
        if _SCOPE_HOLDERS.isdisjoint(map(type, referents)):
            continue  # neither a scope nor a bound method (a scope's exit): in C
        for held in referents:
            cls = type(held)
            if cls is _MethodType:
                held = held.__self__
                cls = type(held)
            if cls in _TIMEOUT_TYPES:
                when = held.when()
                if when is not None and (deadline is None or when < deadline):
                    deadline = when
    return deadline


_referents = gc.get_referents
_MethodType = types.MethodType
# The instruction an ``async with`` begins with (3.14 has LOAD_SPECIAL instead, which
# a plain ``with`` uses too: a few more coroutines are looked at there).
_ASYNC_WITH_OPS = bytes(op for op in (dis.opmap.get("BEFORE_ASYNC_WITH"),
                                      dis.opmap.get("LOAD_SPECIAL")) if op is not None)
_TIMEOUT_TYPES = frozenset((coroloop.Timeout, asyncio.Timeout))  # looked up by hash
_SCOPE_HOLDERS = _TIMEOUT_TYPES | {_MethodType}


def _task_label(task) -> str:
    try:
        return task.get_name()
    except Exception:
        return repr(task)


# -- for the trace recorder (debug/trace.py) -------------------------------------------
# The recorder labels every waiting step; by future type it can skip wait_reason()
# for the types whose label never varies, once this says so.

def constant_wait_reason(future_type: type) -> tuple[str, str] | None:
    """The ``wait_reason`` shared by every future of *future_type* (a gather's), if
    the type is one and ``wait_reason`` has met it; else None."""
    return _BY_TYPE.get(future_type)

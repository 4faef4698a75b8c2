"""Combinators: run several awaitables together or bound one in time.

    gather(*aws, return_exceptions=False)   results in argument order
    wait(fs, timeout=None, return_when=...)  (done, pending) sets
    wait_for(aw, timeout)                    one awaitable, with a deadline
    as_completed(aws, timeout=None)          in completion order (plain and async iterator)
    shield(aw)                               protect an awaitable from the caller's cancellation

Built on the core's public API only (Future, ensure_future, add_done_callback,
create_future, call_later) plus ``timeouts``.  Every future accepted here may be
coroloop's or the standard library's.

Each version's asyncio, with these deliberate differences:

* ``wait_for`` is the running version's: from 3.12 on, ``async with
  timeout(...)`` around the awaitable, which runs in the caller's task (and
  inherits coroloop's Timeout handling of the deadline-versus-completion race: a
  result that arrives in the same iteration as the deadline is returned, not
  discarded, CPython #81917, #86296); on 3.11 the awaitable runs in a task of its
  own that the caller waits for, with a timer (gate WAIT_FOR_USES_TIMEOUT),
  including 3.11's race: a cancel() of the caller that arrives as the operation
  finishes is lost, the operation's outcome wins (#86296).  From 3.12 on a
  cancel() of the caller is never lost: it raises CancelledError also when the
  inner *task* suppresses that cancellation and returns a value (asyncio 3.12+
  returns the value); the value stays in the task.
* ``as_completed`` returns an object that is both a plain iterator (of
  coroutines, as in every version) and an async iterator yielding the original
  futures (as in 3.13), on every version.  An iteration that is cancelled gives
  its turn, and any future already handed to it, back to the next one.
* ``wait`` refuses an empty iterable after reading it (an empty generator would
  otherwise wait forever).
"""

from __future__ import annotations

import asyncio.futures as _asyncio_futures
import concurrent.futures
import contextvars
import types
from collections import deque
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from asyncio import exceptions as _exc

from .. import _bridge
from .._core.coroutines import iscoroutine
from .._core.futures import FINISHED, PENDING, Future, asyncio_twin, future_loop, isfuture
from .._core.typed import Generic
from .._core.tasks import Task as _Task, ensure_future, new_child_task as _new_child_task
from . import timeouts

if TYPE_CHECKING:
    from collections.abc import Awaitable, Coroutine, Iterable
    from typing import Self

__all__ = ["FIRST_COMPLETED", "FIRST_EXCEPTION", "ALL_COMPLETED",
           "gather", "wait", "wait_for", "as_completed", "shield"]

# The same objects as asyncio's (and concurrent.futures'), so either spelling works.
FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED = (
    concurrent.futures.FIRST_COMPLETED, concurrent.futures.FIRST_EXCEPTION,
    concurrent.futures.ALL_COMPLETED)

CancelledError = _exc.CancelledError
_CoroutineType = types.CoroutineType
_DONE_CHILDREN_AT_ONCE = _bridge.GATHER_TAKES_DONE_CHILDREN_AT_ONCE
_SHIELD_MARKS_RETRIEVED = _bridge.SHIELD_MARKS_ABANDONED_OUTCOME_RETRIEVED
_LINK_AWAITED_BY = _bridge.AWAITED_BY_LINKS
_copy_context = contextvars.copy_context

# Type variables of the signatures, which follow typeshed's for asyncio.
_T = TypeVar("_T")
_T1 = TypeVar("_T1")
_T2 = TypeVar("_T2")
_T3 = TypeVar("_T3")
_T4 = TypeVar("_T4")
_T5 = TypeVar("_T5")
_FT = TypeVar("_FT", bound="Future[Any]")


# ==================================================================================
# gather
# ==================================================================================

class _GatheringFuture(Future):
    """The future gather() returns.

    Cancelling it cancels the children rather than itself, like Task.cancel(): it
    ends when they do.  It is also the children's done callback (``_child_done``,
    bound once per gather), so a gather costs no closure per child.
    """

    __slots__ = ("_children", "_unfinished", "_return_exceptions", "_cancel_requested")
    __class__ = asyncio_twin(__module__, __qualname__, _asyncio_futures.Future)

    def __init__(self, children, unfinished, return_exceptions, loop):
        Future.__init__(self, loop=loop)
        self._children = children                  # one entry per argument (dupes repeat)
        self._unfinished = unfinished               # distinct children not done yet
        self._return_exceptions = return_exceptions
        # Set when cancel() reached a child: we then end with CancelledError even if
        # the children swallowed it or return_exceptions collected it (bpo-32684).
        self._cancel_requested = False

    def cancel(self, msg=None) -> bool:
        if self.done():
            return False
        cancelled_any = False
        for child in self._children:
            if child.cancel(msg=msg):
                cancelled_any = True
        if cancelled_any:
            self._cancel_requested = True
        return cancelled_any

    # 3.14+: each pending child is "awaited by" the task that called gather() (for
    # capture_call_graph), until it is done or gather() has failed without it.
    _waiter_task = None

    def _link_child(self, child) -> None:
        task = self._waiter_task
        if task is None:
            task = self._waiter_task = _bridge.current_task_or_none(self._loop) or False
        if task:
            _bridge.future_add_to_awaited_by(child, task)

    def _unlink_children(self) -> None:
        if self._waiter_task:
            for child in self._children:
                _bridge.future_discard_from_awaited_by(child, self._waiter_task)

    def set_exception(self, exception) -> None:
        Future.set_exception(self, exception)
        if self._waiter_task:
            self._unlink_children()  # the children outliving us lose the edge

    def _child_done(self, child) -> None:
        # A hot path (once per child): no method call on a task of ours when all is well.
        if self._waiter_task:
            _bridge.future_discard_from_awaited_by(child, self._waiter_task)
        self._unfinished -= 1
        if self._state is not PENDING:  # done(), without the call
            if not child.cancelled():
                child.exception()   # we failed early; don't report it as unretrieved
            return
        if not self._return_exceptions:
            if type(child) is _Task and child._state is FINISHED and child._exception is None:
                exc = None  # a task of ours with a result: exception(), without the call
            else:
                try:
                    exc = child.exception()
                except CancelledError as cancelled:
                    # A cancelled child surfaces as CancelledError; gather itself is
                    # not marked cancelled (the other children go on).
                    self.set_exception(cancelled)
                    return
            if exc is not None:
                self.set_exception(exc)
                return
            if self._unfinished == 0:
                if self._cancel_requested:
                    # Cancelled through us, but the children swallowed it.
                    self.set_exception(_last_child_cancelled_error(self._children))
                else:
                    # Every child succeeded (a failure would have ended us above):
                    # our own tasks' results are read without the call.
                    self.set_result([child._result if type(child) is _Task else child.result()
                                     for child in self._children])
            return
        if self._unfinished == 0:
            self._finish_collecting()

    def _finish_collecting(self) -> None:
        """All children are done and return_exceptions is set: results and errors."""
        results = []
        for child in self._children:
            if child.cancelled():
                # As asyncio: a new CancelledError carrying the child's cancel
                # message ('' if none), not the one the child raised.
                msg = getattr(child, "_cancel_message", None)
                outcome = CancelledError("" if msg is None else msg)
            else:
                outcome = child.exception()
                if outcome is None:
                    outcome = child.result()
            results.append(outcome)
        if self._cancel_requested:
            # Cancelled through us: propagate that, whatever the children did.
            self.set_exception(_last_child_cancelled_error(self._children))
        else:
            self.set_result(results)


def _last_child_cancelled_error(children) -> CancelledError:
    """The CancelledError a gather cancelled through itself ends with.

    asyncio takes it from the *last* child (``_make_cancelled_error()``): the
    error that child was cancelled with, or one carrying its cancel message, or
    a plain CancelledError if it was not cancelled at all.
    """
    make = getattr(children[-1], "_make_cancelled_error", None)
    return make() if make is not None else CancelledError()


# As typeshed's gather(): with return_exceptions=False the tuple holds the results, with
# a bool also exceptions; a call matching both groups takes the first (hence the ignores).
@overload
def gather(aw1: Awaitable[_T1], /, *,  # type: ignore[overload-overlap]
           return_exceptions: Literal[False] = False) -> Future[tuple[_T1]]: ...
@overload
def gather(aw1: Awaitable[_T1], aw2: Awaitable[_T2], /, *,  # type: ignore[overload-overlap]
           return_exceptions: Literal[False] = False) -> Future[tuple[_T1, _T2]]: ...
@overload
def gather(aw1: Awaitable[_T1], aw2: Awaitable[_T2], aw3: Awaitable[_T3], /, *,  # type: ignore[overload-overlap]
           return_exceptions: Literal[False] = False) -> Future[tuple[_T1, _T2, _T3]]: ...
@overload
def gather(aw1: Awaitable[_T1], aw2: Awaitable[_T2], aw3: Awaitable[_T3],  # type: ignore[overload-overlap]
           aw4: Awaitable[_T4], /, *, return_exceptions: Literal[False] = False,
           ) -> Future[tuple[_T1, _T2, _T3, _T4]]: ...
@overload
def gather(aw1: Awaitable[_T1], aw2: Awaitable[_T2], aw3: Awaitable[_T3],  # type: ignore[overload-overlap]
           aw4: Awaitable[_T4], aw5: Awaitable[_T5], /, *,
           return_exceptions: Literal[False] = False,
           ) -> Future[tuple[_T1, _T2, _T3, _T4, _T5]]: ...
@overload
def gather(*coros_or_futures: Awaitable[_T],  # type: ignore[overload-overlap]
           return_exceptions: Literal[False] = False) -> Future[list[_T]]: ...
@overload
def gather(aw1: Awaitable[_T1], /, *,
           return_exceptions: bool) -> Future[tuple[_T1 | BaseException]]: ...
@overload
def gather(aw1: Awaitable[_T1], aw2: Awaitable[_T2], /, *, return_exceptions: bool,
           ) -> Future[tuple[_T1 | BaseException, _T2 | BaseException]]: ...
@overload
def gather(aw1: Awaitable[_T1], aw2: Awaitable[_T2], aw3: Awaitable[_T3], /, *,
           return_exceptions: bool) -> Future[
               tuple[_T1 | BaseException, _T2 | BaseException, _T3 | BaseException]]: ...
@overload
def gather(*coros_or_futures: Awaitable[_T],
           return_exceptions: bool) -> Future[list[_T | BaseException]]: ...
def gather(*coros_or_futures: Any, return_exceptions: bool = False) -> Any:
    """Run the awaitables concurrently; a future of their results in argument order.

    With ``return_exceptions=False`` the first exception (or a child's
    cancellation, as CancelledError) is propagated at once and the other children
    keep running; with True, exceptions are collected in the result list.
    Cancelling the returned future cancels every child that is not done.
    """
    if not coros_or_futures:
        nothing = _bridge.get_event_loop().create_future()
        nothing.set_result([])
        return nothing

    loop = None
    outer = None
    children: list[Any] = []  # filled in as we go: the outer future holds this list
    seen: dict[Any, Any] = {}
    context = None
    finished = None
    try:
        for arg in coros_or_futures:
            fut: Any = seen.get(arg)
            if fut is None and type(arg) is _CoroutineType and context is not None:
                # The common case after the first pending child: a task of the plain
                # loop, built with our done-callback entry (None: another loop).
                fut = _new_child_task(loop, arg, None, entry)
                if fut is not None:
                    fut._log_destroy_pending = False  # (as below)
                    seen[arg] = fut
                    if _LINK_AWAITED_BY and outer is not None:  # (it is: made before context)
                        outer._link_child(fut)
                    children.append(fut)
                    continue
            if fut is None:
                if type(arg) is _CoroutineType:
                    # The common case, without ensure_future()'s generic checks.
                    if loop is None:
                        loop = _bridge.get_event_loop()
                    try:
                        fut = loop.create_task(arg)
                    except RuntimeError:
                        arg.close()
                        raise
                else:
                    fut = ensure_future(arg, loop=loop)
                    if loop is None:
                        loop = future_loop(fut)
                if fut is not arg:
                    # Nobody else holds this task: don't warn if it is destroyed pending.
                    fut._log_destroy_pending = False
                seen[arg] = fut
                if outer is None:
                    outer = _GatheringFuture(children, 0, return_exceptions, loop)
                    on_done = outer._child_done
                # A child done already: 3.12+ takes it into account at once.  So do
                # we on 3.11 for a task we made that finished eagerly (eager tasks
                # are 3.12's, and come with that), but not for one done before.
                if fut.done() and (_DONE_CHILDREN_AT_ONCE or fut is not arg):
                    if finished is None:
                        finished = []
                    finished.append(fut)
                else:
                    # Registered child by child, as asyncio does: for a child that
                    # is done already (3.11) the callback is queued now, before the
                    # first steps of the children created after it.
                    if context is None:
                        # One context for all children: the callback reads no variables.
                        context = _copy_context()
                        entry = (on_done, context)
                    if type(fut) is _Task and fut is not arg:
                        fut._add_entry(entry)  # a task we made, pending: one shared tuple
                    else:
                        fut.add_done_callback(on_done, context=context)
                    if _LINK_AWAITED_BY:
                        outer._link_child(fut)
            children.append(fut)
        if outer is not None:
            outer._unfinished = len(seen)
    except BaseException:
        if outer is not None:
            # Children registered so far report to a future nobody will see:
            # make it done, so they only mark their outcomes retrieved.
            Future.cancel(outer)
        raise
    if finished is not None:
        # Children that are done already (eager tasks, finished futures): account
        # for them now rather than an iteration later.
        for fut in finished:
            on_done(fut)
    return outer


# ==================================================================================
# shield
# ==================================================================================

def shield(arg: Awaitable[_T]) -> Future[_T]:
    """A future following *arg* that, when cancelled, leaves *arg* running.

    ``await shield(aw)`` raises CancelledError if the caller is cancelled, but
    the operation behind *aw* goes on.  Keep a reference to the task you shield.
    """
    operation = ensure_future(arg)
    if operation.done():
        return operation      # nothing left to protect
    link = _ShieldLink(operation, future_loop(operation).create_future())
    operation.add_done_callback(link.inner_done)
    link.outer.add_done_callback(link.outer_done)
    if _LINK_AWAITED_BY:  # 3.14+: the operation is awaited by the shielding task
        link.task = _bridge.current_task_or_none(future_loop(operation))
        if link.task is not None:
            _bridge.future_add_to_awaited_by(operation, link.task)
    return link.outer


class _ShieldLink:
    """Copies the inner outcome to the outer future, unless the outer was cancelled."""

    __slots__ = ("inner", "outer", "task")

    def __init__(self, inner, outer):
        self.inner = inner
        self.outer = outer
        self.task = None  # the shielding task, linked as the inner's awaiter (3.14+)

    def _unlink(self) -> None:
        if self.task is not None:
            _bridge.future_discard_from_awaited_by(self.inner, self.task)
            self.task = None

    def inner_done(self, inner) -> None:
        self._unlink()
        outer = self.outer
        if outer.cancelled():
            # The caller went away: before 3.14 nobody is told of the outcome.
            if _SHIELD_MARKS_RETRIEVED and not inner.cancelled():
                inner.exception()   # mark it retrieved
        elif inner.cancelled():
            outer.cancel()
        elif (error := inner.exception()) is not None:
            outer.set_exception(error)
        else:
            outer.set_result(inner.result())

    def outer_done(self, outer) -> None:
        if not self.inner.done():
            # Outer cancelled: the inner operation goes on alone.
            self.inner.remove_done_callback(self.inner_done)
            self._unlink()


# ==================================================================================
# wait
# ==================================================================================

async def wait(fs: Iterable[_FT], *, timeout: float | None = None,
               return_when: str = ALL_COMPLETED) -> tuple[set[_FT], set[_FT]]:
    """Wait for futures/tasks in *fs*; returns ``(done, pending)`` sets.

    Never raises TimeoutError: what is not done by *timeout* is in ``pending``.
    """
    if isfuture(fs) or iscoroutine(fs):
        raise TypeError(f"expect a list of futures, not {type(fs).__name__}")
    if return_when not in (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED):
        raise ValueError(f"Invalid return_when value: {return_when}")
    fs = set(fs)
    if not fs:
        # Checked after set(): an empty generator would otherwise wait forever.
        raise ValueError("Set of Tasks/Futures is empty.")
    if any(iscoroutine(f) for f in fs):
        raise TypeError("Passing coroutines is forbidden, use tasks explicitly.")
    for f in fs:
        if not isfuture(f):
            fix = f"wait() expects futures or tasks, got {f!r}; wrap awaitables with create_task()"
            if not hasattr(f, "add_done_callback"):  # what asyncio trips over
                raise AttributeError(f"{type(f).__name__!r} object has no attribute "
                                     f"'add_done_callback': {fix}")
            raise TypeError(fix)
    loop = _bridge.get_running_loop()
    return await _wait(fs, timeout, return_when, loop)


class _WaitState:
    """The bookkeeping of one wait(): counts completions, releases the waiter."""

    __slots__ = ("waiter", "remaining", "return_when", "timer", "task")

    def __init__(self, waiter, remaining, return_when):
        self.waiter = waiter
        self.remaining = remaining
        self.return_when = return_when
        self.timer = None
        self.task = None  # 3.14+: the waiting task, linked as each future's awaiter

    def link(self, futures, loop) -> None:
        """3.14+: the futures waited for are "awaited by" the waiting task."""
        self.task = _bridge.current_task_or_none(loop)
        if self.task is not None:
            for fut in futures:
                _bridge.future_add_to_awaited_by(fut, self.task)

    def unlink(self, futures) -> None:
        if self.task is not None:
            for fut in futures:
                _bridge.future_discard_from_awaited_by(fut, self.task)

    def on_done(self, fut) -> None:
        if self.task is not None:
            _bridge.future_discard_from_awaited_by(fut, self.task)
        self.remaining -= 1
        if (self.remaining <= 0 or self.return_when is FIRST_COMPLETED
                or (self.return_when is FIRST_EXCEPTION and not fut.cancelled()
                    and fut.exception() is not None)):
            self.release()

    def release(self, *_) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.waiter.done():
            self.waiter.set_result(None)


async def _wait(fs, timeout, return_when, loop):
    # return_when is compared by identity in on_done(); normalise equal strings.
    for constant in (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED):
        if return_when == constant:
            return_when = constant
    state = _WaitState(loop.create_future(), len(fs), return_when)
    if timeout is not None:
        state.timer = loop.call_later(timeout, state.release)
    on_done = state.on_done
    for f in fs:
        f.add_done_callback(on_done)
    if _LINK_AWAITED_BY:
        state.link(fs, loop)
    try:
        await state.waiter
    finally:
        if state.timer is not None:
            state.timer.cancel()
        for f in fs:
            f.remove_done_callback(on_done)
        state.unlink(fs)
    done, pending = set(), set()
    for f in fs:
        (done if f.done() else pending).add(f)
    return done, pending


async def _cancel_and_wait(fut) -> None:
    """Cancel *fut* and wait until it is done, staying cancellable ourselves."""
    loop = _bridge.get_running_loop()
    state = _WaitState(loop.create_future(), 1, ALL_COMPLETED)
    fut.add_done_callback(state.release)
    if _LINK_AWAITED_BY:
        state.link((fut,), loop)  # awaiting our waiter leaves no edge on fut
    fut.cancel()
    try:
        # We wait on our own future, not on fut: if *we* are cancelled meanwhile,
        # awaiting fut would cancel it a second time.
        await state.waiter
    finally:
        fut.remove_done_callback(state.release)
        state.unlink((fut,))


# ==================================================================================
# wait_for
# ==================================================================================

async def wait_for(fut: Awaitable[_T], timeout: float | None) -> _T:
    """Await *fut* (a coroutine, future or awaitable) for at most *timeout* seconds.

    On timeout the operation is cancelled, waited for, and TimeoutError raised.
    From 3.12 on a coroutine runs in the calling task; on 3.11 in a task of its
    own.  If the operation suppresses the cancellation and returns a value, that
    value is returned.  See the module docstring for how races are resolved.
    """
    if not _bridge.WAIT_FOR_USES_TIMEOUT:
        return await _wait_for_in_own_task(fut, timeout)
    if timeout is not None and timeout <= 0:
        # No time at all: a coroutine is not even started, just cancelled.
        operation = ensure_future(fut)
        stopped_by_us = not operation.done()
        if stopped_by_us:
            await _cancel_and_wait(operation)
        try:
            return operation.result()
        except CancelledError as cancelled:
            if not stopped_by_us:
                raise
            # Raised here so that it is both __cause__ and __context__.
            raise TimeoutError from cancelled
    if not isfuture(fut):
        if (_bridge.WAIT_FOR_CHECKS_AWAITABLE_FIRST and timeout is not None
                and not iscoroutine(fut) and not hasattr(fut, "__await__")):
            ensure_future(fut)  # raises asyncio's TypeError for the non-awaitable
        # A coroutine or other awaitable runs inline, in our task: whatever it
        # does with a cancellation (even suppress it) is its own decision.
        async with timeouts.timeout(timeout):
            return await fut
    task = _bridge.current_task()
    requests = task.cancelling() if task is not None else 0
    async with timeouts.timeout(timeout):
        result = await fut
    if task is not None and task.cancelling() > requests:
        # Someone cancelled us while we waited, and *fut* (another task)
        # suppressed that cancellation and returned a value: don't let it swallow
        # ours.  The value stays available as fut.result().
        raise CancelledError
    return result


async def _wait_for_in_own_task(aw, timeout):
    """wait_for() as asyncio 3.11 has it: the operation is a task of its own
    (a coroutine is wrapped in one), and we wait for it or for a timer."""
    if timeout is None:
        return await aw
    loop = _bridge.get_running_loop()
    if timeout <= 0:
        operation = ensure_future(aw, loop=loop)
        if operation.done():
            return operation.result()
        await _cancel_and_wait(operation)
        try:
            return operation.result()
        except CancelledError as cancelled:
            raise TimeoutError from cancelled
    # Released by whichever comes first: the timer or the operation's completion.
    first = _WaitState(loop.create_future(), 1, FIRST_COMPLETED)
    first.timer = loop.call_later(timeout, first.release)
    operation = ensure_future(aw, loop=loop)
    operation.add_done_callback(first.release)
    try:
        await first.waiter
    except CancelledError:
        if operation.done():
            # As 3.11: the operation has just finished, and its outcome wins over
            # our cancellation, which is lost (CPython gh-86296, fixed in 3.12).
            return operation.result()
        operation.remove_done_callback(first.release)
        await _cancel_and_wait(operation)
        raise
    if operation.done():
        return operation.result()
    # Timed out: stop the operation and wait until it has stopped.
    operation.remove_done_callback(first.release)
    await _cancel_and_wait(operation)
    try:
        return operation.result()  # it may have finished (or failed) instead
    except CancelledError as cancelled:
        raise TimeoutError from cancelled


# ==================================================================================
# as_completed
# ==================================================================================

class _Finished:
    """The futures as_completed() has seen finish and not yet handed out, and the
    callers waiting for the next one: a queue whose ``get()`` gives a turn back
    when its caller is cancelled.  (Its frames read ``get`` / ``_wait_for_one`` in a
    call graph, as asyncio's, whose as_completed() waits on a Queue.)"""

    __slots__ = ("_loop", "_items", "_getters")

    def __init__(self, loop) -> None:
        self._loop = loop
        self._items: deque[Any] = deque()    # None = the timeout passed
        self._getters: deque[Any] = deque()  # futures of callers waiting

    def put(self, item, first: bool = False) -> None:
        """Hand *item* to the longest-waiting caller, or keep it (at the front if it
        is one handed back by a cancelled caller)."""
        while self._getters:
            getter = self._getters.popleft()
            if not getter.done():    # a cancelled caller passes its turn on
                getter.set_result(item)
                return
        if first:
            self._items.appendleft(item)
        else:
            self._items.append(item)

    async def get(self):
        if self._items:
            return self._items.popleft()
        getter = self._loop.create_future()
        self._getters.append(getter)
        try:
            return await getter
        except CancelledError:
            if getter.done() and not getter.cancelled():
                self.put(getter.result(), first=True)  # handed over meanwhile: back
            raise


class _AsCompleted(Generic[_T]):
    """What as_completed() returns.

    As a plain iterator it yields coroutines, each returning (or raising) the
    outcome of the next future to finish.  As an async iterator it yields the
    finished futures themselves -- the caller's own objects when futures or tasks
    were passed in.  Both raise TimeoutError once *timeout* has passed.

    Up to 3.12 as_completed() was a generator: it looked at its arguments (and
    for a loop) only when first iterated.  On those versions so does this object,
    so that errors surface where programs written for them expect.

    Each pending future is "awaited by" the task that called as_completed() (for
    capture_call_graph, as 3.14's asyncio), until it finishes or the timeout passes.
    """

    def __init__(self, aws: Any, timeout: float | None, *, lazy: bool) -> None:
        self._aws = aws
        self._timeout = timeout
        self._started = False
        if not lazy:
            self._start()

    def _start(self) -> None:
        self._started = True
        aws, self._aws = self._aws, None
        if isfuture(aws) or iscoroutine(aws):
            raise TypeError(f"expect an iterable of futures, not {type(aws).__name__}")
        loop = _bridge.get_event_loop()
        todo = {ensure_future(aw, loop=loop) for aw in set(aws)}
        self._todo = todo                # not finished yet (emptied on timeout)
        self._finished = _Finished(loop)
        self._left = len(todo)           # how many more items iteration will produce
        self._timer: Any = None
        self._waiter = _bridge.current_task_or_none(loop)
        for fut in todo:
            fut.add_done_callback(self._on_done)
            if self._waiter is not None:
                _bridge.future_add_to_awaited_by(fut, self._waiter)
        if todo and self._timeout is not None:
            self._timer = loop.call_later(self._timeout, self._on_timeout)

    def __iter__(self) -> Self:
        return self

    def __aiter__(self) -> Self:
        return self

    def __next__(self) -> Coroutine[Any, Any, _T]:
        if not self._started:
            self._start()
        if not self._left:
            raise StopIteration
        self._left -= 1
        return self._wait_for_one(resolve=True)

    async def __anext__(self) -> Future[_T]:
        if not self._started:
            self._start()
        if not self._left:
            raise StopAsyncIteration
        self._left -= 1
        return await self._wait_for_one()

    async def _wait_for_one(self, resolve: bool = False):
        try:
            fut = await self._finished.get()
        except CancelledError:
            self._left += 1   # this iteration is abandoned: give its turn back
            raise
        if fut is None:
            raise TimeoutError
        return fut.result() if resolve else fut

    def _unlink(self, fut) -> None:
        if self._waiter is not None:
            _bridge.future_discard_from_awaited_by(fut, self._waiter)

    def _on_done(self, fut) -> None:
        if not self._todo:
            return   # timed out already
        self._todo.discard(fut)
        self._unlink(fut)
        self._finished.put(fut)
        if not self._todo and self._timer is not None:
            self._timer.cancel()

    def _on_timeout(self) -> None:
        for fut in self._todo:
            fut.remove_done_callback(self._on_done)
            self._unlink(fut)
            self._finished.put(None)
        self._todo.clear()


def as_completed(fs: Iterable[Awaitable[_T]], *,
                 timeout: float | None = None) -> _AsCompleted[_T]:
    """Iterate over the awaitables in *fs* in the order they finish.

        for next_done in as_completed(aws):      # coroutines
            result = await next_done
        async for fut in as_completed(aws):      # the finished futures themselves
            result = fut.result()
    """
    if not _bridge.AS_COMPLETED_CHECKS_ARGUMENTS_AT_CALL:
        return _AsCompleted(fs, timeout, lazy=True)
    if isfuture(fs) or iscoroutine(fs) or hasattr(fs, "__await__"):
        raise TypeError(f"expects an iterable of awaitables, not {type(fs).__name__}")
    return _AsCompleted(fs, timeout, lazy=False)

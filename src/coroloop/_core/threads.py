"""Crossing threads: concurrent.futures <-> loop futures, and coroutines submitted
from other threads."""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools

from asyncio import exceptions as _exc
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from .. import _bridge
from .coroutines import iscoroutine
from .futures import future_loop, isfuture
from .tasks import ensure_future

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop
    from collections.abc import Callable, Coroutine

    from .futures import Future

_T = TypeVar("_T")
_R = TypeVar("_R")
_P = ParamSpec("_P")

__all__ = ["chain_future", "wrap_future", "run_coroutine_threadsafe", "to_thread"]


def _loop_of(fut):
    """The loop a future belongs to; None for a concurrent.futures.Future."""
    return future_loop(fut) if isfuture(fut) else None


def _as_loop_exception(exc):
    # concurrent.futures has its own CancelledError and InvalidStateError classes.
    if isinstance(exc, concurrent.futures.CancelledError):
        return _exc.CancelledError(*exc.args)
    if isinstance(exc, concurrent.futures.InvalidStateError):
        return _exc.InvalidStateError(*exc.args)
    return exc


def _copy_outcome(source, dest) -> None:
    """Make *dest* end the way the (done) *source* ended."""
    if isinstance(dest, concurrent.futures.Future):
        if source.cancelled():
            dest.cancel()
        if not dest.set_running_or_notify_cancel():
            return  # cancelled, by the source or by its owner
        exc = source.exception()
        if exc is not None:
            dest.set_exception(_as_loop_exception(exc) if isfuture(dest) else exc)
        else:
            dest.set_result(source.result())
        return
    if dest.cancelled():
        return
    if source.cancelled():
        dest.cancel()
        return
    exc = source.exception()
    if exc is not None:
        dest.set_exception(_as_loop_exception(exc))
    else:
        dest.set_result(source.result())


def chain_future(source, dest) -> None:
    """Propagate *source*'s outcome to *dest*, and *dest*'s cancellation to *source*.

    Either may be a loop future or a concurrent.futures.Future; each side is only
    touched from its own loop's thread.
    """
    for fut in (source, dest):
        if not isfuture(fut) and not isinstance(fut, concurrent.futures.Future):
            raise TypeError(f"A future is required, got {fut!r}")
    source_loop = _loop_of(source)
    dest_loop = _loop_of(dest)
    # Which loop may be touched directly from a callback: 3.14+, the loop running
    # in the callback's thread; before, the other future's loop (so cancelling a
    # concurrent future from the loop's own thread reached the task one
    # iteration later, through call_soon_threadsafe).
    by_running_loop = _bridge.CHAIN_FUTURE_CALLS_DIRECTLY_ON_RUNNING_LOOP

    def on_dest_done(_):
        if not dest.cancelled():
            return
        here = _bridge.get_running_loop_or_none() if by_running_loop else dest_loop
        if source_loop is None or source_loop is here:
            source.cancel()
        elif not source_loop.is_closed():
            source_loop.call_soon_threadsafe(source.cancel)

    def on_source_done(_):
        if dest.cancelled() and dest_loop is not None and dest_loop.is_closed():
            return
        here = _bridge.get_running_loop_or_none() if by_running_loop else source_loop
        if dest_loop is None or dest_loop is here:
            _copy_outcome(source, dest)
        elif not dest_loop.is_closed():
            dest_loop.call_soon_threadsafe(_copy_outcome, source, dest)

    dest.add_done_callback(on_dest_done)
    source.add_done_callback(on_source_done)


def wrap_future(future: concurrent.futures.Future[_T] | Future[_T], *,
                loop: AbstractEventLoop | None = None) -> Future[_T]:
    """A loop future that follows *future* (a concurrent.futures.Future)."""
    if isfuture(future):
        return future
    if not isinstance(future, concurrent.futures.Future):
        # AssertionError, as asyncio's (an assert there).
        raise AssertionError(f"concurrent.futures.Future is expected, got {future!r}")
    if loop is None:
        loop = _bridge.get_event_loop()
    new_future: Any = loop.create_future()  # a coroloop Future on coroloop's loop
    chain_future(future, new_future)
    add_waker = getattr(loop, "_add_thread_waker", None)  # coroloop's loop
    if add_waker is not None and not future.done():
        # Until it completes, a thread will wake the loop (loop.wake_sources()).  This
        # callback runs after chain_future's, which queued the completion: the loop
        # never sees neither (see wake_sources).
        add_waker(future)
        future.add_done_callback(loop._discard_thread_waker)  # type: ignore[attr-defined]  # ours
    return new_future


def run_coroutine_threadsafe(coro: Coroutine[Any, Any, _T],
                             loop: AbstractEventLoop) -> concurrent.futures.Future[_T]:
    """Run *coro* on *loop* from another thread; returns a concurrent.futures.Future."""
    if not iscoroutine(coro):
        raise TypeError(f"A coroutine object is required, got {coro!r}")
    result: concurrent.futures.Future[_T] = concurrent.futures.Future()

    def start() -> None:
        try:
            chain_future(ensure_future(coro, loop=loop), result)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            if result.set_running_or_notify_cancel():
                result.set_exception(exc)
            raise

    loop.call_soon_threadsafe(start)
    return result


async def to_thread(func: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
    """Run *func* in the default executor, with the caller's context variables."""
    loop = _bridge.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    return await loop.run_in_executor(None, call)

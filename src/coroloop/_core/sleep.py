"""sleep(): give up the processor, or wait for a while.

On coroloop's loop a sleep costs one object: a ``SleepFuture`` that sits in the
loop's timer store itself and is completed by the scheduler when due (no separate
TimerHandle, callback arguments or context).  It is also what
``task.waiting_on()`` reports for a sleeping task, with its deadline.
On any other loop, sleep() uses the public call_later() + future protocol.
"""

from __future__ import annotations

import asyncio.futures as _asyncio_futures
import math
from typing import Any, Awaitable, TypeVar, cast, overload

from .. import _bridge
from .futures import FINISHED, PENDING, Future, asyncio_twin, set_result_if_pending
from .handles import extract_source_traceback
from .loopstate import NATIVE_LOOPS

__all__ = ["sleep", "SleepFuture"]

_isnan = math.isnan
_get_running_loop = _bridge.get_running_loop
_SLEEP_REJECTS_NAN = _bridge.SLEEP_REJECTS_NAN


class SleepFuture(Future):
    """A future the loop resolves with ``value`` at loop time ``when``."""

    __slots__ = ("_when", "_cancelled", "_scheduled")
    __class__ = asyncio_twin(__module__, __qualname__, _asyncio_futures.Future)

    def __init__(self, loop, when, value):
        # Future.__init__ inlined (a hot path); only coroloop's loop creates these.
        # >>> copy future-fields (fut -> self)
        self._loop = loop
        self._state = PENDING
        self._result = None
        self._asyncio_future_blocking = False
        self._entries = None
        # <<< copy future-fields
        # The value it completes with; result() reads it only once we are done.
        self._result = value
        if loop._debug:
            self._source_traceback = extract_source_traceback(1)
        self._when = when          # loop time at which it completes
        # Timer-store bookkeeping, as for TimerHandle: _cancelled marks a dead
        # entry, _scheduled that it is still in the store (see timers.py).
        self._cancelled = False
        self._scheduled = True

    def when(self) -> float:
        return self._when

    def cancel(self, msg=None) -> bool:
        if not Future.cancel(self, msg):
            return False
        self._cancelled = True
        if self._scheduled:
            self._loop._timer_handle_cancelled(self)
        return True

    def _fire(self) -> None:
        """Called by the loop, which took us out of its timers: the deadline passed."""
        if self._state is PENDING:
            # Future.set_result, inlined (_result is set already): every sleep ends here.
            # >>> copy complete
            self._state = FINISHED
            if self._entries is not None:
                self._schedule_callbacks()
            # <<< copy complete

    def _repr_info(self):
        info = Future._repr_info(self)
        info.insert(1, f"when={self._when}")
        return info


class _YieldNow:
    """``await _YIELD_NOW``: a bare yield (the running task is re-queued behind
    everything already ready), as asyncio's ``sleep(0)`` makes.

    ``__await__`` is a C callable without ``__get__``, so ``await`` calls it with
    no arguments: each await gets a fresh iterator over ``(None,)``, which yields
    None once and then ends.  No generator and no Python frame per sleep(0).
    """
    __slots__ = ()
    __await__ = (None,).__iter__


# Typed as the awaitable it is: mypy wants a method for __await__.
_YIELD_NOW = cast("Awaitable[None]", _YieldNow())


_T = TypeVar("_T")


@overload
async def sleep(delay: float) -> None: ...
@overload
async def sleep(delay: float, result: _T) -> _T: ...
async def sleep(delay: float, result: Any = None) -> Any:
    """Suspend the current task for *delay* seconds, then return *result*."""
    if delay <= 0:
        await _YIELD_NOW
        return result
    if _SLEEP_REJECTS_NAN and _isnan(delay):
        raise ValueError("Invalid delay: NaN (not a number)")
    loop: Any = _get_running_loop()  # Any: coroloop's own loop is read directly
    if loop.__class__ in NATIVE_LOOPS:
        return await loop._sleep_future(delay, result)
    waiter = loop.create_future()
    # The waiter may be cancelled with its task before the timer fires.
    wake = loop.call_later(delay, set_result_if_pending, waiter, result)
    try:
        return await waiter
    finally:
        # A no-op once it fired; on cancellation it keeps the timer store clean.
        wake.cancel()

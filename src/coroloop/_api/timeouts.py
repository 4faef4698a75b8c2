"""timeout(), timeout_at() and Timeout: cancel a block of code at a deadline.

When the deadline passes, the task running the block is cancelled; when the
resulting CancelledError leaves the block, ``Timeout.__aexit__`` turns it into
``TimeoutError``.  Cancellation requests are counted with ``Task.cancelling()``
and ``Task.uncancel()`` (asyncio 3.11+): the block converts the error only if the
timeout's own request is the last one outstanding, so an outside cancel() that
arrives meanwhile is never swallowed, and nested timeouts each handle their own.

Difference from asyncio (a race asyncio loses): when the deadline passes in the
same loop iteration as the operation the task waits on completes, asyncio
cancels a task that has already been handed its result, and the result is
thrown away in favour of TimeoutError (a read's data, an accepted connection,
a queue item; CPython issues #86296 and #81917 discuss the wait_for variants).
coroloop's Timeout sees that the task's awaited future is already done and lets
the task take that one step first (state DUE): if the block completes in it, it
exits normally with its result; otherwise the task is cancelled at its next
suspension.  This needs ``task.waiting_on()`` (coroloop's Task); with other task
classes the timeout behaves exactly like asyncio's.
"""

from __future__ import annotations

import enum
from asyncio import exceptions as _exc
from typing import TYPE_CHECKING, Any, final

from .. import _bridge

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["Timeout", "TimeoutState", "timeout", "timeout_at"]


class TimeoutState(enum.Enum):
    """Where a Timeout is in its life; the values are what repr() shows."""

    #: Not entered yet.
    CREATED = "created"
    #: Inside the block; the deadline (if any) is armed.
    ACTIVE = "active"
    #: The deadline passed while the task held a fresh result: it takes that step
    #: before being cancelled.
    DUE = "due"
    #: The timeout cancelled the task; the block is unwinding.
    EXPIRING = "expiring"
    #: Left the block after expiring.
    EXPIRED = "expired"
    #: Left the block before the deadline.
    FINISHED = "finished"


_CREATED = TimeoutState.CREATED
_ACTIVE = TimeoutState.ACTIVE
_DUE = TimeoutState.DUE
_EXPIRING = TimeoutState.EXPIRING
_EXPIRED = TimeoutState.EXPIRED
_FINISHED = TimeoutState.FINISHED

# How many loop iterations the grace step may take before the timeout cancels the
# task regardless.  One is always enough (the task's wake-up is queued before our
# check); the bound only guards against a future type that never wakes its task.
_GRACE_ITERATIONS = 4


@final
class Timeout:
    """Async context manager that cancels its block at loop time ``when``.

    Create it with ``timeout(delay)`` or ``timeout_at(when)``.  ``when=None``
    means no deadline (one can be set later with ``reschedule()``).
    """

    def __init__(self, when: float | None) -> None:
        self._state = _CREATED
        self._when = when
        # The task running the block, its loop, and its cancelling() count on entry.
        self._task: Any = None
        self._loop: Any = None
        self._cancelling = 0
        # The armed timer (or call_soon handle) that will act next, if any.
        self._handle: Any = None
        # In state DUE: the done future the task was about to consume, and how
        # many more iterations we wait for the task to take it.
        self._grace_waiter: Any = None
        self._grace_left = 0
        # The task's waiting_on() method, None for task classes without one.
        self._waiting_on: Any = None

    # -- public API ------------------------------------------------------------------
    def when(self) -> float | None:
        """The deadline in loop time, or None for no deadline."""
        return self._when

    def expired(self) -> bool:
        """True once the timeout has cancelled its block."""
        return self._state is _EXPIRING or self._state is _EXPIRED

    def reschedule(self, when: float | None) -> None:
        """Move the deadline to loop time *when* (None: no deadline)."""
        state = self._state
        if state is not _ACTIVE and state is not _DUE:
            if state is _CREATED:
                raise RuntimeError("Timeout has not been entered; reschedule() it inside "
                                   "'async with'")
            raise RuntimeError(f"Cannot change state of {state.value} Timeout: "
                               "reschedule() works only inside its 'async with' block "
                               "before it expires")
        self._state = _ACTIVE
        self._grace_waiter = None
        self._when = when
        self._arm()

    def __repr__(self) -> str:
        if self._state is _ACTIVE or self._state is _DUE:
            when = None if self._when is None else round(self._when, 3)
            return f"<Timeout [{self._state.value}] when={when}>"
        return f"<Timeout [{self._state.value}]>"

    # -- context manager -------------------------------------------------------------
    async def __aenter__(self) -> Timeout:
        if self._state is not _CREATED:
            raise RuntimeError(f"Timeout has already been entered (it is {self._state.value});"
                               " create a new one for each block")
        task = _bridge.current_task()
        if task is None:
            raise RuntimeError("Timeout should be used inside a task")
        self._task = task
        self._loop = task.get_loop()
        self._cancelling = task.cancelling()
        self._waiting_on = getattr(task, "waiting_on", None)
        self._state = _ACTIVE
        self._arm()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc_val: BaseException | None,
                        exc_tb: TracebackType | None) -> None:
        if self._state is not _ACTIVE and self._state is not _DUE \
                and self._state is not _EXPIRING:
            raise RuntimeError(f"Timeout.__aexit__() called on a {self._state.value} "
                               "Timeout; use it with 'async with'")
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._grace_waiter = None
        state = self._state
        if state is not _EXPIRING:
            # ACTIVE, or DUE: the block finished in its grace step; not expired.
            self._state = _FINISHED
            return None
        self._state = _EXPIRED
        # Our cancel() is accounted for here; only if no other request is left is
        # the CancelledError ours to convert.
        if self._task.uncancel() <= self._cancelling and exc_type is not None:
            if issubclass(exc_type, _exc.CancelledError):
                raise TimeoutError from exc_val
            if exc_val is not None:
                # Something else escaped while unwinding from our cancellation:
                # record the timeout in its context chain (as asyncio 3.12+).
                _note_timeout(exc_val)
                if isinstance(exc_val, BaseExceptionGroup):
                    for inner in exc_val.exceptions:
                        _note_timeout(inner)
        return None

    # -- the deadline ----------------------------------------------------------------
    def _arm(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        when = self._when
        if when is None:
            return
        loop = self._loop
        if when <= loop.time():
            self._handle = loop.call_soon(self._on_deadline)
        else:
            self._handle = loop.call_at(when, self._on_deadline)

    def _on_deadline(self) -> None:
        self._handle = None
        waiter = self._pending_result()
        if waiter is not None:
            # The task was woken with a result it has not consumed yet: cancelling
            # now would throw that result away.  Let it take the step.
            self._state = _DUE
            self._grace_waiter = waiter
            self._grace_left = _GRACE_ITERATIONS
            self._handle = self._loop.call_soon(self._on_grace_over)
            return
        self._expire()

    def _on_grace_over(self) -> None:
        self._handle = None
        self._grace_left -= 1
        if self._grace_left > 0 and self._pending_result() is self._grace_waiter:
            # The task has not stepped yet (its wake-up came through a slower
            # path than ours); look again after it has.
            self._handle = self._loop.call_soon(self._on_grace_over)
            return
        self._grace_waiter = None
        self._expire()

    def _pending_result(self):
        """The future whose result the task will consume at its next step, if any.

        A cancelled one does not count: the task is getting a CancelledError
        anyway, so nothing is lost by cancelling it now.
        """
        if self._waiting_on is None:
            return None
        waiter = self._waiting_on()
        if waiter is not None and waiter.done() and not waiter.cancelled():
            return waiter
        return None

    def _expire(self) -> None:
        self._task.cancel()
        self._state = _EXPIRING


def _note_timeout(exc: BaseException) -> None:
    """Put a TimeoutError between *exc*'s chain and the CancelledError in it."""
    while exc.__context__ is not None:
        context = exc.__context__
        if isinstance(context, _exc.CancelledError):
            note = TimeoutError()
            note.__context__ = note.__cause__ = context
            exc.__context__ = note
            return
        exc = context


def timeout(delay: float | None) -> Timeout:
    """``async with timeout(delay):`` cancels the block after *delay* seconds and
    raises TimeoutError (``None``: no limit)."""
    loop = _bridge.get_running_loop()
    return Timeout(None if delay is None else loop.time() + delay)


def timeout_at(when: float | None) -> Timeout:
    """Like timeout(), with an absolute deadline in ``loop.time()`` terms."""
    return Timeout(when)

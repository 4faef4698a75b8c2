"""Synchronization primitives: Lock, Event, Condition, Semaphore, BoundedSemaphore, Barrier.

They behave like asyncio's (3.12+ semantics on every supported Python) and use only the
core's public API: the running loop (through ``coroloop._bridge``) and
``loop.create_future()`` (``futures.new_future()`` on coroloop's own loop, one call fewer:
``_LoopBound._new_waiter``).  A task blocks on a primitive by awaiting a future that sits in a
FIFO ``collections.deque`` of waiters; the primitive resolves the future to wake it.

Three rules hold for every primitive here and explain most of the code:

* **Fast path first.**  An uncontended acquire changes a counter and returns: no future, no
  deque, no loop lookup.  Waiter deques of Lock and Semaphore are created on first contention.
* **A woken waiter owns its wake-up until it runs.**  Waking a waiter only resolves its
  future; the task runs later.  Until then its future stays in the deque, done but not
  cancelled, and a newcomer that sees such an entry queues behind it instead of taking the
  lock or the permit ("no stealing", FIFO fairness).
* **A wake-up is never lost.**  If the woken task is cancelled (or anything else is thrown
  into it) before it resumes, it does not take what it was woken for, so it passes the
  wake-up on to the next waiter before re-raising.  asyncio does this for CancelledError
  only; we do it for any exception, which cannot deadlock the other waiters.

Primitives bind lazily to the loop of the first task that has to *wait* on them (like
asyncio's private ``mixins._LoopBoundMixin``); waiting from another loop raises RuntimeError.
"""

from __future__ import annotations

import collections
import enum
import threading
from asyncio import BrokenBarrierError
from asyncio.exceptions import CancelledError
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .. import _bridge
from .._bridge import get_running_loop
from .._core.futures import new_future as _new_future
from .._core.loopstate import NATIVE_LOOPS as _NATIVE_LOOPS

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self

_T = TypeVar("_T")

__all__ = [
    "Lock",
    "Event",
    "Condition",
    "Semaphore",
    "BoundedSemaphore",
    "Barrier",
    "BrokenBarrierError"]

_deque = collections.deque

# Guards the first binding of a primitive to a loop: two threads, each running its own
# loop, may race to wait on the same fresh primitive.  Taken once per primitive at most.
_binding_lock = threading.Lock()

# Holder tracking, for the debugging tools (a wait on a lock names the task holding it,
# a deadlock report shows lock cycles): off by default, so an acquire pays one global
# check for it.  When on, Lock and Semaphore keep the last task that took them in
# ``_holder`` (None when released by that task, or unknown).
_track_holders = False
_current_task = _bridge.current_task


def track_holders(enabled: bool) -> None:
    """Make Lock and Semaphore remember the task holding them (``_holder``)."""
    global _track_holders
    _track_holders = bool(enabled)


def _took(primitive) -> None:
    try:
        primitive._holder = _current_task()
    except RuntimeError:  # taken outside a running loop
        primitive._holder = None


def _gave_back(primitive) -> None:
    if primitive._holder is not None:
        try:
            current = _current_task()
        except RuntimeError:
            current = None
        if current is primitive._holder or current is None:
            primitive._holder = None


def _public_repr(obj, extra: str) -> str:
    """``<coroloop.Lock object at 0x... [extra]>``; subclasses show their own module."""
    cls = type(obj)
    module = "coroloop" if cls.__module__ == __name__ else cls.__module__
    return f"<{module}.{cls.__qualname__} object at {id(obj):#x} [{extra}]>"


def _waiters_suffix(waiters) -> str:
    return f", waiters:{len(waiters)}" if waiters else ""


class _LoopBound:
    """Binds an object to the event loop of the first task that needs to wait on it.

    ``_loop`` is None until then, and afterwards never changes.  Binding is lazy so that a
    primitive can be created outside any loop (at import time, in ``__init__`` of an object
    built before ``run()``), as asyncio allows since 3.10.
    """

    _loop = None

    def _get_loop(self):
        loop = get_running_loop()
        bound = self._loop
        if bound is None:
            with _binding_lock:
                if self._loop is None:
                    self._loop = loop
                bound = self._loop
        if bound is not loop:
            raise RuntimeError(
                f"{self!r} is bound to a different event loop: it was first waited on "
                f"in {bound!r}, and is now used in {loop!r}; create one per event loop"
            )
        return loop

    def _new_waiter(self):
        """A new future of the running loop (binding us to it) for a task to wait on."""
        loop = get_running_loop()
        if self._loop is not loop:
            self._get_loop()  # binds us on first use; raises for another loop
        if loop.__class__ in _NATIVE_LOOPS:
            return _new_future(loop)  # what loop.create_future() does, without its call
        return loop.create_future()


class _AsyncWith:
    """``async with prim:`` acquires on entry and releases on exit (binds None, as asyncio)."""

    async def __aenter__(self) -> None:
        await self.acquire()  # type: ignore[attr-defined]  # each primitive has one
        return None

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()  # type: ignore[attr-defined]

    def __init_subclass__(cls, **kwargs):
        # Lock and Semaphore inline their uncontended acquire() in __aenter__; a
        # subclass that overrides acquire() but not __aenter__ gets the generic
        # __aenter__ back, so that its acquire() runs.
        super().__init_subclass__(**kwargs)
        if "acquire" in cls.__dict__ and "__aenter__" not in cls.__dict__:
            cls.__aenter__ = _AsyncWith.__aenter__


def _none_pending(waiters) -> bool:
    """True if every waiter in *waiters* is cancelled (nobody is entitled to go first)."""
    for fut in waiters:
        if not fut.cancelled():
            return False
    return True


def _enqueue_waiter(prim):
    """Queue a new future at the back of *prim*'s waiters (a Lock's or a Semaphore's,
    whose deque is made on first contention) and return it."""
    waiters = prim._waiters
    if waiters is None:
        waiters = prim._waiters = _deque()
    fut = prim._new_waiter()
    waiters.append(fut)
    return fut


# -- Lock ----------------------------------------------------------------------------------


class Lock(_AsyncWith, _LoopBound):
    """A mutual-exclusion lock for tasks, not owned by any particular task.

    ``acquire()`` blocks until the lock is unlocked, then locks it; ``release()`` unlocks it
    and wakes the longest-waiting task.  Blocked tasks acquire the lock in FIFO order.

        async with lock:
            ...
    """

    _holder = None  # see track_holders()
    # For coroloop.debug (a layer above, which imports only the public API).
    _track_holders = staticmethod(track_holders)

    def __init__(self) -> None:
        # True while some task holds the lock.  On release() with waiters it becomes False
        # and the head waiter is woken; that waiter sets it back to True when it resumes
        # (so locked() is False in between, as in asyncio, yet nobody can jump the queue:
        # see acquire()).
        self._locked = False
        # Futures of tasks blocked in acquire(), oldest first, or None before the first
        # contention.  Each task removes its own entry when it resumes, however it resumes.
        self._waiters: Any = None  # None, or the deque _enqueue_waiter() made

    def __repr__(self) -> str:
        state = "locked" if self._locked else "unlocked"
        return _public_repr(self, state + _waiters_suffix(self._waiters))

    def locked(self) -> bool:
        """Return True if the lock is held."""
        return self._locked

    async def acquire(self) -> Literal[True]:
        """Wait until the lock is free, then take it.  Returns True."""
        waiters = self._waiters
        if not self._locked:
            # Free and nobody is queued, or every queued task has been cancelled: take it.
            # A woken-but-not-yet-resumed waiter is done and not cancelled, so it blocks this.
            if not waiters or _none_pending(waiters):
                self._locked = True
                if _track_holders:
                    _took(self)
                return True
        fut = _enqueue_waiter(self)
        try:
            await fut
        except BaseException:
            self._waiters.remove(fut)
            # We will not take the lock.  If it is free, whoever is now at the head of the
            # queue must run: the wake-up may have been meant for us.
            if not self._locked:
                self._wake_head()
            raise
        self._waiters.remove(fut)
        self._locked = True
        if _track_holders:
            _took(self)
        return True

    # `async with lock` is the common way to take a lock: do the uncontended case without
    # the extra coroutine frame of acquire().  A subclass that overrides acquire() but not
    # __aenter__ gets the generic __aenter__ (_AsyncWith.__init_subclass__).
    async def __aenter__(self) -> None:
        if not self._locked and not self._waiters:
            self._locked = True
            if _track_holders:
                _took(self)
            return None
        await self.acquire()
        return None

    def release(self) -> None:
        """Release the lock and wake the longest-waiting task, if any.

        Raises RuntimeError if the lock is not held.
        """
        if not self._locked:
            raise RuntimeError("Lock is not acquired.")
        self._locked = False
        if _track_holders:
            _gave_back(self)
        if self._waiters:
            self._wake_head()

    def _wake_head(self):
        # Only the head is ever woken.  If it is already done (woken earlier, or cancelled
        # and about to resume), its task will run and either take the lock or pass the
        # wake-up on from acquire()'s exception handler.
        waiters = self._waiters
        if waiters:
            head = waiters[0]
            if not head.done():
                head.set_result(True)


# -- Event ---------------------------------------------------------------------------------


class Event(_LoopBound):
    """A flag that tasks can wait for: ``set()`` wakes every waiter, ``clear()`` resets it."""

    def __init__(self) -> None:
        self._value = False  # the flag
        # Futures of tasks blocked in wait(); each task removes its own when it resumes.
        self._waiters: collections.deque[Any] = _deque()

    def __repr__(self) -> str:
        state = "set" if self._value else "unset"
        return _public_repr(self, state + _waiters_suffix(self._waiters))

    def is_set(self) -> bool:
        """Return True if the flag is set."""
        return self._value

    def set(self) -> None:
        """Set the flag and wake every task waiting for it."""
        if self._value:
            return
        self._value = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(True)

    def clear(self) -> None:
        """Reset the flag; later wait() calls block until set() is called again."""
        self._value = False

    async def wait(self) -> Literal[True]:
        """Return True once the flag is set (immediately if it already is)."""
        if self._value:
            return True
        waiters = self._waiters
        fut = self._new_waiter()
        waiters.append(fut)
        try:
            await fut
        finally:
            waiters.remove(fut)
        return True


# -- Condition -----------------------------------------------------------------------------


class Condition(_AsyncWith, _LoopBound):
    """A condition variable: tasks wait() until another task holding the lock notifies them.

    *lock* is a Lock (a new one if omitted) shared with other conditions as needed;
    ``acquire()``, ``release()`` and ``locked()`` are the lock's own methods.
    """

    def __init__(self, lock: Lock | None = None) -> None:
        self._lock = lock = Lock() if lock is None else lock
        # The lock's bound methods, so that `async with cond` costs what `async with lock` does.
        self.acquire, self.release, self.locked = lock.acquire, lock.release, lock.locked
        # Futures of tasks blocked in wait(), oldest first.  notify() resolves them with
        # False, oldest first; each task removes its own entry when it resumes.
        self._waiters: collections.deque[Any] = _deque()

    def __repr__(self) -> str:
        state = "locked" if self.locked() else "unlocked"
        return _public_repr(self, state + _waiters_suffix(self._waiters))

    async def wait(self) -> Literal[True]:
        """Release the lock, wait for a notification, re-acquire the lock, return True.

        The lock is held again when wait() returns *or raises*, even if the task is
        cancelled while waiting or while re-acquiring.  wait() may return spuriously: check
        the predicate again (wait_for() does).
        """
        if not self.locked():
            raise RuntimeError(
                f"cannot wait on un-acquired lock: acquire {self!r} before wait()"
            )
        # Binding errors (wrong loop) must surface before we give the lock away.
        fut = self._new_waiter()
        self.release()
        waiters = self._waiters
        try:
            waiters.append(fut)
            try:
                await fut
            finally:
                waiters.remove(fut)
                await self._reacquire()
        except BaseException:
            # We may have been notified just before the exception: hand that notification
            # to another waiter rather than lose it (a spurious wake-up is allowed, a lost
            # one is not).  CPython does the same since 3.12.1 (gh-112202).
            self._notify(1)
            raise
        return True

    async def _reacquire(self):
        # Keep trying through cancellations; re-raise the last one once the lock is held.
        cancelled = None
        while True:
            try:
                await self.acquire()
            except CancelledError as exc:
                cancelled = exc
            else:
                break
        if cancelled is not None:
            try:
                raise cancelled
            finally:
                cancelled = None  # no frame <-> exception reference cycle

    async def wait_for(self, predicate: Callable[[], _T]) -> _T:
        """wait() until ``predicate()`` is true; return its last (true) value."""
        while True:
            result = predicate()
            if result:
                return result
            await self.wait()

    def notify(self, n: int = 1) -> None:
        """Wake up to *n* waiting tasks (oldest first).  The lock must be held."""
        if not self.locked():
            raise RuntimeError(
                f"cannot notify on un-acquired lock: acquire {self!r} before notify()"
            )
        self._notify(n)

    def notify_all(self) -> None:
        """Wake every waiting task.  The lock must be held."""
        self.notify(len(self._waiters))

    def _notify(self, n):
        if n <= 0:
            return
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(False)
                n -= 1
                if n == 0:
                    return


# -- Semaphore -----------------------------------------------------------------------------


class Semaphore(_AsyncWith, _LoopBound):
    """A counter of permits: acquire() takes one (blocking at zero), release() returns one.

    Waiting tasks get permits in FIFO order; a newcomer queues behind them even when a
    permit is momentarily free.
    """

    _holder = None  # see track_holders()

    def __init__(self, value: int = 1) -> None:
        if value < 0:
            raise ValueError(f"Semaphore initial value must be >= 0, got {value!r}")
        # Free permits.  A permit handed to a woken waiter is subtracted at wake-up time,
        # so it cannot be taken by a newcomer; the waiter gives it back if it does not
        # resume normally.
        self._value = value
        # Futures of tasks blocked in acquire(), oldest first, or None before the first
        # contention.  Each task removes its own entry when it resumes.
        self._waiters: Any = None  # None, or the deque _enqueue_waiter() made

    def __repr__(self) -> str:
        state = "locked" if self.locked() else f"unlocked, value:{self._value}"
        return _public_repr(self, state + _waiters_suffix(self._waiters))

    def locked(self) -> bool:
        """Return True if acquire() would block (no permit, or tasks queued first)."""
        if self._value == 0:
            return True
        waiters = self._waiters
        return bool(waiters) and not _none_pending(waiters)

    async def acquire(self) -> Literal[True]:
        """Take a permit, waiting for one if needed.  Returns True."""
        waiters = self._waiters
        if self._value > 0 and (not waiters or _none_pending(waiters)):
            self._value -= 1
            if _track_holders:
                _took(self)
            return True
        fut = _enqueue_waiter(self)
        try:
            await fut
        except BaseException:
            self._waiters.remove(fut)
            if fut.done() and not fut.cancelled():
                # A permit was reserved for us at wake-up but we will not use it.
                self._value += 1
            raise
        else:
            self._waiters.remove(fut)
        finally:
            # Newcomers may have queued behind us (FIFO) although permits were free, and
            # we may have returned a permit: wake as many waiters as there are permits.
            while self._value > 0 and self._wake_next():
                pass
        if _track_holders:
            _took(self)
        return True

    async def __aenter__(self) -> None:
        # Inlined uncontended acquire(), as in Lock.__aenter__.
        if self._value > 0 and not self._waiters:
            self._value -= 1
            if _track_holders:
                _took(self)
            return None
        await self.acquire()
        return None

    def release(self) -> None:
        """Return a permit, waking the longest-waiting task if any."""
        self._value += 1
        if _track_holders:
            _gave_back(self)
        if self._waiters:
            self._wake_next()

    def _wake_next(self) -> bool:
        # Reserve a permit for the oldest waiter not yet woken; False if there is none.
        for waiter in self._waiters or ():
            if not waiter.done():
                waiter.set_result(True)
                self._value -= 1
                return True
        return False


class BoundedSemaphore(Semaphore):
    """A Semaphore whose release() raises ValueError above the initial value."""

    def __init__(self, value: int = 1) -> None:
        self._bound_value = value  # the initial value, the most permits there can be
        super().__init__(value)

    def release(self) -> None:
        """Return a permit, as Semaphore.release(); ValueError if that would make more
        permits than the initial value (a release without its acquire)."""
        if self._value >= self._bound_value:
            raise ValueError("BoundedSemaphore released too many times")
        super().release()


# -- Barrier -------------------------------------------------------------------------------


class _BarrierState(enum.Enum):
    #: A round is open: arriving tasks wait, n_waiting counts them.
    FILLING = "filling"
    #: The last party arrived: the round's tasks leave with an index.
    DRAINING = "draining"
    #: reset() with tasks inside: they leave with BrokenBarrierError.
    RESETTING = "resetting"
    #: abort(): every wait() raises BrokenBarrierError until reset().
    BROKEN = "broken"


_S = _BarrierState

# Every state change of a Barrier, as (event, state before) -> state after.  A None "state
# before" matches any state; an event with no matching entry leaves the state unchanged.
# New arrivals wait while the state is DRAINING or RESETTING, i.e. until the tasks of the
# previous round have all left ("emptied").
_BARRIER_TRANSITIONS = {
    ("tripped", _S.FILLING): _S.DRAINING,        # the parties-th task arrived
    ("emptied", _S.DRAINING): _S.FILLING,        # ... and all of them have left
    ("emptied", _S.RESETTING): _S.FILLING,       # the reset tasks have all left
    ("reset_occupied", None): _S.RESETTING,      # reset() with tasks inside
    ("reset_empty", None): _S.FILLING,           # reset() of an empty barrier
    ("abort", None): _S.BROKEN,
}


class Barrier(_LoopBound):
    """Blocks tasks until *parties* of them are waiting, then releases them all at once.

    Reusable: once every released task has left, a new round begins.  ``wait()`` returns
    the task's arrival index in its round (0 .. parties-1).
    """

    def __init__(self, parties: int) -> None:
        if parties < 1:
            raise ValueError(f"{_bridge.BARRIER_PARTIES_ERROR}, got {parties!r}")
        self._parties = parties
        self._state = _S.FILLING  # see _BarrierState and _BARRIER_TRANSITIONS
        # Tasks inside wait() past the entry gate: waiting, or leaving after release/reset.
        self._count = 0
        # All waiting happens on this condition; every state change notifies all.
        self._cond = Condition()

    def __repr__(self):
        extra = self._state.value
        if self._state is not _S.BROKEN:
            extra += f", waiters:{self.n_waiting}/{self._parties}"
        return _public_repr(self, extra)

    def _fire(self, event):
        state = self._state
        new = _BARRIER_TRANSITIONS.get((event, state))
        if new is None:
            new = _BARRIER_TRANSITIONS.get((event, None), state)
        self._state = new
        self._cond.notify_all()

    def _open(self):
        return self._state is _S.FILLING or self._state is _S.BROKEN

    def _over(self):
        return self._state is not _S.FILLING

    async def __aenter__(self) -> int:
        return await self.wait()

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        pass

    async def wait(self) -> int:
        """Wait until *parties* tasks are waiting; return this task's arrival index.

        Raises BrokenBarrierError if the barrier is broken (abort()) or is reset while
        the task waits.
        """
        cond = self._cond
        async with cond:
            # The previous round is still leaving: join the next one.
            await cond.wait_for(self._open)
            if self._state is _S.BROKEN:
                raise BrokenBarrierError(f"Barrier aborted: {self!r}; reset() it to reuse it")
            index = self._count
            self._count = index + 1
            try:
                if index + 1 == self._parties:
                    self._fire("tripped")
                else:
                    await cond.wait_for(self._over)
                    if self._state is not _S.DRAINING:
                        raise BrokenBarrierError(
                            f"Abort or reset of barrier {self!r} while this task waited"
                        )
                return index
            finally:
                self._count -= 1
                if self._count == 0:
                    self._fire("emptied")

    async def reset(self) -> None:
        """Return the barrier to its empty state; tasks waiting in it get BrokenBarrierError."""
        async with self._cond:
            self._fire("reset_occupied" if self._count > 0 else "reset_empty")

    async def abort(self) -> None:
        """Break the barrier: current and future wait() calls raise BrokenBarrierError."""
        async with self._cond:
            self._fire("abort")

    @property
    def parties(self) -> int:
        """The number of tasks required to trip the barrier."""
        return self._parties

    @property
    def n_waiting(self) -> int:
        """The number of tasks waiting in the current round (0 unless filling)."""
        return self._count if self._state is _S.FILLING else 0

    @property
    def broken(self) -> bool:
        """True if the barrier is broken (abort() was called and no reset() since)."""
        return self._state is _S.BROKEN

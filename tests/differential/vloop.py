"""Virtual-time event loops for both runtimes, so generated programs are deterministic.

A program's sleeps and timeouts must cost no real time and leave no room for
timing luck.  coroloop has this built in (``coroloop.testing.VirtualClock``); for
the standard library the harness builds its own loop:

* ``time()`` returns a virtual "now" that starts at 0;
* the selector's ``select(timeout)`` first polls real descriptors without blocking;
  when nothing is ready it *advances* virtual time by ``timeout`` instead of
  sleeping, so the loop wakes exactly at its next timer.

The loop computes ``timeout`` as ``deadline - time()``, so virtual time lands on
the deadline (exactly, for the binary fractions the generator uses).  The stdlib
then runs every timer due within its clock resolution of now, as it always does.

Timers due at the same instant run in the order they were scheduled.  With a
real clock that is what happens (a timer scheduled later gets a later deadline,
if only by nanoseconds); with virtual time the deadlines tie exactly, and
asyncio's heap (which compares deadlines only) would order them by its shape.
coroloop keeps such timers in scheduling order too.

Both loops refuse to wait forever: a loop with nothing ready and no timer raises
``Stalled`` (a program that deadlocks is reported, not hung).  Programs that do
real I/O (the Unix-socket family) set ``io=True``: then a wait without a timer is a
real, blocking wait for the descriptors, as on a real loop.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import selectors

from accepted import corrected_create_task

__all__ = ["Stalled", "new_loop"]


class Stalled(Exception):
    """The loop would wait forever: nothing ready, no timer, no I/O expected."""


class _VirtualTimeSelector(selectors.DefaultSelector):
    def __init__(self, io: bool):
        super().__init__()
        self.now = 0.0
        self._io = io

    def select(self, timeout=None):
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        if self._io:
            # Real descriptors are expected to become ready; virtual time only
            # moves when nothing arrives before the next timer is due (the Unix
            # family uses no timers while it waits for I/O).
            ready = super().select(timeout)
            if ready or timeout is None:
                return ready
        elif timeout is None:
            raise Stalled("nothing is ready and no timer is scheduled")
        self.now += timeout
        return []


class _TimerInOrder(asyncio.TimerHandle):
    """A TimerHandle that, among equal deadlines, sorts in scheduling order."""

    __slots__ = ("_order",)

    def __lt__(self, other):
        if self._when != other._when:
            return self._when < other._when
        return self._order < other._order


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """The standard library's selector loop on virtual time."""

    def __init__(self, io: bool = False):
        self._virtual = _VirtualTimeSelector(io)
        self._timer_order = itertools.count()
        super().__init__(self._virtual)

    def time(self) -> float:
        return self._virtual.now

    def call_at(self, when, callback, *args, context=None):
        # BaseEventLoop.call_at with a _TimerInOrder (see the module docstring).
        if when is None:
            raise TypeError("when cannot be None")
        self._check_closed()
        timer = _TimerInOrder(when, callback, args, self, context)
        timer._order = next(self._timer_order)
        heapq.heappush(self._scheduled, timer)
        timer._scheduled = True
        return timer

    # A CPython bug coroloop does not copy, corrected here (accepted.py).
    create_task = corrected_create_task(asyncio.SelectorEventLoop.create_task)


def _coroloop_loop(io: bool):
    import coroloop
    from coroloop.testing import VirtualClock

    class HarnessClock(VirtualClock):
        def sleep_time(self, deadline):
            if deadline is None and not io:
                raise Stalled("nothing is ready and no timer is scheduled")
            return super().sleep_time(deadline)

    return coroloop.new_event_loop(clock=HarnessClock())


def new_loop(impl: str, io: bool = False):
    """A fresh virtual-time loop of runtime *impl* ("asyncio" or "coroloop")."""
    if impl == "asyncio":
        return VirtualTimeLoop(io)
    if impl == "coroloop":
        return _coroloop_loop(io)
    raise ValueError(f"unknown runtime {impl!r}: expected 'asyncio' or 'coroloop'")

"""Clocks: where the loop's notion of "now" comes from.

The scheduler never calls ``time.monotonic`` itself; it asks its clock.  A clock has
two jobs: ``time()`` returns the current time, and ``sleep_time(deadline)`` says how
long the poller may block before the next timer (``deadline``, or None when no timer
is scheduled) is due.  A real clock answers with the distance to the deadline; a
virtual clock jumps straight to the deadline and answers 0, so a test that sleeps an
hour finishes at once (see ``coroloop.testing.VirtualClock``).
"""

from __future__ import annotations

import time as _time

__all__ = ["Clock", "MonotonicClock"]


class Clock:
    """The interface the event loop needs from a clock."""

    #: Timers due within this many seconds of "now" run in the current iteration.
    resolution: float = 1e-9

    def time(self) -> float:
        """The current time in seconds (what ``loop.time()`` returns)."""
        raise NotImplementedError

    def sleep_time(self, deadline: float | None) -> float | None:
        """How long the poller may block waiting for *deadline* (None: no limit)."""
        raise NotImplementedError


class MonotonicClock(Clock):
    """Real time, from ``time.monotonic`` (the default)."""

    resolution = _time.get_clock_info("monotonic").resolution

    def __init__(self) -> None:
        # Bound once: ``time()`` is called on every loop iteration.
        self.time = _time.monotonic  # type: ignore[method-assign]  # the C function, no wrapper

    def sleep_time(self, deadline: float | None) -> float | None:
        """The seconds left until *deadline* (0 if it has passed; None: no deadline)."""
        if deadline is None:
            return None
        delay = deadline - _time.monotonic()
        return delay if delay > 0.0 else 0.0

    def __repr__(self) -> str:
        return "<MonotonicClock>"

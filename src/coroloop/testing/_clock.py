"""VirtualClock: loop time that moves only when the test (or the loop) says so.

The loop asks its clock two things: ``time()`` and ``sleep_time(deadline)`` --
how long the poller may block before the next timer is due.  A real clock answers
with the distance to the deadline.  This one, in *autojump* mode (the default),
moves "now" straight to the deadline and answers 0: whenever the loop has nothing
to do but wait for a timer, the wait takes no real time.  So a test that sleeps an
hour finishes at once, and timer order is exactly deadline order, independent of
how fast the machine is.

Autojump with a threshold (``autojump_threshold=0.05``, in *real* seconds): the
loop first really waits that long for I/O or a wake-up from another thread, and
jumps only if nothing arrived.  Use it when the test involves threads or
processes (``run_in_executor``, ``to_thread``): with a zero threshold a timeout
around thread work expires at once, because the clock cannot see the thread.

With ``autojump=False`` time only moves through ``advance()``; a loop with nothing
ready then blocks in the poller (on I/O, or a wake-up from another thread) exactly
as if no timer were due -- use it to drive time by hand from a task or callback.

Waiting for I/O with no timer due is still real waiting: ``sleep_time(None)`` is
None, as for a real clock, so sockets and threads behave normally.  A timer at
``math.inf`` counts as no timer: it never comes, so time never jumps to it.
"""

from __future__ import annotations

import math
import time as _time

from .. import Clock  # the public name: testing builds on the public API

__all__ = ["VirtualClock"]

_INF = math.inf


class VirtualClock(Clock):
    """A clock for tests: starts at *start* and never moves on its own."""

    # Virtual time is exact: a timer is due when now >= its deadline, no slack.
    resolution = 0.0

    def __init__(self, start: float = 0.0, *, autojump: bool = True,
                 autojump_threshold: float = 0.0) -> None:
        if autojump_threshold < 0:
            raise ValueError(
                f"autojump_threshold must be >= 0 real seconds, got {autojump_threshold!r}")
        self._now = float(start)
        #: Jump to the next timer's deadline whenever the loop would wait for it.
        self.autojump = autojump
        #: Real seconds the loop must sit idle in the poller before a jump.
        self.autojump_threshold = float(autojump_threshold)
        # With a threshold: the deadline we will jump to, and the real time the
        # idle wait began.  Settled by the first time() call after the wait.
        self._pending_jump: float | None = None
        self._idle_since = 0.0

    @property
    def now(self) -> float:
        """The current virtual time (what ``loop.time()`` returns)."""
        return self._now

    def time(self) -> float:
        """The loop's time: virtual seconds, moved by jumps and advance() only."""
        deadline = self._pending_jump
        if deadline is not None:
            self._settle_jump(deadline)
        return self._now

    def _settle_jump(self, deadline: float) -> None:
        self._pending_jump = None
        idle = _time.perf_counter() - self._idle_since
        # Pollers round timeouts to milliseconds: allow for a wait cut short by that.
        if idle >= self.autojump_threshold - 1e-3:
            self._now = max(self._now, deadline)
        # Otherwise something woke the loop early; it will ask again if still idle.

    def sleep_time(self, deadline: float | None) -> float | None:
        """How long the loop may wait in the poller for the timer due at *deadline*
        (None: no timer, wait on I/O only).  With autojump the clock jumps to the
        deadline and the answer is 0 (with a threshold: first that many real seconds
        idle); without autojump, None: time stands still until advance()."""
        self._pending_jump = None
        if deadline is None or deadline == _INF:
            # No timer, or one that never comes (inf: jumping there would fire it,
            # and every later timer with it): block on I/O only, like a real clock.
            return None
        if deadline <= self._now:
            return 0.0
        if not self.autojump:
            return None  # time stands still until advance() is called
        if self.autojump_threshold == 0.0:
            self._now = deadline
            return 0.0
        self._pending_jump = deadline
        self._idle_since = _time.perf_counter()
        return self.autojump_threshold

    def advance(self, seconds: float) -> float:
        """Move time forward by *seconds*; return the new time.

        Timers that become due run on the loop's next iteration.  Called from
        outside a running loop, it affects what the next run sees.
        """
        if seconds != seconds:  # NaN
            raise ValueError("VirtualClock.advance() got NaN seconds")
        if seconds < 0:
            raise ValueError(
                f"VirtualClock.advance() cannot move time backwards (got {seconds!r}); "
                "virtual time is monotonic like the real clock")
        self.time()  # settle a pending jump first: advance() moves from "now"
        self._now += seconds
        return self._now

    def __repr__(self) -> str:
        if not self.autojump:
            mode = "manual"
        elif self.autojump_threshold:
            mode = f"autojump after {self.autojump_threshold}s idle"
        else:
            mode = "autojump"
        return f"<VirtualClock now={self._now!r} {mode}>"

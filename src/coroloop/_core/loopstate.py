"""The event loop's lifecycle states (a module of its own: tasks read it too)."""

from __future__ import annotations

import enum

__all__ = ["LoopState", "NATIVE_LOOPS"]

# The classes of coroloop's own loops (CoreEventLoop and each subclass that keeps
# the methods the fast paths stand in for; see CoreEventLoop.__init_subclass__).  Futures and tasks test `loop.__class__ in
# NATIVE_LOOPS` to take the direct path to the ready queue: a set lookup, cheaper
# than reading a marker attribute on every task.
NATIVE_LOOPS: set = set()


class LoopState(enum.Enum):
    #: Open, not running.
    IDLE = "idle"
    #: Inside run_forever().
    RUNNING = "running"
    #: close() was called; nothing may be scheduled.
    CLOSED = "closed"

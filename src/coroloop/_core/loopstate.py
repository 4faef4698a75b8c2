"""The event loop's lifecycle states (a module of its own: tasks read it too)."""

from __future__ import annotations

import enum


class LoopState(enum.Enum):
    IDLE = "idle"          # open, not running
    RUNNING = "running"    # inside run_forever()
    CLOSED = "closed"      # close() was called; nothing may be scheduled

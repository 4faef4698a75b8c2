"""Tools for testing code that runs on coroloop.

``VirtualClock`` makes loop time virtual: sleeps and timeouts complete instantly,
in deadline order.  ``new_virtual_loop()`` is a coroloop loop that uses one.
"""

from __future__ import annotations

from ._clock import VirtualClock

__all__ = ["VirtualClock", "new_virtual_loop"]


def new_virtual_loop(clock: VirtualClock | None = None, **kwargs):
    """A new coroloop event loop running on virtual time (default: a fresh autojump
    ``VirtualClock``); the clock is available as ``loop.clock``."""
    from .. import new_event_loop  # late: coroloop imports nothing from testing

    if clock is None:
        clock = VirtualClock()
    elif not isinstance(clock, VirtualClock):
        raise TypeError(f"new_virtual_loop() expects a VirtualClock, got {clock!r}")
    return new_event_loop(clock=clock, **kwargs)

"""Tools for testing code that runs on coroloop.

``VirtualClock`` makes loop time virtual: sleeps and timeouts complete instantly,
in deadline order.  ``new_virtual_loop()`` is a coroloop loop that uses one.
Scheduling policies (``FIFO``, ``RandomOrder``, ``PCT``) decide the order of what is
ready at once; ``simulate``/``explore``/``replay`` run a program under seeded
schedules and play a failing one back (docs/guide/testing.md).
"""

from __future__ import annotations

from ._clock import VirtualClock
from .faults import Faults
from .helpers import Sequencer, wait_all_tasks_blocked
from .scheduling import FIFO, PCT, RandomOrder, ReplayOrder, SchedulingPolicy
from .simulation import (NondeterminismWarning, SimulationDeadlock, SimulationResult,
                         check_determinism, explore, load_decisions, replay, simulate)

__all__ = ["FIFO", "Faults", "NondeterminismWarning", "PCT", "RandomOrder", "ReplayOrder",
           "SchedulingPolicy", "Sequencer", "SimulationDeadlock", "SimulationResult", "VirtualClock",
           "check_determinism", "explore", "load_decisions", "new_virtual_loop", "replay",
           "simulate", "wait_all_tasks_blocked"]


def new_virtual_loop(clock: VirtualClock | None = None, **kwargs):
    """A new coroloop event loop running on virtual time (default: a fresh autojump
    ``VirtualClock``); the clock is available as ``loop.clock``."""
    from .. import new_event_loop  # late: coroloop imports nothing from testing

    if clock is None:
        clock = VirtualClock()
    elif not isinstance(clock, VirtualClock):
        raise TypeError(f"new_virtual_loop() expects a VirtualClock, got {clock!r}")
    return new_event_loop(clock=clock, **kwargs)

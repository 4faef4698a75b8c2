"""Tools for testing code that runs on coroloop.

``VirtualClock`` makes loop time virtual: sleeps and timeouts complete instantly,
in deadline order.  ``new_virtual_loop()`` is a coroloop loop that uses one.
Scheduling policies (``FIFO``, ``RandomOrder``, ``PCT``) decide the order of what is
ready at once; ``simulate``/``explore``/``replay`` run a program under seeded
schedules and play a failing one back (docs/guide/testing.md).
``fixture()`` declares an async pytest fixture with its loop scope, for the pytest
plugin (``coroloop.testing.pytest_plugin``, loaded by pytest as ``coroloop``).
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
__all__ += ["fixture"]  # the pytest plugin's (below)


def new_virtual_loop(clock: VirtualClock | None = None, **kwargs):
    """A new coroloop event loop running on virtual time (default: a fresh autojump
    ``VirtualClock``); the clock is available as ``loop.clock``."""
    from .. import new_event_loop  # late: coroloop imports nothing from testing

    if clock is None:
        clock = VirtualClock()
    elif not isinstance(clock, VirtualClock):
        raise TypeError(f"new_virtual_loop() expects a VirtualClock, got {clock!r}")
    return new_event_loop(clock=clock, **kwargs)


# -- the pytest plugin's fixture decorator (issue 11 item 6) ---------------------------

def fixture(function=None, *, loop_scope: str | None = None, **kwargs):
    """``pytest.fixture`` for an async fixture of coroloop tests, with its loop scope.

    ``@coroloop.testing.fixture(scope="module", loop_scope="module")`` sets the fixture
    up on the module's loop; the tests using it must run there too
    (``@pytest.mark.coroloop(loop_scope="module")``), which the plugin checks.  Without
    *loop_scope* a fixture runs on the loop of the test that requests it.  Other
    keyword arguments are ``pytest.fixture``'s.
    """
    import pytest  # late: coroloop.testing does not need pytest

    from .pytest_plugin import SCOPES

    if loop_scope is not None and loop_scope not in SCOPES:
        raise ValueError(f"fixture(loop_scope={loop_scope!r}): the loop scope is one of "
                         f"{', '.join(SCOPES)}")

    def decorate(func):
        func._coroloop_loop_scope = loop_scope
        return pytest.fixture(func, **kwargs)

    return decorate if function is None else decorate(function)
# -- end of the pytest plugin's fixture decorator -------------------------------------

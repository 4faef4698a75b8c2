"""What debug mode turns on: the loop calls ``start(loop)`` as ``run_forever()`` begins
with ``loop.get_debug()`` true (``coroloop.run(..., debug=True)``, ``PYTHONASYNCIODEBUG=1``,
``python -X dev``).  Each tool installs itself once per loop; installing twice is a no-op.

Add a tool as one more entry of ``TOOLS`` (a function of the loop).
"""

from __future__ import annotations

__all__ = ["TOOLS", "start"]


def _task_monitor(loop) -> None:
    from .taskmonitor import TaskMonitor
    TaskMonitor.install(loop)


def _provenance(loop) -> None:
    from .provenance import CancelTracker
    CancelTracker.install(loop, notes=True)


def _pitfalls(loop) -> None:
    from .pitfalls import PitfallReporter
    PitfallReporter.install(loop)


def _detectors(loop):
    # The blocking watch and deadlock detection last one run: they return their stop.
    from . import _start_debug_mode_detectors
    return _start_debug_mode_detectors(loop)


#: The tools debug mode starts, in order.  A tool may return a function that stops
#: it, called as the run ends.
TOOLS = [_task_monitor, _provenance, _pitfalls, _detectors]


def start(loop):
    """Start every debug-mode tool on *loop*; return the function stopping those that
    last one run (or None)."""
    stops = [stop for stop in (tool(loop) for tool in TOOLS) if stop is not None]
    if not stops:
        return None

    def stop_all():
        for stop in reversed(stops):
            stop()
    return stop_all

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


#: The tools debug mode starts, in order.
TOOLS = [_task_monitor, _provenance, _pitfalls]


def start(loop) -> None:
    """Start every debug-mode tool on *loop*."""
    for tool in TOOLS:
        tool(loop)

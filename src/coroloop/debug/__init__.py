"""coroloop's debugging tools.

Timelines (``trace``, ``timeline``)::

    with coroloop.debug.record_trace("trace.json"):
        coroloop.run(main())
    # then: python -m coroloop timeline trace.json -o timeline.html
    # or open trace.json in https://ui.perfetto.dev

Everything here is built on the loop's instrument hooks (``coroloop.Instrument``)
and public introspection (``task.waiting_on()``, ``task.spawned_by()``).

Seams for the other tools of this package:

* ``wait_reason(task, future)`` (``waits.py``) is the one place a wait is turned
  into a ``(kind, target)`` label; ``WaitReason`` replaces its heuristics there.
* ``mark(kind, name, loop=..., task=..., args=...)`` adds an instant event (a
  blocking report, a deadlock) to every trace recording the loop.
"""

from .timeline import render_timeline, write_timeline
from .trace import TraceRecorder, mark, record_trace, trace_events, write_trace
from .waits import wait_reason

__all__ = ["TraceRecorder", "mark", "record_trace", "render_timeline", "trace_events",
           "wait_reason", "write_timeline", "write_trace"]

# -- issue 9 (debug): snapshot, WaitReason, TaskMonitor --------------------------------
from .snapshot import Snapshot, TaskInfo, snapshot  # noqa: E402
from .taskmonitor import FinishedTask, TaskMonitor  # noqa: E402
from .waits import KINDS, WaitReason, describe_wait  # noqa: E402

from .provenance import CancelInfo, CancelTracker, cancelled_by  # noqa: E402
from .pitfalls import PitfallReporter  # noqa: E402
from .callgraph import (FrameCallGraphEntry, FutureCallGraph,  # noqa: E402
                        capture_call_graph, format_call_graph, print_call_graph)

__all__ += ["FrameCallGraphEntry", "FutureCallGraph", "capture_call_graph",
            "format_call_graph", "print_call_graph", "CancelInfo", "CancelTracker", "FinishedTask", "KINDS", "PitfallReporter",
            "Snapshot", "TaskInfo", "TaskMonitor", "WaitReason", "cancelled_by",
            "describe_wait", "snapshot"]
# -- end of issue 9 (debug) -------------------------------------------------------------

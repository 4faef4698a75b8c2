"""coroloop's debugging tools.

Timelines (``trace``, ``timeline``)::

    with coroloop.debug.record_trace("trace.json"):
        coroloop.run(main())
    # then: python -m coroloop timeline trace.json -o timeline.html
    # or open trace.json in https://ui.perfetto.dev

Attaching to a running program (``ps``, ``pstree``, ``top``, ``dump``, ``cancel``)::

    coroloop.debug.serve()      # or COROLOOP_MONITOR=1, or run --monitor
    # then: python -m coroloop ps PID

Everything here is built on the loop's instrument hooks (``coroloop.Instrument``)
and public introspection (``task.waiting_on()``, ``task.spawned_by()``).

Seams for the other tools of this package:

* ``wait_reason(task, future)`` (``waits.py``) is the one place a wait is turned
  into a ``(kind, target)`` label; ``WaitReason`` replaces its heuristics there.
* ``mark(kind, name, loop=..., task=..., args=...)`` adds an instant event (a
  blocking report, a deadlock) to every trace recording the loop.

Detectors (on by default in debug mode)::

    watch = coroloop.debug.watch_blocking(0.05, on_block=print)   # a watchdog thread
    coroloop.debug.detect_deadlocks(action="raise")   # DeadlockError in the main task
"""

from .timeline import render_timeline, write_timeline
from .trace import TraceRecorder, is_recording, mark, record_trace, trace_events, write_trace
from .waits import wait_reason

__all__ = ["TraceRecorder", "is_recording", "mark", "record_trace", "render_timeline",
           "trace_events", "wait_reason", "write_timeline", "write_trace"]

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

# -- detectors: blocking the loop, deadlocks and hangs (issue 9 items 3-4) --------------
# watch_blocking(threshold) / detect_deadlocks(action=...): see blocking.py, deadlock.py.
# In debug mode both run while a loop runs: the blocking watch at the loop's
# slow_callback_duration, deadlock detection logging ("log").
from .blocking import BlockingReport, BlockingWatch, watch_blocking  # noqa: E402
from .deadlock import (DeadlockDetector, DeadlockError, DeadlockReport,  # noqa: E402
                       detect_deadlocks)

__all__ += ["BlockingReport", "BlockingWatch", "DeadlockDetector", "DeadlockError",
            "DeadlockReport", "detect_deadlocks", "watch_blocking"]


def _start_debug_mode_detectors(loop):
    """Start debug mode's detectors on *loop* (called as it starts running in debug
    mode); returns the function that stops them."""
    watch = watch_blocking(loop.slow_callback_duration, loop=loop)
    detector = detect_deadlocks(loop, action="log")

    def stop():
        detector.stop()
        watch.stop()
    return stop
# -- end of the detectors block ------------------------------------------------------------

# -- attaching to a running process (issue 10: the monitor endpoint, ps/pstree) --
from .endpoint import Endpoint, MonitorClient, MonitorError, serve  # noqa: E402
from .formatting import format_ps, format_pstree  # noqa: E402

__all__ += ["Endpoint", "MonitorClient", "MonitorError", "format_ps", "format_pstree", "serve"]
# -- end of attaching to a running process

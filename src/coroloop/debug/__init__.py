"""coroloop's debugging tools.

Timelines (this package's ``trace`` and ``timeline`` modules)::

    with coroloop.debug.record_trace("trace.json"):
        coroloop.run(main())
    # then: python -m coroloop timeline trace.json -o timeline.html
    # or open trace.json in https://ui.perfetto.dev

Everything here is built on the loop's instrument hooks (``coroloop.Instrument``)
and public introspection (``task.waiting_on()``, ``task.spawned_by()``).
"""

from .timeline import write_timeline
from .trace import TraceRecorder, mark, record_trace, trace_events, write_trace
from .waits import wait_reason

__all__ = ["TraceRecorder", "mark", "record_trace", "trace_events", "wait_reason",
           "write_timeline", "write_trace"]

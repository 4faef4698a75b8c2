"""coroloop.EventLoop: the core scheduler plus the layers built on it.

The core (``_core.loop.CoreEventLoop``) knows callbacks, timers, readiness and
tasks.  Networking, subprocesses and signals are mixins written against the core's
public API (add_reader, call_soon, create_future, ...), composed here.
"""

from __future__ import annotations

from ._core.loop import CoreEventLoop
from ._net.mixin import NetworkingMixin
from ._net.proc_mixin import ProcessMixin


class EventLoop(NetworkingMixin, ProcessMixin, CoreEventLoop):
    """coroloop's event loop: an ``asyncio.AbstractEventLoop`` written from scratch."""


def new_event_loop(**kwargs) -> EventLoop:
    """A new coroloop event loop (also usable as ``loop_factory`` for asyncio.run).

    Keyword arguments: ``clock`` (a ``coroloop.Clock``) and ``poller``.
    """
    return EventLoop(**kwargs)

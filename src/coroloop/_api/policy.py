"""Putting coroloop's loop under code that asks asyncio for a loop."""

from __future__ import annotations

from .. import _bridge
from .._event_loop import EventLoop

__all__ = ["EventLoopPolicy", "install"]


class EventLoopPolicy(_bridge.DefaultEventLoopPolicy):
    """asyncio's default policy, except that new loops are coroloop's."""

    def new_event_loop(self) -> EventLoop:
        """A new coroloop loop (what asyncio.new_event_loop() returns under it)."""
        return EventLoop()


def install() -> EventLoopPolicy:
    """Make coroloop's loop the one ``asyncio.run()``/``new_event_loop()`` create."""
    policy = EventLoopPolicy()
    _bridge.install_policy(policy)  # (not the public setter: it warns on 3.14+)
    return policy

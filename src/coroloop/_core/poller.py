"""Pollers: the loop's only view of the operating system's readiness API.

The interface is deliberately narrow, so the scheduler can be tested without
sockets and the backend can change per platform:

    poller.modify(fd, readable, writable)   # interest in fd; (False, False) drops it
    poller.poll(timeout) -> [(fd, events), ...]
    poller.close()

``events`` is a bit mask in the poller's own encoding: ``events & poller.READABLE``
means the reader should run, ``events & poller.WRITABLE`` the writer.  Letting the
backend keep its native encoding means epoll's result list is handed to the loop
as it is, with no per-event translation.

The poller knows nothing of callbacks; the loop maps ready descriptors to the
handles registered with ``add_reader`` / ``add_writer``.

``EpollPoller`` is used on Linux.  Two epoll quirks shape it: a descriptor must be
``register``-ed once and ``modify``-ed after, and a closed descriptor vanishes from
the epoll set silently, so ``modify`` on it fails with ENOENT/EBADF; we then
re-register or forget it rather than letting the error escape into the loop.
``SelectorPoller`` wraps the ``selectors`` module everywhere else.
"""

from __future__ import annotations

import select
import selectors


class Poller:
    READABLE: int = 1
    WRITABLE: int = 2

    def modify(self, fd: int, readable: bool, writable: bool) -> None:
        raise NotImplementedError

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


if hasattr(select, "epoll"):
    _IN = select.EPOLLIN
    _OUT = select.EPOLLOUT
    # Errors and hang-ups wake both directions: the reader or writer then sees
    # the error from its own recv/send.
    _ERR = select.EPOLLERR | select.EPOLLHUP

    class EpollPoller(Poller):
        READABLE = _IN | _ERR
        WRITABLE = _OUT | _ERR

        def __init__(self) -> None:
            self._epoll = select.epoll()
            self._masks: dict[int, int] = {}  # fd -> registered event mask

        def fileno(self) -> int:
            return self._epoll.fileno()

        def modify(self, fd: int, readable: bool, writable: bool) -> None:
            mask = (_IN if readable else 0) | (_OUT if writable else 0)
            old = self._masks.get(fd)
            if mask == 0:
                if old is not None:
                    del self._masks[fd]
                    try:
                        self._epoll.unregister(fd)
                    except OSError:
                        pass  # already closed: the kernel dropped it for us
                return
            if old is None:
                self._epoll.register(fd, mask)  # on failure we never knew fd
            elif old != mask:
                try:
                    try:
                        self._epoll.modify(fd, mask)
                    except FileNotFoundError:
                        # The fd was closed and reused since we registered it.
                        self._epoll.register(fd, mask)
                except BaseException:
                    # Closed (EBADF): the kernel dropped it, and so do we, so
                    # our masks never claim a registration epoll does not have.
                    del self._masks[fd]
                    raise
            self._masks[fd] = mask

        def poll(self, timeout: float | None) -> list[tuple[int, int]]:
            if timeout is None:
                timeout = -1
            # epoll has millisecond resolution; epoll.poll() already rounds a
            # positive timeout up to whole milliseconds, so we never wake just
            # before a timer is due.  Rounding here as well would round twice:
            # ceil(8.5 ms) is 0.009000000000000001 s, which poll() makes 10 ms.
            max_events = max(len(self._masks), 1)
            try:
                return self._epoll.poll(timeout, max_events)
            except InterruptedError:
                return []

        def close(self) -> None:
            self._epoll.close()
            self._masks.clear()


class SelectorPoller(Poller):
    """Any platform: the ``selectors`` module's best selector."""

    def __init__(self, selector: selectors.BaseSelector | None = None) -> None:
        self._selector = selector if selector is not None else selectors.DefaultSelector()

    def modify(self, fd: int, readable: bool, writable: bool) -> None:
        mask = (selectors.EVENT_READ if readable else 0) | \
               (selectors.EVENT_WRITE if writable else 0)
        try:
            key = self._selector.get_key(fd)
        except KeyError:
            key = None
        if mask == 0:
            if key is not None:
                self._selector.unregister(fd)
        elif key is None:
            self._selector.register(fd, mask)
        elif key.events != mask:
            self._selector.modify(fd, mask)  # on failure, selectors drops fd itself

    READABLE = selectors.EVENT_READ
    WRITABLE = selectors.EVENT_WRITE

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        try:
            ready = self._selector.select(timeout)
        except InterruptedError:
            return []
        return [(key.fd, events) for key, events in ready]

    def close(self) -> None:
        self._selector.close()


def default_poller() -> Poller:
    if hasattr(select, "epoll"):
        return EpollPoller()
    return SelectorPoller()


__all__ = ["Poller", "SelectorPoller", "default_poller"] + (
    ["EpollPoller"] if hasattr(select, "epoll") else [])

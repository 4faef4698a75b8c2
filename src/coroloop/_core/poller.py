"""Pollers: the loop's only view of the operating system's readiness API.

The interface is deliberately narrow, so the scheduler can be tested without
sockets and the backend can change per platform:

    poller.modify(fd, readable, writable)   # interest in fd; (False, False) drops it
    poller.poll(timeout) -> [(fd, events), ...]
    poller.unexpected(fd, events)           # poll() reported what nobody watches
    poller.close()

``events`` is a bit mask in the poller's own encoding: ``events & poller.READABLE``
means the reader should run, ``events & poller.WRITABLE`` the writer.  Letting the
backend keep its native encoding means epoll's result list is handed to the loop
as it is, with no per-event translation.

The poller knows nothing of callbacks; the loop (``readiness.py``) maps ready
descriptors to the handles registered with ``add_reader`` / ``add_writer`` and
keeps the poller's interest set equal to them.

``EpollPoller`` is used on Linux, ``SelectorPoller`` (the ``selectors`` module)
everywhere else.  Only epoll needs the care described next: kqueue forgets a
descriptor's events when that descriptor is closed, and poll/select keep no set.

What epoll registers, and what that means for a closed descriptor
-----------------------------------------------------------------
An epoll set does not hold descriptors, it holds *open file descriptions* (the
kernel's file objects), each under the descriptor number it was registered with.
``epoll_ctl`` turns the number into the description at the moment of the call,
and ``epoll_wait`` reports events by that number.  The set holds no reference: a
description leaves the set by itself when its last descriptor is closed.  Its last
one -- as long as a duplicate exists (``os.dup``, a forked child, a socket
``detach``-ed into another object), the description lives on, still registered
under the number that was closed, and:

* it can no longer be removed: ``epoll_ctl(DEL, n)`` looks ``n`` up afresh and
  finds nothing (EBADF) or a different description (ENOENT);
* it still reports its events under ``n``; epoll is level-triggered here, so a
  stale entry that is readable makes every ``epoll_wait`` return at once -- a loop
  burning a CPU with nothing to do;
* if ``n`` is reused and registered again, the set holds two entries with the same
  number, and the old one's events wake the new one's callbacks.

asyncio's rule is the remedy -- remove a descriptor's reader and writer *before*
closing it -- and coroloop's transports follow it.  Code that breaks it (closes
first, or closes a descriptor a reader is still registered on) is common, so
``EpollPoller`` does not trust the kernel to have dropped an entry it could not
remove: it rebuilds its epoll set from its own table (``_masks``, the truth)
when poll() reports an event nothing was registered for (the loop passes it to
``unexpected``), or when a number whose entry could not be removed is registered
again.  A
rebuild costs one system call per watched descriptor and happens only after such
a mistake; the first one logs a warning naming the descriptor and the fix.
The one case no poller can repair is a descriptor that is closed while its reader
is still registered: its callback runs and sees EBADF, as with asyncio.

(trio's ``_io_epoll.py`` explains the same quirk; trio answers it with
EPOLLONESHOT, which suits one wait per task but would cost coroloop's persistent
readers a system call per event.)
"""

from __future__ import annotations

import select
import selectors

from .errors import logger


class Poller:
    """The readiness backend of a loop (see the module docstring)."""

    READABLE: int = 1
    WRITABLE: int = 2

    def modify(self, fd: int, readable: bool, writable: bool) -> None:
        """Watch *fd* for the given directions (neither: stop watching it)."""
        raise NotImplementedError

    def poll(self, timeout: float | None) -> list[tuple[int, int]]:
        """Wait up to *timeout* seconds (None: no limit) for readiness; return the
        ready descriptors with their events."""
        raise NotImplementedError

    def unexpected(self, fd: int, events: int) -> None:
        """poll() reported *events* on *fd* and the loop has no callback for them.

        The default does nothing: with a backend that forgets a descriptor when
        asked to, it only happens for errors and hang-ups on a descriptor watched in
        one direction.
        """

    def close(self) -> None:
        """Release the backend's resources (the epoll descriptor)."""
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
            #: fd -> registered event mask: what the epoll set should hold.
            self._masks: dict[int, int] = {}
            #: Numbers whose entry we could not remove (closed behind our back):
            #: the epoll set may still hold a stale entry under each of them.
            self._maybe_stale: set[int] = set()
            self._warned = False
            #: The most events one poll() asks for: the number of registrations,
            #: kept here as they change (rarely) rather than counted on every poll.
            #: Too many is harmless, too few only defers events to the next poll.
            self._max_events = 1

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
                        # Closed before it was removed: gone with its last
                        # descriptor, or kept alive by a duplicate (see above).
                        self._maybe_stale.add(fd)
                    self._max_events = len(self._masks) or 1
                return
            if old is None:
                if fd in self._maybe_stale:
                    self._rebuild(fd)  # its stale entry would share the number
                self._epoll.register(fd, mask)  # on failure we never knew fd
            elif old != mask:
                try:
                    try:
                        self._epoll.modify(fd, mask)
                    except FileNotFoundError:
                        # The number was closed and reused since we registered it.
                        del self._masks[fd]
                        self._rebuild(fd)
                        self._epoll.register(fd, mask)
                except BaseException:
                    # Closed (EBADF): the kernel dropped it (or a duplicate keeps a
                    # stale entry, see above), and so do we, so our masks never
                    # claim a registration epoll does not have.
                    if self._masks.pop(fd, None) is not None:
                        self._maybe_stale.add(fd)
                    raise
            self._masks[fd] = mask
            self._max_events = len(self._masks)

        def unexpected(self, fd: int, events: int) -> None:
            registered = self._masks.get(fd)
            if registered is None or events & ~(registered | _ERR):
                # Nothing (or not that) was registered there: a stale entry, which
                # only a new epoll set is rid of.
                self._rebuild(fd)

        def _rebuild(self, fd: int) -> None:
            """A new epoll set holding exactly ``_masks``."""
            if not self._warned:
                self._warned = True
                logger.warning(
                    "fd %d was closed while it was registered with the event loop and "
                    "is kept open by a duplicate (os.dup, a child process); its epoll "
                    "entry cannot be removed, so the poller rebuilt its epoll set.  "
                    "Call loop.remove_reader()/remove_writer() before closing a "
                    "descriptor.", fd)
            old, self._epoll = self._epoll, select.epoll()
            old.close()
            self._maybe_stale.clear()
            for number, mask in list(self._masks.items()):
                try:
                    self._epoll.register(number, mask)
                except OSError:
                    # Closed behind our back too: the loop's callback (if any)
                    # will never run again, as with a closed set.
                    del self._masks[number]
            self._max_events = len(self._masks) or 1

        def poll(self, timeout: float | None) -> list[tuple[int, int]]:
            # epoll.poll() takes None (no limit) and has millisecond resolution; it
            # already rounds a positive timeout up to whole milliseconds, so we never
            # wake just before a timer is due.  Rounding here as well would round
            # twice: ceil(8.5 ms) is 0.009000000000000001 s, which poll() makes 10 ms.
            try:
                return self._epoll.poll(timeout, self._max_events)
            except InterruptedError:
                return []

        def close(self) -> None:
            self._epoll.close()
            self._masks.clear()
            self._maybe_stale.clear()
            self._max_events = 1


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

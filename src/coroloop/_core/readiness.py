"""Readiness: which callback runs when a descriptor is ready, and the loop's waker.

The loop keeps two tables, ``readers`` and ``writers`` (fd -> Handle), and keeps
its poller's interest set equal to them: an fd is registered for reading iff it is
in ``readers``, for writing iff it is in ``writers``.  After each poll,
:meth:`Readiness.poll` puts the handles of the ready descriptors on the ready
queue; they run in the same iteration as the timers that are due.

Two doors lead in, with the same rules (:meth:`Readiness.watch`):

* the loop's public ``add_reader``/``add_writer``/``remove_*`` (asyncio's API), which
  coroloop's EventLoop also refuses for a descriptor a live transport owns;
* the transports' own registrations (through ``_net.host.TransportHost``), which
  skip that ownership check -- the transport *is* the owner.

Descriptors: anything with ``fileno()`` or an int (:func:`fileobj_to_fd`); an object
without a usable ``fileno()`` is a ValueError, checked before anything else (as
asyncio does).  A negative number is refused when it is registered or removed
(ValueError; on a closed loop ``add_*`` raises "Event loop is closed" first and
``remove_*`` returns False, as asyncio does).

The waker (:class:`Waker`) lets ``call_soon_threadsafe`` wake a loop blocked in its
poller: an eventfd, or a socket pair where there is none.  Its read end is
registered with the poller directly, not through the tables.
"""

from __future__ import annotations

import contextvars
import os
import socket

from .handles import Handle, extract_source_traceback, new_handle
from .loopstate import LoopState

__all__ = ["Readiness", "Waker", "fileobj_to_fd"]

_copy_context = contextvars.copy_context
_CLOSED = LoopState.CLOSED


def fileobj_to_fd(fileobj) -> int:
    """The descriptor number of *fileobj*: an int as it is, else ``fileobj.fileno()``.

    ValueError names the object when it has no usable ``fileno()``.  The number is
    not checked here: a negative one is refused where descriptors are registered
    (:meth:`Readiness.watch`), so a closed loop answers as asyncio's does, and a
    closed socket (``fileno() == -1``) can still be found by the object it was.
    """
    if isinstance(fileobj, int):
        return fileobj
    try:
        return int(fileobj.fileno())
    except (AttributeError, TypeError, ValueError):
        raise ValueError(f"Invalid file object: {fileobj!r}") from None


class Waker:
    """Wakes the loop from another thread: an eventfd, or a socket pair."""

    def __init__(self) -> None:
        if hasattr(os, "eventfd"):
            self._rfd = self._wfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self._pair = None
        else:
            self._pair = socket.socketpair()
            for sock in self._pair:
                sock.setblocking(False)
            self._rfd = self._pair[0].fileno()
            self._wfd = self._pair[1].fileno()

    def fileno(self) -> int:
        return self._rfd

    def wake(self) -> None:
        try:
            if self._pair is None:
                os.eventfd_write(self._wfd, 1)
            else:
                self._pair[1].send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already pending, or closing: either way the loop will wake

    def drain(self) -> None:
        try:
            if self._pair is None:
                os.eventfd_read(self._rfd)
            else:
                while self._pair[0].recv(4096):
                    pass
        except (BlockingIOError, InterruptedError):
            pass

    def close(self) -> None:
        if self._pair is None:
            os.close(self._rfd)
        else:
            for sock in self._pair:
                sock.close()


class Readiness:
    """One loop's descriptor watches, its poller and its waker.

    ``readers`` and ``writers`` are read by the scheduler on every iteration (are
    any descriptors watched?) and by tools; only the methods here change them.
    """

    __slots__ = ("readers", "writers", "watched_objects", "poller", "waker", "_loop",
                 "_ready", "_waker_fd", "_readable", "_writable")

    def __init__(self, loop, poller) -> None:
        self._loop = loop
        self.poller = poller
        self.readers: dict[int, Handle] = {}
        self.writers: dict[int, Handle] = {}
        #: fd -> the file object it was registered with (not for int registrations):
        #: how a closed socket still finds its registration (see watch()).
        self.watched_objects: dict[int, object] = {}
        self.waker = Waker()
        # What poll() reads on every call, fixed for the loop's life: the loop's
        # ready queue (created first, never replaced), the waker's descriptor and
        # the poller's event bits.
        self._ready = loop._ready
        self._waker_fd = self.waker.fileno()
        self._readable = poller.READABLE
        self._writable = poller.WRITABLE
        poller.modify(self._waker_fd, True, False)

    def add_reader(self, fd, callback, *args) -> None:
        """Run ``callback(*args)`` each time *fd* is readable (replacing any reader)."""
        self.watch(self.readers, fd, callback, args, "add_reader")

    def add_writer(self, fd, callback, *args) -> None:
        """Run ``callback(*args)`` each time *fd* is writable (replacing any writer)."""
        self.watch(self.writers, fd, callback, args, "add_writer")

    def remove_reader(self, fd) -> bool:
        """Stop watching *fd* for reading; False if it was not watched."""
        return self.unwatch(self.readers, fd)

    def remove_writer(self, fd) -> bool:
        """Stop watching *fd* for writing; False if it was not watched."""
        return self.unwatch(self.writers, fd)

    # The tables and the poller agree at all times: fd is in readers or writers
    # exactly when the poller watches it (for those directions).  When the poller
    # refuses a change (EBADF: closed; EPERM: a regular file), it has forgotten fd,
    # and so do we -- both directions -- before the error propagates, as selectors
    # drops the key.  A registration made with a file object (not an int) remembers
    # it in watched_objects, so the object still finds its registration once closed
    # (fileno() == -1), as asyncio's does.
    def watch(self, table, fileobj, callback, args, method: str) -> None:
        fd = fileobj if type(fileobj) is int else self._registered_fd(fileobj)
        loop = self._loop
        if loop._state is _CLOSED:
            raise RuntimeError("Event loop is closed")
        if fd < 0:
            raise ValueError(f"Invalid file descriptor: {fd}")
        if not callable(callback) or loop._debug:
            loop._check_callback(callback, method)
        handle = new_handle(callback, args, loop, _copy_context())
        if loop._debug:
            handle._source_traceback = extract_source_traceback(2)
        previous = table.get(fd)
        if previous is not None:  # the poller watches fd this way already
            table[fd] = handle
            previous.cancel()
            return
        try:
            table[fd] = handle
            self.poller.modify(fd, fd in self.readers, fd in self.writers)
        except BaseException:
            self._forget_fd(fd)
            raise
        if type(fileobj) is not int:
            self.watched_objects[fd] = fileobj

    def unwatch(self, table, fileobj) -> bool:
        fd = fileobj if type(fileobj) is int else self._registered_fd(fileobj)
        if self._loop._state is _CLOSED:
            return False
        if fd < 0:
            raise ValueError(f"Invalid file descriptor: {fd}")
        handle = table.pop(fd, None)
        if handle is None:
            return False
        readable = fd in self.readers
        writable = fd in self.writers
        try:
            self.poller.modify(fd, readable, writable)
        except BaseException:
            self._forget_fd(fd)
            raise
        finally:
            handle.cancel()
        if self.watched_objects and not (readable or writable):
            self.watched_objects.pop(fd, None)
        return True

    def _registered_fd(self, fileobj) -> int:
        """The descriptor *fileobj* names -- or, closed since, was registered under."""
        try:
            fd = fileobj_to_fd(fileobj)
        except ValueError:
            fd = self._watched_as(fileobj)
            if fd is None:
                raise
            return fd
        if fd < 0:
            return self._watched_as(fileobj, fd)
        return fd

    def _watched_as(self, fileobj, default=None):
        for fd, watched in self.watched_objects.items():
            if watched is fileobj:
                return fd
        return default

    def _forget_fd(self, fd) -> None:
        """A change of fd failed half-way: drop fd from the tables and the poller
        alike (the poller has usually dropped it already), so both agree again."""
        for table in (self.readers, self.writers):
            handle = table.pop(fd, None)
            if handle is not None:
                handle.cancel()
        self.watched_objects.pop(fd, None)
        self.poller.modify(fd, False, False)  # make sure; a no-op if it forgot it

    def poll(self, timeout) -> None:
        """Wait up to *timeout* seconds (None: forever) for ready descriptors and
        queue their handlers; the instruments see the wait."""
        hooks = self._loop._instruments
        if hooks is not None and hooks.io_wait_started is not None:
            hooks.io_wait_started(timeout)
        events = self.poller.poll(timeout)
        if hooks is not None and hooks.io_wait_ended is not None:
            hooks.io_wait_ended(len(events))
        if not events:
            return
        # In event order; per descriptor, its reader before its writer.
        readable = self._readable
        writable = self._writable
        readers = self.readers
        writers = self.writers
        ready = self._ready
        for fd, mask in events:
            if mask & readable:
                handle = readers.get(fd)
                if handle is not None:
                    ready.append(handle)
                elif fd == self._waker_fd:
                    self.waker.drain()
                else:
                    self._unexpected(fd, mask)
            if mask & writable:
                handle = writers.get(fd)
                if handle is not None:
                    ready.append(handle)
                elif not mask & readable:
                    self._unexpected(fd, mask)

    def _unexpected(self, fd, events) -> None:
        """An event no callback watches: a stale registration? (see poller.py)"""
        unexpected = getattr(self.poller, "unexpected", None)  # a Poller's; optional
        if unexpected is not None:
            unexpected(fd, events)

    def close(self) -> None:
        """The loop is closing: forget every watch, close the waker and the poller."""
        self.readers.clear()
        self.writers.clear()
        self.watched_objects.clear()
        self.waker.close()
        self.poller.close()

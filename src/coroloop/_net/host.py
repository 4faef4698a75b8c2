"""TransportHost: what the networking layer uses of its loop beyond asyncio's API.

Transports, servers, ``sock_*`` operations, pipes and subprocesses are written
against asyncio's public loop API -- ``call_soon`` and ``call_later`` (the ready
queue and the timers), ``create_future``, ``call_exception_handler``,
``get_debug`` -- plus the three things below, which that API does not offer.
coroloop's ``EventLoop`` holds one ``TransportHost`` (``loop._io``), and it is the
only loop attribute outside the public API that this package reads.

1. **Readiness registration for a descriptor's owner.**  ``add_reader``,
   ``add_writer``, ``remove_reader``, ``remove_writer``: the core's registration
   (``_core/readiness.py``, same rules and errors), minus the ownership check of
   the loop's public methods -- which refuse a descriptor a live transport owns,
   since that transport's own callbacks would be silently replaced.

2. **The transport registry**: which descriptor belongs to which live socket
   transport.  A transport ``register``s its descriptor when it is made and
   ``forget``s it once its socket is closed; ``ensure_free`` is the ownership
   check.  When the loop closes, :meth:`close` releases the sockets of the
   transports nobody closed (their ``connection_lost`` can no longer run) and
   returns them, for the loop's ResourceWarning.

3. **Per-loop bookkeeping** of the layer: ``sock_waiters`` (which ``sock_*``
   operation's callback is registered on a descriptor, see ``sockets.py``) and
   ``children`` (the subprocesses to reap, see ``process.py``).

4. **Stream faults** (``stream_faults``): None, or the fault plan of a simulation
   (``coroloop.testing.Faults``, ``testing/faults.py``), which wraps the socket of
   every stream transport made on the loop so that its reads and writes are cut
   short or reset by the simulation's seed.

Everything the host holds is per loop; none of it is shared between loops.
"""

from __future__ import annotations

import weakref

from .._core.readiness import fileobj_to_fd
from .process import ChildRegistry

__all__ = ["TransportHost"]


class TransportHost:
    """One loop's registry of transports, and its readiness API for their owners."""

    __slots__ = ("add_reader", "add_writer", "remove_reader", "remove_writer",
                 "sock_waiters", "children", "stream_faults", "_transports")

    def __init__(self, readiness) -> None:
        """*readiness*: the loop's ``_core.readiness.Readiness``."""
        # Bound once: a transport's registrations are one call into the core.
        self.add_reader = readiness.add_reader
        self.add_writer = readiness.add_writer
        self.remove_reader = readiness.remove_reader
        self.remove_writer = readiness.remove_writer
        #: (fd, writable) -> the sock_* future whose callback is registered on fd.
        self.sock_waiters: dict = {}
        #: The loop's unreaped subprocesses.
        self.children = ChildRegistry()
        #: A simulation's fault plan for stream sockets (item 4 above), or None.
        self.stream_faults = None
        # fd -> live transport.  Weak: a transport dropped without close() is
        # reported by its own __del__, and must not be kept alive by us.
        self._transports: weakref.WeakValueDictionary = weakref.WeakValueDictionary()

    # -- the registry ----------------------------------------------------------------
    def register(self, fd: int, transport) -> None:
        """*transport* owns *fd* from now on."""
        self._transports[fd] = transport

    def forget(self, fd: int, transport) -> None:
        """*transport* no longer owns *fd* (its socket is closed, or lent out)."""
        if self._transports.get(fd) is transport:
            del self._transports[fd]

    def owner(self, fd: int):
        """The live transport owning *fd*, or None."""
        return self._transports.get(fd)

    def ensure_free(self, fileobj) -> None:
        """RuntimeError if a transport that is not closing owns *fileobj*'s descriptor
        (ValueError if *fileobj* has no usable ``fileno()``)."""
        transport = self._transports.get(fileobj_to_fd(fileobj))
        if transport is not None and not transport.is_closing():
            raise RuntimeError(f"File descriptor {fileobj!r} is used by transport "
                               f"{transport!r}; use the transport's methods, or close it first")

    # -- the loop closes -------------------------------------------------------------
    def close(self) -> list:
        """The loop has closed: free the sockets of the transports still registered
        and hand the children to a reaper.  Returns the transports that were not
        even closing (the loop warns about them)."""
        leftover = list(self._transports.values())
        unclosed = [transport for transport in leftover if not transport.is_closing()]
        self._transports.clear()
        self.sock_waiters.clear()
        self.children.close()
        for transport in leftover:
            transport._release_at_loop_close()
        return unclosed

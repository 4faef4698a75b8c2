"""NetworkingMixin: the loop methods of the socket layer, composed.

It also keeps the loop's **transport registry**: which descriptor belongs to which
live socket transport.  Through it the loop refuses ``add_reader``/``add_writer``/
``remove_*``/``sock_*`` on a descriptor a transport owns (its callbacks would be
silently replaced, as asyncio's ``_ensure_fd_no_transport`` prevents), and closing
the loop releases the sockets of transports nobody closed, with a ResourceWarning.

Transports register their own callbacks through the unchecked ``_add_reader_raw``
& co., which go straight to the next ``add_reader`` in the MRO (the core's).
"""

from __future__ import annotations

import warnings
import weakref

from . import tls_transport
from .dns import DNSMethods
from .sockets import SocketMethods
from .tcp import TCPMethods
from .udp import UDPMethods
from .unix import UnixMethods

__all__ = ["NetworkingMixin"]



def _fd_of(fileobj) -> int:
    if isinstance(fileobj, int):
        return fileobj
    try:
        return int(fileobj.fileno())
    except (AttributeError, TypeError, ValueError):
        raise ValueError(f"Invalid file object: {fileobj!r}") from None


class NetworkingMixin(SocketMethods, DNSMethods, TCPMethods, UnixMethods, UDPMethods):
    """Socket networking for an event loop: put it before the core loop in the bases."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # fd -> live transport.  Weak: a transport dropped without close() is reported
        # by its own __del__, and must not be kept alive by us.
        self._net_transports = weakref.WeakValueDictionary()
        # (fd, writable) -> the future of the sock_* operation whose callback is
        # registered on fd (see SocketMethods._watch_until_done).
        self._net_sock_waiters = {}

    # -- the registry ----------------------------------------------------------------
    def _register_transport(self, fd, transport) -> None:
        self._net_transports[fd] = transport

    def _forget_transport(self, fd, transport) -> None:
        if self._net_transports.get(fd) is transport:
            del self._net_transports[fd]

    def _ensure_fd_no_transport(self, fd) -> None:
        fileno = _fd_of(fd)
        transport = self._net_transports.get(fileno)
        if transport is not None and not transport.is_closing():
            raise RuntimeError(f"File descriptor {fd!r} is used by transport {transport!r}; "
                               "use the transport's methods, or close it first")

    # -- checked public readiness API ------------------------------------------------
    def add_reader(self, fd, callback, *args):
        self._ensure_fd_no_transport(fd)
        return super().add_reader(fd, callback, *args)

    def add_writer(self, fd, callback, *args):
        self._ensure_fd_no_transport(fd)
        return super().add_writer(fd, callback, *args)

    def remove_reader(self, fd):
        self._ensure_fd_no_transport(fd)
        return super().remove_reader(fd)

    def remove_writer(self, fd):
        self._ensure_fd_no_transport(fd)
        return super().remove_writer(fd)

    # -- unchecked, for this layer's transports, servers and sock_* -------------------
    def _add_reader_raw(self, fd, callback, *args):
        super().add_reader(fd, callback, *args)

    def _add_writer_raw(self, fd, callback, *args):
        super().add_writer(fd, callback, *args)

    def _remove_reader_raw(self, fd):
        return super().remove_reader(fd)

    def _remove_writer_raw(self, fd):
        return super().remove_writer(fd)

    # -- closing ---------------------------------------------------------------------
    def close(self) -> None:
        if self.is_running() or self.is_closed():
            return super().close()
        leftover = list(self._net_transports.values())
        unclosed = [t for t in leftover if not t.is_closing()]
        self._net_transports.clear()
        super().close()
        # Their connection_lost can no longer run: release the sockets, then say so
        # (after the loop is fully closed, in case warnings are errors).
        for transport in leftover:
            transport._release_at_loop_close()
        for transport in unclosed:
            warnings.warn(f"unclosed transport {transport!r} when closing {self!r}",
                              ResourceWarning, source=transport)

    async def start_tls(self, transport, protocol, sslcontext, *, server_side=False,
                        server_hostname=None, ssl_handshake_timeout=None,
                        ssl_shutdown_timeout=None):
        """Upgrade an existing connection to TLS; returns the new transport."""
        return await tls_transport.start_tls(
            self, transport, protocol, sslcontext, server_side=server_side,
            server_hostname=server_hostname, ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout)

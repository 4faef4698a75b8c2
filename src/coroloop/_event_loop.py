"""coroloop.EventLoop: the core scheduler plus the networking layer's loop methods.

``EventLoop`` is two coroloop classes: ``CoreEventLoop`` (``_core/loop.py``: the
scheduler and its components) and this one, which adds asyncio's networking,
pipe, subprocess and signal methods.  Each of those is a function of the loop in
the ``_net`` module named beside it, bound here as a method -- the class body is
the table of which module implements which method.  The state they keep on the
loop is one ``TransportHost`` (``_net/host.py``, the interface between the loop
and its transports) and the loop's ``SignalHandlers`` (``_net/signals.py``).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from ._core.loop import CoreEventLoop
from ._net import dns, pipes, process, sockets, tcp, tls_transport, udp, unix
from ._net.host import TransportHost
from ._net.signals import SignalHandlers

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVarTuple, Unpack


    from ._core.clock import Clock
    from ._core.poller import Poller
    from ._core.typed import FileDescriptorLike

    _Ts = TypeVarTuple("_Ts")

__all__ = ["EventLoop", "new_event_loop"]


class EventLoop(CoreEventLoop):
    """coroloop's event loop: an ``asyncio.AbstractEventLoop`` written from scratch."""

    def __init__(self, *, clock: Clock | None = None, poller: Poller | None = None,
                 scheduler: Any = None) -> None:
        super().__init__(clock=clock, poller=poller, scheduler=scheduler)
        #: What transports, servers and sock_* use of this loop beyond its public API.
        self._io = TransportHost(self._readiness)
        #: Unix signal handlers (add_signal_handler); holds no OS resource until used.
        self._signals = SignalHandlers(self)

    # -- readiness: the public API refuses a descriptor a live transport owns --------
    # (its callbacks would be silently replaced, as asyncio's _ensure_fd_no_transport
    # prevents); the transports register theirs through self._io.
    def add_reader(self, fd: FileDescriptorLike, callback: Callable[[Unpack[_Ts]], Any],
                   *args: Unpack[_Ts]) -> None:
        """Call ``callback(*args)`` whenever *fd* (a descriptor or an object with
        ``fileno()``) is readable; replaces the reader *fd* had."""
        self._io.ensure_free(fd)
        super().add_reader(fd, callback, *args)

    def add_writer(self, fd: FileDescriptorLike, callback: Callable[[Unpack[_Ts]], Any],
                   *args: Unpack[_Ts]) -> None:
        """Call ``callback(*args)`` whenever *fd* is writable; replaces the writer *fd* had."""
        self._io.ensure_free(fd)
        super().add_writer(fd, callback, *args)

    def remove_reader(self, fd: FileDescriptorLike) -> bool:
        """Stop watching *fd* for reading; return True if it had a reader."""
        self._io.ensure_free(fd)
        return super().remove_reader(fd)

    def remove_writer(self, fd: FileDescriptorLike) -> bool:
        """Stop watching *fd* for writing; return True if it had a writer."""
        self._io.ensure_free(fd)
        return super().remove_writer(fd)

    # -- name resolution (_net/dns.py) -----------------------------------------------
    getaddrinfo = dns.getaddrinfo
    getnameinfo = dns.getnameinfo

    # -- socket operations (_net/sockets.py) -----------------------------------------
    sock_recv = sockets.sock_recv
    sock_recv_into = sockets.sock_recv_into
    sock_recvfrom = sockets.sock_recvfrom
    sock_recvfrom_into = sockets.sock_recvfrom_into
    sock_accept = sockets.sock_accept
    sock_sendto = sockets.sock_sendto
    sock_sendall = sockets.sock_sendall
    sock_connect = sockets.sock_connect
    sock_sendfile = sockets.sock_sendfile

    # -- streams: TCP (_net/tcp.py), Unix sockets (_net/unix.py), TLS -----------------
    create_connection = tcp.create_connection
    create_server = tcp.create_server
    connect_accepted_socket = tcp.connect_accepted_socket
    sendfile = tcp.sendfile
    create_unix_connection = unix.create_unix_connection
    create_unix_server = unix.create_unix_server
    start_tls = tls_transport.start_tls

    # -- datagrams (_net/udp.py) -----------------------------------------------------
    # (typeshed's signature keeps reuse_address=, which asyncio refuses since 3.11)
    create_datagram_endpoint = udp.create_datagram_endpoint  # type: ignore[assignment]

    # -- pipes (_net/pipes.py) and subprocesses (_net/process.py) ---------------------
    connect_read_pipe = pipes.connect_read_pipe
    connect_write_pipe = pipes.connect_write_pipe
    subprocess_exec = process.subprocess_exec
    subprocess_shell = process.subprocess_shell

    # -- signals (_net/signals.py) ---------------------------------------------------
    def add_signal_handler(self, sig: int, callback: Callable[[Unpack[_Ts]], object],
                           *args: Unpack[_Ts]) -> None:
        """Run ``callback(*args)`` on this loop each time signal *sig* arrives.

        Main thread only (RuntimeError otherwise); TypeError for a coroutine
        function; ValueError for an invalid signal number, RuntimeError for one
        that cannot be caught (SIGKILL, SIGSTOP).
        """
        self._signals.add(sig, callback, *args)

    def remove_signal_handler(self, sig: int) -> bool:
        """Restore *sig*'s default disposition; False if no handler was installed."""
        return self._signals.remove(sig)

    # -- closing ---------------------------------------------------------------------
    def close(self) -> None:
        """Close the loop (it must not be running): pending callbacks are dropped and the
        poller and the default executor released.  Closing twice is allowed."""
        if self.is_running() or self.is_closed():
            super().close()  # raises, or does nothing
            return
        super().close()
        self._signals.close()
        # Their connection_lost can no longer run: the host frees the transports'
        # sockets; we say so after the loop is fully closed (warnings may be errors).
        for transport in self._io.close():
            warnings.warn(f"unclosed transport {transport!r} when closing {self!r}",
                          ResourceWarning, source=transport)


# The functions bound above are the loop's methods, and named so: a TypeError for a
# bad argument reads "EventLoop.create_connection() got ...", as asyncio's names
# its class, and tracebacks and reprs say which method it is.
for _name, _function in vars(EventLoop).items():
    if getattr(_function, "__module__", "").startswith("coroloop._net."):
        _function.__qualname__ = f"EventLoop.{_name}"
del _name, _function


def new_event_loop(**kwargs: Any) -> EventLoop:
    """A new coroloop event loop (also usable as ``loop_factory`` for asyncio.run).

    Keyword arguments: ``clock`` (a ``coroloop.Clock``), ``poller`` and ``scheduler``
    (a scheduling policy from ``coroloop.testing``: ``FIFO()``, the default,
    ``RandomOrder(seed)``, ``PCT(seed, depth=3)``).
    """
    return EventLoop(**kwargs)

"""Stream connections and servers: create_connection (with Happy Eyeballs),
create_server and its Server, connect_accepted_socket, loop.sendfile.

The pieces shared with Unix sockets (``open_stream_transport``, ``Server``) live here
too; ``unix.py`` only adds what differs (paths instead of addresses).
"""

from __future__ import annotations

import collections
import collections.abc
import enum
import errno
import os
import socket
import sys
from asyncio import exceptions, protocols, transports
from asyncio.events import AbstractServer
from asyncio.log import logger
from asyncio.trsock import TransportSocket

from .. import _bridge
from .._core.futures import set_result_if_pending
from .._core.tasks import skip_task_number
from . import tls_transport
from .dns import resolve
from .flowcontrol import tell_protocol
from .statemachine import check_transition
from .sockets import check_not_ssl_socket, check_sendfile_args, copy_file_in_blocks
from .transports import SocketTransport

__all__ = ["create_connection", "create_server", "connect_accepted_socket", "sendfile",
           "Server", "open_stream_transport", "connect_stream_protocol",
           "interleave_addrinfos", "set_reuse_port", "yield_once"]

#: After accept() failed for lack of resources (EMFILE & co.) a listener stops
#: accepting until one of the server's own connections closes (that frees a
#: descriptor), or -- the fallback, for descriptors freed elsewhere -- for this many
#: seconds (asyncio's fixed delay).  Tests lower it.
ACCEPT_RETRY_DELAY = 1.0
# accept() errors that mean "out of resources", not "this listener is broken".
_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_HAS_IPV6 = socket.has_ipv6 and hasattr(socket, "IPPROTO_IPV6")
# Chunk size of the loop.sendfile() fallback (write()s through the transport).
_SENDFILE_FALLBACK_CHUNK = 16 * 1024
# What the Happy Eyeballs timer completes its wake-up future with.
_TIMER = object()


def yield_once(loop):
    """An awaitable that lets the loop run one iteration."""
    fut = loop.create_future()
    loop.call_soon(set_result_if_pending, fut)
    return fut


def set_reuse_port(sock) -> None:
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("reuse_port not supported by socket module")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except OSError:
        raise ValueError("reuse_port not supported by socket module, "
                         "SO_REUSEPORT defined but not implemented.") from None


def _bind_error(exc: OSError, address) -> OSError:
    reason = (str(exc) if _bridge.BIND_ERROR_SHOWS_WHOLE_ERROR or not exc.strerror
              else exc.strerror).lower()
    return OSError(exc.errno, f"error while attempting to bind on address {address!r}: {reason}")


def interleave_addrinfos(infos, first_family_count=1):
    """Order addresses for Happy Eyeballs (RFC 8305 §4): *first_family_count* of the
    first family, then alternate between families, each keeping its own order."""
    by_family = collections.OrderedDict()
    for info in infos:
        by_family.setdefault(info[0], collections.deque()).append(info)
    queues = list(by_family.values())
    ordered = []
    if first_family_count > 1 and queues:
        first = queues[0]
        for _ in range(min(first_family_count - 1, len(first))):
            ordered.append(first.popleft())
    while any(queues):
        for queue in queues:
            if queue:
                ordered.append(queue.popleft())
    return ordered


def _combined_connect_error(errors, all_errors):
    if all_errors:
        return ExceptionGroup("create_connection failed", errors)
    if len(errors) == 1:
        return errors[0]
    model = str(errors[0])
    if all(str(exc) == model for exc in errors):
        return errors[0]
    return OSError("Multiple exceptions: {}".format(", ".join(str(exc) for exc in errors)))


async def open_stream_transport(loop, sock, protocol, sslcontext=None, *, server_side=False,
                                server_hostname=None, ssl_handshake_timeout=None,
                                ssl_shutdown_timeout=None, server=None, extra=None):
    """Wrap a connected non-blocking socket in a transport (TLS over it when
    *sslcontext*); return once ``protocol.connection_made`` ran (and the handshake is
    done).  On failure or cancellation the connection is closed."""
    waiter = loop.create_future()
    if sslcontext:
        tls = tls_transport.TLSProtocol(
            loop, protocol, sslcontext, waiter, server_side, server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout)
        raw = SocketTransport(loop, sock, tls, None, extra, server)
        transport = tls.app_transport
    else:
        raw = transport = SocketTransport(loop, sock, protocol, waiter, extra, server)
    try:
        await waiter
    except BaseException:
        # A failed handshake has nothing to flush: abort the raw connection.
        raw.abort() if sslcontext else raw.close()
        # This frame stays in the exception's traceback: it must not keep the
        # exception (in the waiter) or the connection alive (gh-159049's cycle).
        waiter = tls = raw = transport = None
        raise
    return transport


async def connect_stream_protocol(loop, sock, protocol_factory, sslcontext, *,
                                  server_side=False, server_hostname=None,
                                  ssl_handshake_timeout=None, ssl_shutdown_timeout=None):
    """create_connection & co.'s common end: a new protocol on the connected *sock*
    (made non-blocking); ``(transport, protocol)`` once connection_made ran."""
    sock.setblocking(False)
    protocol = protocol_factory()
    transport = await open_stream_transport(
        loop, sock, protocol, sslcontext, server_side=server_side,
        server_hostname=server_hostname, ssl_handshake_timeout=ssl_handshake_timeout,
        ssl_shutdown_timeout=ssl_shutdown_timeout)
    return transport, protocol


class _ServerState(enum.Enum):
    #: The listening sockets are bound; not accepting yet.
    IDLE = "idle"
    #: Accepting connections.
    SERVING = "serving"
    #: close() was called: the listening sockets are closed.
    CLOSED = "closed"


#: Every allowed transition of Server._state (through _set_state).
_SERVER_TRANSITIONS: dict[_ServerState, frozenset[_ServerState]] = {
    _ServerState.IDLE: frozenset({_ServerState.SERVING, _ServerState.CLOSED}),
    _ServerState.SERVING: frozenset({_ServerState.CLOSED}),
    _ServerState.CLOSED: frozenset(),
}


class Server(AbstractServer):
    """Listening sockets accepting connections for a protocol factory.

    ``wait_closed()`` returns once the server is closed *and* every connection it
    accepted is gone, on every Python version (3.12.1's fix of gh-79033; 3.11's
    returned at once when called after close()).  ``close_clients()`` and
    ``abort_clients()`` (3.13) are provided on all versions.
    """

    def __init__(self, loop, sockets, protocol_factory, sslcontext, backlog,
                 ssl_handshake_timeout=None, ssl_shutdown_timeout=None, on_close=None):
        self._loop = loop
        self._io = loop._io                    # the loop's TransportHost (host.py)
        self._sockets = list(sockets)
        self._protocol_factory = protocol_factory
        self._sslcontext = sslcontext
        self._backlog = backlog
        self._ssl_handshake_timeout = ssl_handshake_timeout
        self._ssl_shutdown_timeout = ssl_shutdown_timeout
        self._on_close = on_close              # extra cleanup (Unix socket files)
        self._state = _ServerState.IDLE
        self._clients = set()                  # transports of live accepted connections
        self._closed_waiters = []              # wait_closed() futures
        self._serve_forever_fut = None
        self._accept_retries = {}              # fd -> TimerHandle (accept paused, EMFILE)
        # From the first accept() that failed for lack of resources until the queue of
        # waiting connections is empty again (the server caught up): the condition
        # is reported once per such episode, however often accept() fails in it.
        self._out_of_resources = False

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} {self._state.value} sockets={self.sockets!r}>"

    def _set_state(self, new: _ServerState) -> None:
        check_transition(_SERVER_TRANSITIONS, self, self._state, new)
        self._state = new

    # -- AbstractServer --------------------------------------------------------------
    def get_loop(self):
        """The loop the server runs on."""
        return self._loop

    def is_serving(self) -> bool:
        """True while the server accepts connections."""
        return self._state is _ServerState.SERVING

    @property
    def sockets(self):
        """The listening sockets (empty once closed)."""
        if self._state is _ServerState.CLOSED:
            return ()
        return tuple(TransportSocket(sock) for sock in self._sockets)

    async def start_serving(self) -> None:
        """Start accepting connections (create_server(start_serving=False))."""
        self._start_serving()
        await yield_once(self._loop)

    async def serve_forever(self) -> None:
        """Accept connections until cancelled; the server is closed then."""
        if self._serve_forever_fut is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._state is _ServerState.CLOSED:
            raise RuntimeError(f"server {self!r} is closed")
        self._start_serving()
        self._serve_forever_fut = forever = self._loop.create_future()
        try:
            await forever
        except exceptions.CancelledError:
            # Cancelled (or close() was called): stop and wait for the connections --
            # 3.14+ closes them first, so a client that hangs cannot hang us.
            try:
                self.close()
                if _bridge.SERVE_FOREVER_CANCEL_CLOSES_CLIENTS:
                    self.close_clients()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serve_forever_fut = None

    def close(self) -> None:
        """Stop listening; the connections already accepted stay open."""
        if self._state is _ServerState.CLOSED:
            return
        self._set_state(_ServerState.CLOSED)
        for timer in self._accept_retries.values():
            timer.cancel()
        self._accept_retries.clear()
        for sock in self._sockets:
            self._io.remove_reader(sock.fileno())
        if self._on_close is not None:
            self._on_close()
        for sock in self._sockets:
            sock.close()
        forever = self._serve_forever_fut
        if forever is not None and not forever.done():
            forever.cancel()
        self._wake_if_finished()

    def close_clients(self) -> None:
        """Close every connection the server accepted (3.13 API, on every version)."""
        for transport in list(self._clients):
            transport.close()

    def abort_clients(self) -> None:
        """Abort every connection the server accepted, without flushing (3.13 API)."""
        for transport in list(self._clients):
            transport.abort()

    async def wait_closed(self) -> None:
        """Wait until the server is closed and every connection it accepted is gone."""
        if self._state is _ServerState.CLOSED and not self._clients:
            return
        waiter = self._loop.create_future()
        self._closed_waiters.append(waiter)
        await waiter

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        self.close()
        await self.wait_closed()

    # -- connections (called by SocketTransport) -------------------------------------
    def _attach(self, transport) -> None:
        self._clients.add(transport)

    def _detach(self, transport) -> None:
        self._clients.discard(transport)  # its socket is closed: one descriptor free
        if self._accept_retries:
            self._resume_all_accepting()
        self._wake_if_finished()

    def _wake_if_finished(self) -> None:
        if self._state is not _ServerState.CLOSED or self._clients:
            return
        waiters, self._closed_waiters = self._closed_waiters, []
        for waiter in waiters:
            set_result_if_pending(waiter)

    # -- accepting -------------------------------------------------------------------
    def _start_serving(self) -> None:
        if self._state is _ServerState.CLOSED:
            raise RuntimeError(f"server {self!r} is closed: it cannot start serving again")
        if self._state is _ServerState.SERVING:
            return
        self._set_state(_ServerState.SERVING)
        for sock in self._sockets:
            sock.listen(self._backlog)
            self._io.add_reader(sock.fileno(), self._accept_ready, sock)

    def _accept_ready(self, sock) -> None:
        loop = self._loop
        # Bounded, so a flood of connections on one listener cannot starve the loop.
        for _ in range(self._backlog):
            try:
                conn, address = sock.accept()
            except (BlockingIOError, InterruptedError):
                self._out_of_resources = False  # nobody left waiting: caught up
                return
            except ConnectionAbortedError:
                continue  # reset while queued; others may be waiting
            except OSError as exc:
                if exc.errno not in _RESOURCE_ERRNOS:
                    raise  # the loop reports it; the listener stays registered
                if not self._out_of_resources:
                    self._out_of_resources = True
                    loop.call_exception_handler({
                        "message": "socket.accept() out of system resource",
                        "exception": exc,
                        "socket": TransportSocket(sock),
                    })
                self._pause_accepting(sock)
                return
            conn.setblocking(False)
            self._accepted(conn, address)

    def _pause_accepting(self, sock) -> None:
        """Out of descriptors: stop accepting until one of our connections closes
        (``_detach``) or ACCEPT_RETRY_DELAY passes.  Connections already served go on,
        and closing them is what frees descriptors for the next accept."""
        fd = sock.fileno()
        self._io.remove_reader(fd)
        self._accept_retries[fd] = self._loop.call_later(
            ACCEPT_RETRY_DELAY, self._resume_accepting, sock)

    def _resume_accepting(self, sock) -> None:
        timer = self._accept_retries.pop(sock.fileno(), None)
        if timer is not None:
            timer.cancel()  # a no-op when it is the timer calling us
        if self._state is _ServerState.SERVING:
            self._io.add_reader(sock.fileno(), self._accept_ready, sock)

    def _resume_all_accepting(self) -> None:
        for sock in self._sockets:
            if sock.fileno() in self._accept_retries:
                self._resume_accepting(sock)

    def _accepted(self, conn, address) -> None:
        extra = {"peername": address}
        if self._sslcontext:
            self._loop.create_task(self._accept_tls(conn, extra))
            return
        # asyncio sets the connection up in a task of its own; we do it inline,
        # but the task's Task-N number is used up the same.
        skip_task_number()
        try:
            protocol = self._protocol_factory()
            SocketTransport(self._loop, conn, protocol, None, extra, self)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            conn.close()
            self._loop.call_exception_handler({
                "message": "Error on transport creation for incoming connection",
                "exception": exc,
            })

    async def _accept_tls(self, conn, extra) -> None:
        protocol = None
        try:
            protocol = self._protocol_factory()
            await open_stream_transport(
                self._loop, conn, protocol, self._sslcontext, server_side=True,
                ssl_handshake_timeout=self._ssl_handshake_timeout,
                ssl_shutdown_timeout=self._ssl_shutdown_timeout, server=self, extra=extra)
        except (SystemExit, KeyboardInterrupt, exceptions.CancelledError):
            if protocol is None:
                conn.close()
            raise
        except BaseException as exc:
            if protocol is None:
                conn.close()
            # A failed handshake is the client's business; say so only when debugging.
            if self._loop.get_debug():
                context = {"message": "Error on transport creation for incoming connection",
                           "exception": exc}
                if protocol is not None:
                    context["protocol"] = protocol
                self._loop.call_exception_handler(context)


class _SendfileFlow(protocols.Protocol):
    """Stands in for a transport's protocol while loop.sendfile() falls back to
    write(): it holds reading back and turns pause/resume_writing into a future the
    sender waits on between chunks.  ``restore()`` puts the real protocol back."""

    def __init__(self, loop, transport):
        self._loop = loop
        self._transport = transport
        self._app = transport.get_protocol()
        self._resume_reading = transport.is_reading()
        low, high = transport.get_write_buffer_limits()
        # The app was told pause_writing() iff the buffer is above the high-water mark.
        self._app_paused = transport.get_write_buffer_size() > high
        self._writable = loop.create_future() if self._app_paused else None
        self._lost = None  # ConnectionError once connection_lost was called
        transport.pause_reading()
        transport.set_protocol(self)

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    def data_received(self, data) -> None:
        raise RuntimeError("invalid state: reading should be paused during sendfile")

    def eof_received(self) -> bool:
        raise RuntimeError("invalid state: reading should be paused during sendfile")

    def connection_lost(self, exc) -> None:
        self._lost = exc if exc is not None else ConnectionError("Connection is closed by peer")
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_exception(self._lost)
        self._app.connection_lost(exc)

    async def drain(self) -> None:
        if self._lost is not None or self._transport.is_closing():
            raise ConnectionError("Connection closed by peer")
        if self._writable is not None:
            await self._writable

    def restore(self) -> None:
        self._transport.set_protocol(self._app)
        if self._lost is not None:
            return
        if self._resume_reading:
            self._transport.resume_reading()
        paused_now = self._writable is not None
        if self._app_paused and not paused_now:
            tell_protocol(self._loop, self._app, "resume_writing", self._transport)
        elif paused_now and not self._app_paused:
            tell_protocol(self._loop, self._app, "pause_writing", self._transport)


async def create_connection(
        loop, protocol_factory, host=None, port=None, *, ssl=None, family=0, proto=0,
        flags=0, sock=None, local_addr=None, server_hostname=None,
        ssl_handshake_timeout=None, ssl_shutdown_timeout=None,
        happy_eyeballs_delay=None, interleave=None, all_errors=False):
    """Open a TCP connection (optionally TLS) to *host*:*port* or over *sock*;
    return ``(transport, protocol)``.  Keywords as asyncio's, ``happy_eyeballs_delay``
    and ``interleave`` included."""
    if server_hostname is None and ssl:
        # Verify the certificate against the host we connect to (asyncio's rule).
        if not host:
            raise ValueError("You must set server_hostname when using ssl without a host")
        server_hostname = host
    tls_transport.check_ssl_arguments(ssl, server_hostname, ssl_handshake_timeout,
                                      ssl_shutdown_timeout)
    if sock is not None:
        check_not_ssl_socket(sock)
    if happy_eyeballs_delay is not None and interleave is None:
        interleave = 1  # RFC 8305's recommendation, as asyncio

    if host is not None or port is not None:
        if sock is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        infos = await resolve(loop, (host, port), family=family, type=socket.SOCK_STREAM,
                              proto=proto, flags=flags)
        local_infos = None
        if local_addr is not None:
            local_infos = await resolve(loop, local_addr, family=family,
                                        type=socket.SOCK_STREAM, proto=proto, flags=flags)
        if interleave:
            infos = interleave_addrinfos(infos, interleave)
        sock = await _connect_first(loop, infos, local_infos, happy_eyeballs_delay,
                                    all_errors)
    else:
        if sock is None:
            raise ValueError("host and port was not specified and no sock specified")
        if sock.type != socket.SOCK_STREAM:
            raise ValueError(f"A Stream Socket was expected, got {sock!r}")

    transport, protocol = await connect_stream_protocol(
        loop, sock, protocol_factory, ssl, server_hostname=server_hostname,
        ssl_handshake_timeout=ssl_handshake_timeout,
        ssl_shutdown_timeout=ssl_shutdown_timeout)
    if loop.get_debug():
        logger.debug("%r connected to %s:%r: (%r, %r)", sock, host, port,
                     transport, protocol)
    return transport, protocol


async def _connect_first(loop, infos, local_infos, delay, all_errors):
    """Connect to the first address of *infos* that answers; a connected socket."""
    errors = []
    try:
        if delay is None:
            for info in infos:
                try:
                    return await _connect_one(loop, info, local_infos)
                except OSError as exc:
                    errors.append(exc)
        else:
            sock = await _connect_staggered(loop, infos, local_infos, delay, errors)
            if sock is not None:
                return sock
        raise _combined_connect_error(errors, all_errors)
    finally:
        errors = None  # no cycle through the tracebacks


async def _connect_one(loop, info, local_infos):
    family, type_, proto, _, address = info
    sock = None
    try:
        sock = socket.socket(family, type_, proto)
        sock.setblocking(False)
        if local_infos is not None:
            _bind_local(sock, family, local_infos)
        await loop.sock_connect(sock, address)
        return sock
    except BaseException:
        if sock is not None:
            sock.close()
        raise


def _bind_local(sock, family, local_infos) -> None:
    failure = None
    for lfamily, _, _, _, laddr in local_infos:
        if lfamily != family:
            continue
        try:
            sock.bind(laddr)
            return
        except OSError as exc:
            failure = _bind_error(exc, laddr)
    if failure is not None:
        raise failure
    raise OSError(f"no matching local address with family={family!r} found")


async def _connect_staggered(loop, infos, local_infos, delay, errors):
    """Happy Eyeballs: start an attempt, and the next one when an attempt fails or
    *delay* seconds after the last start; the first to connect wins and the others
    are cancelled.  None when every attempt failed (errors are in *errors*)."""
    running = []
    pending = list(reversed(infos))
    wake = None
    launch_next = True

    def on_attempt_done(_task):
        if wake is not None and not wake.done():
            wake.set_result(None)

    try:
        while True:
            if pending and (launch_next or not running):
                task = loop.create_task(_connect_one(loop, pending.pop(), local_infos))
                task.add_done_callback(on_attempt_done)
                running.append(task)
                next_launch_at = loop.time() + delay
            if not running:
                return None
            wake = loop.create_future()
            timer = None
            if pending:
                timer = loop.call_at(next_launch_at, set_result_if_pending, wake, _TIMER)
            try:
                await wake
            finally:
                if timer is not None:
                    timer.cancel()
            # A done callback may wake us after we already saw its task finish:
            # only a timeout or a failure starts the next attempt.
            launch_next = wake.result() is _TIMER
            for task in [t for t in running if t.done()]:
                running.remove(task)
                exc = task.exception()
                if exc is None:
                    return task.result()
                if not isinstance(exc, OSError):
                    raise exc
                errors.append(exc)
                launch_next = True
    finally:
        for task in running:
            if task.done() and not task.cancelled() and task.exception() is None:
                task.result().close()  # connected too late
            else:
                task.remove_done_callback(on_attempt_done)
                task.cancel()


async def create_server(
        loop, protocol_factory, host=None, port=None, *, family=socket.AF_UNSPEC,
        flags=socket.AI_PASSIVE, sock=None, backlog=100, ssl=None, reuse_address=None,
        reuse_port=None, keep_alive=None, ssl_handshake_timeout=None,
        ssl_shutdown_timeout=None, start_serving=True):
    """Listen on *host*:*port* (every address it resolves to) or on *sock*;
    each connection gets a protocol from *protocol_factory*.  Return the Server
    (serving at once unless ``start_serving=False``)."""
    if isinstance(ssl, bool):
        raise TypeError("ssl argument must be an SSLContext or None")
    tls_transport.check_ssl_arguments(ssl, None, ssl_handshake_timeout,
                                      ssl_shutdown_timeout)
    if sock is not None:
        check_not_ssl_socket(sock)

    if host is not None or port is not None:
        if sock is not None:
            raise ValueError("host/port and sock can not be specified at the same time")
        if reuse_address is None:
            reuse_address = os.name == "posix" and sys.platform != "cygwin"
        if host == "" or host is None:
            hosts = [None]
        elif isinstance(host, str) or not isinstance(host, collections.abc.Iterable):
            hosts = [host]
        else:
            hosts = list(host)
        lookups = [loop.create_task(_server_addrinfos(loop, h, port, family, flags))
                   for h in hosts]
        infos = []
        for lookup in lookups:
            for info in await lookup:
                if info not in infos:
                    infos.append(info)
        sockets = _bind_server_sockets(loop, infos, reuse_address, reuse_port, keep_alive)
    else:
        if sock is None:
            raise ValueError("Neither host/port nor sock were specified")
        if sock.type != socket.SOCK_STREAM:
            raise ValueError(f"A Stream Socket was expected, got {sock!r}")
        sockets = [sock]

    for listener in sockets:
        listener.setblocking(False)
    server = Server(loop, sockets, protocol_factory, ssl, backlog,
                    ssl_handshake_timeout, ssl_shutdown_timeout)
    if start_serving:
        server._start_serving()
        await yield_once(loop)
    if loop.get_debug():
        logger.info("%r is serving", server)
    return server


async def _server_addrinfos(loop, host, port, family, flags):
    infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM,
                                   flags=flags)
    if not infos:
        raise OSError(f"getaddrinfo({host!r}) returned empty list")
    return infos


def _bind_server_sockets(loop, infos, reuse_address, reuse_port, keep_alive):
    sockets = []
    done = False
    try:
        for family, type_, proto, _, address in infos:
            try:
                sock = socket.socket(family, type_, proto)
            except OSError:
                if loop.get_debug():
                    logger.warning("create_server() failed to create socket.socket(%r, %r, %r)",
                                   family, type_, proto, exc_info=True)
                continue
            sockets.append(sock)
            if reuse_address:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, True)
            if reuse_port:
                set_reuse_port(sock)
            if keep_alive:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True)
            if _HAS_IPV6 and family == socket.AF_INET6:
                # Dual-stack hosts get one socket per family, not a v4-mapped clash.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, True)
            try:
                sock.bind(address)
            except OSError as exc:
                error = _bind_error(exc, address)
                if exc.errno == errno.EADDRNOTAVAIL and family == socket.AF_INET6:
                    # IPv6 configured off on this host (bpo-30945): skip that family.
                    sockets.pop()
                    sock.close()
                    if loop.get_debug():
                        logger.warning(str(error))
                    continue
                raise error from None
        if not sockets:
            raise OSError("could not bind on any address out of "
                          f"{[info[4] for info in infos]!r}")
        done = True
    finally:
        if not done:
            for sock in sockets:
                sock.close()
    return sockets


async def connect_accepted_socket(loop, protocol_factory, sock, *, ssl=None,
                                  ssl_handshake_timeout=None, ssl_shutdown_timeout=None):
    """Wrap an already connected socket (accepted elsewhere) in a transport
    and the protocol *protocol_factory* returns; return ``(transport, protocol)``."""
    if sock.type != socket.SOCK_STREAM:
        raise ValueError(f"A Stream Socket was expected, got {sock!r}")
    tls_transport.check_ssl_arguments(ssl, None, ssl_handshake_timeout,
                                      ssl_shutdown_timeout)
    check_not_ssl_socket(sock)
    transport, protocol = await connect_stream_protocol(
        loop, sock, protocol_factory, ssl, server_side=True,
        ssl_handshake_timeout=ssl_handshake_timeout,
        ssl_shutdown_timeout=ssl_shutdown_timeout)
    if loop.get_debug():
        logger.debug("%r handled: (%r, %r)", sock, transport, protocol)
    return transport, protocol


# -- loop.sendfile ---------------------------------------------------------------
async def sendfile(loop, transport, file, offset=0, count=None, *, fallback=True):
    """Send *file* over *transport*: zero-copy os.sendfile() on a plain socket
    transport, else (or if that is unavailable) read + write()."""
    if transport.is_closing():
        raise RuntimeError("Transport is closing")
    check_sendfile_args(None, file, offset, count)
    if isinstance(transport, SocketTransport):
        try:
            return await transport._sendfile_native(file, offset, count)
        except exceptions.SendfileNotAvailableError:
            if not fallback:
                raise
    elif isinstance(transport, transports.DatagramTransport) or \
            not isinstance(transport, transports.WriteTransport):
        # (A datagram transport is a WriteTransport too, but has no stream to
        # write a file into.)
        raise NotImplementedError(f"sendfile is not supported for transport {transport!r}")
    elif not fallback:
        raise RuntimeError(f"fallback is disabled and native sendfile is not "
                           f"supported for transport {transport!r}")
    return await _sendfile_through_writes(loop, transport, file, offset, count)


async def _sendfile_through_writes(loop, transport, file, offset, count):
    flow = _SendfileFlow(loop, transport)

    async def write(view):
        await flow.drain()
        transport.write(view)  # sent now or copied: the buffer may be reused

    try:
        sent = await copy_file_in_blocks(loop, file, offset, count,
                                         _SENDFILE_FALLBACK_CHUNK, write)
        await flow.drain()
        return sent
    finally:
        flow.restore()

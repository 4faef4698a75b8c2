"""TLS on top of any stream transport: the glue between a raw transport, a TLSEngine
and the application's protocol.

::

    app protocol  <── SSLTransport (an asyncio.Transport) ──  TLSProtocol  <── raw transport
                       plaintext                            TLSEngine         ciphertext

:class:`TLSProtocol` is the *raw* transport's protocol (a ``BufferedProtocol``): it feeds
ciphertext into a sans-I/O :class:`~coroloop._net.tls.TLSEngine` and writes what the
engine produces back to the raw transport.  :class:`SSLTransport` is what the
application protocol sees.  Only public transport, protocol and loop APIs are used, so
the layer runs on coroloop's socket transports and on the standard library's alike.

Entry points for the rest of coroloop
-------------------------------------
``TLSProtocol(loop, app_protocol, sslcontext, waiter, *, server_side, server_hostname,
ssl_handshake_timeout, ssl_shutdown_timeout, call_connection_made=True)``
    For ``create_connection(ssl=...)`` / ``create_server(ssl=...)``: create the socket
    transport with this object as its protocol; ``.app_transport`` is the transport to
    return to the caller once ``waiter`` is done.  The waiter gets the handshake's
    exception (``ssl.SSLCertVerificationError``, ``ConnectionAbortedError`` on timeout,
    ``ConnectionResetError`` ...); the caller then closes the raw transport and raises
    it, as asyncio's create_connection does.

:func:`wrap_transport`
    Attach a TLSProtocol to a raw transport that already exists and start the handshake
    (returns the app transport at once; await ``waiter`` for the handshake).

:func:`start_tls`
    ``loop.start_tls()``, awaitable: upgrade a connected plain transport in place.

:func:`check_ssl_arguments`
    asyncio's argument validation for ``ssl``/``server_hostname``/timeouts, with its
    exact ValueError messages, for create_connection/create_server/start_server.

States
------
Two machines, each an enum with a note per state, one table of transitions and a
``_set_state`` that fails loudly on any other change (as in ``tls.py``).
``_ConnectionState`` (``_TRANSITIONS``) is the connection's::

    NEW ──raw connection_made──> HANDSHAKING ──handshake done──> OPEN
    OPEN ──close() or the peer's close_notify──> CLOSING ──close_notify exchanged──> DONE
    NEW, HANDSHAKING, OPEN, CLOSING ──abort(), a fatal error, a timeout──> DONE
    any state but LOST ──raw connection_lost──> LOST

``_AppState`` (``_APP_TRANSITIONS``) tracks which of the application protocol's
callbacks were delivered: connection_made, eof_received, connection_lost are each
called at most once, in that order, and connection_lost only if connection_made was::

    WAITING ──connection_made──> CONNECTED ──eof_received──> EOF ──connection_lost──> LOST
    WAITING ──the handshake failed──> LOST        CONNECTED ──connection_lost──> LOST

The application's ``connection_made`` is called only once the handshake is complete,
so ``get_extra_info('peercert')`` works from the start.

Closing: ``close()`` sends close_notify and waits for the peer's (``ssl_shutdown_timeout``,
default 30 s, then the raw transport is aborted and ``connection_lost`` gets
``TimeoutError('SSL shutdown timed out')``; 3.14+: the same timeout covers flushing the
raw transport afterwards, however the session ended).  A peer's close_notify, or a TCP EOF
without one after the handshake (a "ragged EOF", as asyncio accepts it), gives the
application ``eof_received()`` followed by our close_notify and ``connection_lost(None)``:
TLS has no half-close here, so ``can_write_eof()`` is False, as in asyncio.

Differences from asyncio
------------------------
* One write buffer instead of two.  asyncio's SSL transport keeps its own buffer of
  ciphertext (512 KiB high-water mark) in front of the socket transport's (64 KiB).
  Here all ciphertext goes straight to the raw transport, whose ``pause_writing`` /
  ``resume_writing`` are forwarded to the application; the TLS transport's
  ``set_write_buffer_limits`` / ``get_write_buffer_size`` are the raw transport's.
  Backpressure reaches the application earlier, and no byte is copied twice.
* ``pause_reading()`` pauses the raw transport at once, instead of letting up to
  256 KiB of ciphertext pile up first.
* When the handshake fails, the alert OpenSSL produced is sent to the peer before the
  connection closes (asyncio drops it), so the peer learns why.
* A client context with ``check_hostname`` and no ``server_hostname`` is refused by
  the engine (ValueError) where asyncio's ``wrap_bio`` silently skips the hostname
  check (see ``_net/tls.py``).
* If the raw connection is lost during the handshake without an error, the waiter
  gets ``ConnectionResetError`` (asyncio resolves it with success).
"""

from __future__ import annotations

import enum
import ssl
import warnings
from asyncio import BufferedProtocol, Transport
from asyncio.log import logger
from typing import Any

from .. import _bridge
from ._sentinel import NEED_DATA
from .flowcontrol import tell_protocol
from .statemachine import check_transition
from .tls import TLSEngine, TLSState, TLSStateError

__all__ = [
    "TLSProtocol", "SSLTransport", "TLSTransport", "wrap_transport", "start_tls",
    "check_ssl_arguments",
    "make_client_context", "SSL_HANDSHAKE_TIMEOUT", "SSL_SHUTDOWN_TIMEOUT",
]

#: asyncio's defaults (asyncio.constants), in seconds.
SSL_HANDSHAKE_TIMEOUT = 60.0
SSL_SHUTDOWN_TIMEOUT = 30.0

# After this many write() calls on a closed TLS transport, each one logs a warning
# (asyncio.constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES).
_LOG_THRESHOLD_FOR_CONNLOST_WRITES = 5


class _ConnectionState(enum.Enum):
    #: Created; the raw transport has not called connection_made yet.
    NEW = "new"
    #: Handshake in progress (the handshake timer runs).
    HANDSHAKING = "handshaking"
    #: Handshake done: plaintext flows both ways.
    OPEN = "open"
    #: Our close_notify is (being) sent; we wait for the peer's, then close the raw
    #: transport (the shutdown timer runs).  Incoming plaintext is discarded.
    CLOSING = "closing"
    #: The raw transport is closed or closing for good (after an error, an abort,
    #: or the end of the shutdown); only its connection_lost is still awaited.
    DONE = "done"
    #: The raw transport called connection_lost.  Nothing happens any more.
    LOST = "lost"


_C = _ConnectionState

#: Every allowed transition of TLSProtocol._state.  DONE is reachable from every
#: state before it (an abort or a fatal error), LOST from every state (the raw
#: connection can go at any time).
_TRANSITIONS: dict[_ConnectionState, frozenset[_ConnectionState]] = {
    _C.NEW: frozenset({_C.HANDSHAKING, _C.DONE, _C.LOST}),
    _C.HANDSHAKING: frozenset({_C.OPEN, _C.DONE, _C.LOST}),
    _C.OPEN: frozenset({_C.CLOSING, _C.DONE, _C.LOST}),
    _C.CLOSING: frozenset({_C.DONE, _C.LOST}),
    _C.DONE: frozenset({_C.LOST}),
    _C.LOST: frozenset(),
}

# The states compared on the data path, as module globals: reading an enum member
# through its class costs ~10x a global lookup on 3.11.
_HANDSHAKING = _C.HANDSHAKING
_OPEN = _C.OPEN
_CLOSING = _C.CLOSING
_DONE = _C.DONE
_LOST = _C.LOST


class _AppState(enum.Enum):
    #: The application protocol's connection_made has not been called.
    WAITING = "waiting"
    #: connection_made was called.
    CONNECTED = "connected"
    #: eof_received was called too.
    EOF = "eof"
    #: connection_lost was called (or will never be: the handshake failed).
    LOST = "lost"


_A = _AppState

#: Every allowed transition of TLSProtocol._app_state: each callback at most once,
#: in order; connection_lost only after connection_made.
_APP_TRANSITIONS: dict[_AppState, frozenset[_AppState]] = {
    _A.WAITING: frozenset({_A.CONNECTED, _A.LOST}),
    _A.CONNECTED: frozenset({_A.EOF, _A.LOST}),
    _A.EOF: frozenset({_A.LOST}),
    _A.LOST: frozenset(),
}


def _check_timeout(name: str, value: float | None, default: float) -> float:
    if value is None:
        return default
    if value <= 0:
        raise ValueError(f"{name} should be a positive number, got {value}")
    return value


def check_ssl_arguments(
    ssl: Any,
    server_hostname: str | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> None:
    """asyncio's validation of the TLS arguments of create_connection & co."""
    if not ssl:
        for name, value in (("server_hostname", server_hostname),
                            ("ssl_handshake_timeout", ssl_handshake_timeout),
                            ("ssl_shutdown_timeout", ssl_shutdown_timeout)):
            if value is not None:
                raise ValueError(f"{name} is only meaningful with ssl")
        return
    _check_timeout("ssl_handshake_timeout", ssl_handshake_timeout, SSL_HANDSHAKE_TIMEOUT)
    _check_timeout("ssl_shutdown_timeout", ssl_shutdown_timeout, SSL_SHUTDOWN_TIMEOUT)


def make_client_context(sslcontext: Any, server_side: bool,
                        server_hostname: str | None) -> ssl.SSLContext:
    """The SSLContext for ``ssl=sslcontext``: the context itself, or for ``ssl=True``
    the same default as asyncio (``ssl.create_default_context()``: certificates and
    hostname verified; an empty ``server_hostname`` turns hostname matching off)."""
    if isinstance(sslcontext, ssl.SSLContext):
        return sslcontext
    if server_side:
        raise ValueError("Server side SSL needs a valid SSLContext")
    context = ssl.create_default_context()
    if server_hostname == "":
        context.check_hostname = False
    return context


class TLSProtocol(BufferedProtocol):
    """The raw transport's protocol: runs a TLSEngine between it and the app protocol."""

    def __init__(
        self,
        loop,
        app_protocol,
        sslcontext: ssl.SSLContext | bool | None,
        waiter=None,
        server_side: bool = False,
        server_hostname: str | None = None,
        *,
        call_connection_made: bool = True,
        ssl_handshake_timeout: float | None = None,
        ssl_shutdown_timeout: float | None = None,
    ) -> None:
        self._handshake_timeout = _check_timeout(
            "ssl_handshake_timeout", ssl_handshake_timeout, SSL_HANDSHAKE_TIMEOUT)
        self._shutdown_timeout = _check_timeout(
            "ssl_shutdown_timeout", ssl_shutdown_timeout, SSL_SHUTDOWN_TIMEOUT)
        context = make_client_context(sslcontext, server_side, server_hostname)
        self._engine = TLSEngine(context, server_side=server_side,
                                 server_hostname=server_hostname)
        self._loop = loop
        self._waiter = waiter
        self._raw: Any = None  # the raw transport, between connection_made and _lost
        #: Changed only by _set_state, along _TRANSITIONS.
        self._state = _ConnectionState.NEW
        #: Changed only by _set_app_state, along _APP_TRANSITIONS.
        #: start_tls (call_connection_made false): the app protocol is connected already,
        #: to the plain transport, so it also gets connection_lost if the handshake fails.
        self._app_state = _AppState.WAITING if call_connection_made else _AppState.CONNECTED
        #: 'sslcontext' from the start, the engine's info once the handshake is done.
        #: Other names fall through to the raw transport.
        self._extra: dict[str, Any] = {"sslcontext": context}
        #: The app called pause_reading(): no data_received until resume_reading(), and
        #: the raw transport is paused too.
        self._app_reading_paused = False
        #: The raw transport called our pause_writing() and not resume_writing() yet.
        self._raw_writing_paused = False
        #: We called the app's pause_writing() and not its resume_writing() yet.
        self._app_writing_paused = False
        #: Why the connection ends, for the app's connection_lost (None: cleanly).
        self._close_exc: BaseException | None = None
        self._timer = None  # handshake or shutdown timeout handle
        #: The raw transport got EOF: the peer sends nothing more, so a shutdown does
        #: not send close_notify (as asyncio: a peer that half-closed TCP without
        #: close_notify may even have dropped its TLS layer and would read our alert
        #: as stray bytes), it just closes the connection.
        self._raw_eof = False
        self._writes_after_close = 0
        self._read_buffer = bytearray(64 * 1024)
        self._read_view = memoryview(self._read_buffer)
        self._app_protocol = app_protocol
        self._app_is_buffered = isinstance(app_protocol, BufferedProtocol)
        #: The app transport's close() or abort() was called, or the connection is
        #: gone (SSLTransport.is_closing()).  Kept here, not in the transport, so that
        #: we need no reference to the transport after connection_lost.
        self._app_closing = False
        #: The transport handed to the app; None after connection_lost (see there).
        self._app_transport: Any = SSLTransport(self)  # None once the connection is over

    def __repr__(self) -> str:
        side = "server" if self._engine.server_side else "client"
        return f"<TLSProtocol {side} {self._state.name} engine={self._engine.state.name}>"

    def _set_state(self, new: _ConnectionState) -> None:
        check_transition(_TRANSITIONS, self, self._state, new)
        self._state = new

    def _set_app_state(self, new: _AppState) -> None:
        check_transition(_APP_TRANSITIONS, self, self._app_state, new)
        self._app_state = new

    def _enter_done(self) -> None:
        """The raw transport is (being) closed for good; several paths lead here
        (an abort from inside an app callback during a shutdown, say)."""
        if self._state is not _DONE:
            self._set_state(_DONE)

    @property
    def app_transport(self) -> SSLTransport:
        """The transport to give the application (valid before the handshake too)."""
        return self._app_transport

    # -- the raw transport's callbacks ----------------------------------------------------

    def connection_made(self, transport) -> None:
        if self._state is not _ConnectionState.NEW:
            raise RuntimeError(f"{self!r}: connection_made() called twice")
        self._raw = transport
        self._set_state(_HANDSHAKING)
        self._timer = self._loop.call_later(self._handshake_timeout, self._handshake_timed_out)
        self._advance_handshake()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._read_view

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._read_view[:nbytes])

    def data_received(self, data) -> None:
        state = self._state
        if state is _DONE or state is _LOST:
            return
        self._engine.feed_incoming(data)
        self._process_incoming()

    def eof_received(self) -> bool:
        if self._state is _DONE or self._state is _LOST:
            return False
        self._raw_eof = True
        self._engine.feed_eof()
        self._process_incoming()
        # We close the raw transport ourselves once the TLS session is over (right
        # away after an EOF, unless the app paused reading with plaintext pending).
        return True

    def connection_lost(self, exc: BaseException | None) -> None:
        self._set_state(_LOST)
        self._cancel_timer()
        self._app_closing = True
        if exc is None:
            exc = self._close_exc
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc or ConnectionResetError(
                "the connection was lost during the TLS handshake"))
        self._waiter = None
        connected = self._app_state is _AppState.CONNECTED or self._app_state is _AppState.EOF
        if self._app_state is not _AppState.LOST:
            self._set_app_state(_AppState.LOST)
        if connected:
            self._app_protocol.connection_lost(exc)
        self._raw = None
        # The error has been delivered: do not keep it.  A failed handshake's exception
        # holds (through its traceback's frames) the objects that hold us.
        self._close_exc = None
        self._engine.error = None
        # Break the cycles app protocol -> SSLTransport -> us -> app protocol (an app
        # protocol usually keeps its transport) and us <-> SSLTransport, as asyncio's
        # SSLProtocol does: once the app lets go of the transport, the connection,
        # its SSLContext included, is freed by reference counting.
        self._app_protocol = None
        self._app_transport = None

    def pause_writing(self) -> None:
        self._raw_writing_paused = True
        if self._app_state is _AppState.CONNECTED or self._app_state is _AppState.EOF:
            self._pause_app_writing()

    def resume_writing(self) -> None:
        self._raw_writing_paused = False
        self._resume_app_writing()

    # -- incoming data ------------------------------------------------------------------

    def _process_incoming(self) -> None:
        state = self._state
        if state is _HANDSHAKING:
            self._advance_handshake()
        elif state is _OPEN:
            self._deliver()
        elif state is _CLOSING:
            self._continue_shutdown()

    def _advance_handshake(self) -> None:
        try:
            done = self._engine.do_handshake()
        except Exception as exc:
            self._handshake_failed(exc)
            return
        self._flush()
        if done:
            self._handshake_done()

    def _handshake_done(self) -> None:
        self._cancel_timer()
        for name in ("peercert", "cipher", "compression", "ssl_object"):
            self._extra[name] = self._engine.get_extra_info(name)
        self._set_state(_OPEN)
        if self._app_reading_paused:
            self._raw.pause_reading()
        if self._app_state is _AppState.WAITING:
            self._set_app_state(_AppState.CONNECTED)
            try:
                self._app_protocol.connection_made(self._app_transport)
            except Exception as exc:
                self._fatal_error(exc, "Fatal error: protocol.connection_made() call failed.")
                return
        if self._raw_writing_paused:
            self._pause_app_writing()
        waiter = self._waiter
        self._waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._state is _OPEN:
            # Application data may have arrived with the last handshake records.
            self._deliver()

    def _handshake_failed(self, exc: BaseException, *, abort: bool = False) -> None:
        self._cancel_timer()
        self._close_exc = exc
        if self._app_state is _AppState.WAITING:
            self._set_app_state(_AppState.LOST)  # connection_made will never be called
        waiter = self._waiter
        self._waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self._loop.get_debug():
            logger.debug("%r: TLS handshake failed", self, exc_info=exc)
        if abort:
            self._abort()
        else:
            # The alert (if any) goes to the peer so it learns why.
            self._flush()
            self._shut_raw()

    def _handshake_timed_out(self) -> None:
        self._timer = None
        if self._state is _HANDSHAKING:
            self._handshake_failed(ConnectionAbortedError(
                f"SSL handshake is taking longer than {self._handshake_timeout} "
                "seconds: aborting the connection"), abort=True)

    def _deliver(self) -> None:
        """Hand decrypted data to the app until the engine needs more or the app pauses."""
        engine = self._engine
        try:
            while self._state is _OPEN and not self._app_reading_paused:
                chunk = engine.read_plaintext()
                if chunk is NEED_DATA:
                    break
                if not chunk:
                    self._peer_closed()
                    return
                if self._app_is_buffered:
                    self._feed_buffered(chunk)  # type: ignore[arg-type]  # bytes: NEED_DATA broke out
                else:
                    self._app_protocol.data_received(chunk)
        except Exception as exc:
            self._fatal_error(exc, "Fatal error on SSL protocol")
            return
        # Reading may have produced records to send (a TLS 1.3 key update, say).
        self._flush()

    def _feed_buffered(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            buf = self._app_protocol.get_buffer(len(view))
            n = min(len(buf), len(view))
            if not n:
                raise RuntimeError(
                    f"{self._app_protocol!r}.get_buffer() returned an empty buffer")
            buf[:n] = view[:n]
            self._app_protocol.buffer_updated(n)
            view = view[n:]

    def _peer_closed(self) -> None:
        # The peer's close_notify (or a ragged EOF): eof_received, then close.
        if self._app_state is _AppState.CONNECTED:
            self._set_app_state(_AppState.EOF)
            if self._app_protocol.eof_received():
                logger.warning("returning true from eof_received() "
                               "has no effect when using ssl")
        self._start_shutdown()

    # -- outgoing data ------------------------------------------------------------------

    def _flush(self) -> None:
        data = self._engine.outgoing()
        if data and self._raw is not None and not self._raw.is_closing():
            self._raw.write(data)

    def _write(self, chunks) -> None:
        if self._state is not _OPEN or self._app_closing:
            if self._writes_after_close >= _LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("SSL connection is closed")
            self._writes_after_close += 1
            return
        try:
            for data in chunks:
                self._engine.send_plaintext(data)
        except Exception as exc:
            self._fatal_error(exc, "Fatal error on SSL protocol")
            return
        self._flush()

    def _pause_app_writing(self) -> None:
        if not self._app_writing_paused:
            self._app_writing_paused = True
            tell_protocol(self._loop, self._app_protocol, "pause_writing",
                          self._app_transport)

    def _resume_app_writing(self) -> None:
        if self._app_writing_paused and self._app_state is not _AppState.LOST:
            self._app_writing_paused = False
            tell_protocol(self._loop, self._app_protocol, "resume_writing",
                          self._app_transport)

    # -- reading flow control (called by SSLTransport) ----------------------------------

    def _pause_reading(self) -> None:
        if self._app_reading_paused:
            return
        self._app_reading_paused = True
        if self._raw is not None and self._state is _OPEN:
            self._raw.pause_reading()

    def _resume_reading(self) -> None:
        if not self._app_reading_paused:
            return
        self._app_reading_paused = False
        if self._raw is not None and self._state is _OPEN:
            self._raw.resume_reading()
            # Plaintext (or an EOF) may already sit in the engine: deliver it on the
            # next iteration, not inside the caller's resume_reading().
            self._loop.call_soon(self._process_incoming)

    # -- closing ------------------------------------------------------------------------

    def _start_shutdown(self) -> None:
        """close(), or the peer closed: send close_notify, wait for the peer's."""
        state = self._state
        self._app_closing = True
        if state is _ConnectionState.NEW or state is _HANDSHAKING:
            # Nothing to shut down cleanly: asyncio aborts too.
            self._abort()
            return
        if state is not _OPEN:
            return
        self._set_state(_CLOSING)
        if self._app_reading_paused and self._raw is not None:
            # The peer's close_notify must still get in.
            self._raw.resume_reading()
        self._timer = self._loop.call_later(self._shutdown_timeout, self._shutdown_timed_out)
        self._continue_shutdown()

    def _continue_shutdown(self) -> None:
        engine = self._engine
        if self._raw_eof:
            # No close_notify (see _raw_eof): the session ends here.
            self._close_raw_after_shutdown()
            return
        try:
            if engine.state is not TLSState.SHUTDOWN and not engine.start_shutdown():
                # CLOSING: discard the peer's last data until its close_notify (b'').
                while (chunk := engine.read_plaintext()) is not NEED_DATA and chunk:
                    pass
        except (TLSStateError, ssl.SSLError, OSError) as exc:
            self._fatal_error(exc, "Fatal error on SSL protocol")
            return
        self._flush()
        if engine.state is TLSState.SHUTDOWN:
            self._close_raw_after_shutdown()

    def _close_raw_after_shutdown(self) -> None:
        """The TLS session is over: close the raw transport, which flushes first."""
        if _bridge.TLS_SHUTDOWN_TIMEOUT_COVERS_FLUSH:
            # A peer that does not read can delay that flush for ever: the shutdown
            # timer keeps running (or starts, if the peer ended the session) until
            # the raw transport's connection_lost().
            if self._timer is None:
                self._timer = self._loop.call_later(self._shutdown_timeout,
                                                    self._shutdown_timed_out)
        else:
            self._cancel_timer()
        self._enter_done()  # (unless the app aborted from inside _flush)
        self._call_app_eof()
        if self._raw is not None:
            self._raw.close()

    def _call_app_eof(self) -> None:
        # asyncio calls eof_received when the TLS shutdown completes, whoever began it.
        if self._app_state is _AppState.CONNECTED:
            self._set_app_state(_AppState.EOF)
            try:
                if self._app_protocol.eof_received():
                    logger.warning("returning true from eof_received() "
                                   "has no effect when using ssl")
            except Exception as exc:
                self._fatal_error(exc, "Error calling eof_received()")

    def _shutdown_timed_out(self) -> None:
        self._timer = None
        # CLOSING: the peer's close_notify did not come; DONE: the raw transport
        # could not flush (see _close_raw_after_shutdown).
        if self._state is _CLOSING or self._state is _DONE:
            self._close_exc = TimeoutError("SSL shutdown timed out")
            self._abort()

    def _abort(self) -> None:
        self._app_closing = True
        if self._state is not _LOST:
            self._cancel_timer()
            self._enter_done()
            if self._raw is not None:
                self._raw.abort()

    def _shut_raw(self) -> None:
        # Close the raw transport after an error: gracefully if what we just wrote
        # (an alert) went out at once, else abort rather than wait for a stuck peer.
        self._enter_done()
        self._app_closing = True
        raw = self._raw
        if raw is None:
            return
        try:
            flushed = raw.get_write_buffer_size() == 0
        except (AttributeError, NotImplementedError):
            flushed = False
        if flushed:
            raw.close()
        else:
            raw.abort()

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        if self._state is _LOST:
            return
        self._cancel_timer()
        if self._close_exc is None:
            self._close_exc = exc
        if not isinstance(exc, OSError):
            self._loop.call_exception_handler({
                "message": message,
                "exception": exc,
                "transport": self._raw,
                "protocol": self,
            })
        elif self._loop.get_debug():
            logger.debug("%r: %s", self, message, exc_info=True)
        self._abort()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _get_extra_info(self, name: str, default: Any = None) -> Any:
        if name in self._extra:
            return self._extra[name]
        if self._raw is not None:
            return self._raw.get_extra_info(name, default)
        return default


class SSLTransport(Transport):
    """The application's view of a TLS connection (asyncio's SSL transport API).

    Named in asyncio's vocabulary (``ssl=``, ``ssl_object``): code and tests tell an
    encrypted transport by "ssl" in its class name.  ``TLSTransport`` is an alias.
    """

    # loop.start_tls() accepts this transport (TLS inside TLS), as asyncio's does.
    _start_tls_compatible = True

    def __init__(self, tls_protocol: TLSProtocol) -> None:
        super().__init__()
        self._tls = tls_protocol

    def __repr__(self) -> str:
        state = " closing" if self._tls._app_closing else ""
        return f"<SSLTransport{state} {self._tls!r}>"

    def __del__(self, _warn=warnings.warn) -> None:
        tls = getattr(self, "_tls", None)
        if tls is not None and not tls._app_closing:
            tls._app_closing = True
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)

    # -- BaseTransport ------------------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._tls._get_extra_info(name, default)

    def set_protocol(self, protocol) -> None:
        self._tls._app_protocol = protocol
        self._tls._app_is_buffered = isinstance(protocol, BufferedProtocol)

    def get_protocol(self):
        return self._tls._app_protocol

    def is_closing(self) -> bool:
        return self._tls._app_closing

    def close(self) -> None:
        """Send close_notify; connection_lost(None) follows once the peer answered
        (or TimeoutError after ssl_shutdown_timeout)."""
        if not self._tls._app_closing:
            self._tls._start_shutdown()

    # -- ReadTransport ------------------------------------------------------------------

    def is_reading(self) -> bool:
        return not self._tls._app_reading_paused and not self._tls._app_closing

    def pause_reading(self) -> None:
        self._tls._pause_reading()

    def resume_reading(self) -> None:
        self._tls._resume_reading()

    # -- WriteTransport -----------------------------------------------------------------

    def write(self, data) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: expecting a bytes-like instance, "
                            f"got {type(data).__name__}")
        if data:
            self._tls._write((data,))

    def writelines(self, list_of_data) -> None:
        chunks = list(list_of_data)
        for data in chunks:
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"data: expecting a bytes-like instance, "
                                f"got {type(data).__name__}")
        self._tls._write(chunks)

    def write_eof(self) -> None:
        raise NotImplementedError(
            "TLS transports cannot half-close (can_write_eof() is False); "
            "use close() to send close_notify")

    def can_write_eof(self) -> bool:
        return False

    def abort(self) -> None:
        """Close the connection now: buffered data is lost, no close_notify is sent."""
        self._tls._abort()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        raw = self._tls._raw
        if raw is None:
            raise RuntimeError(f"{self!r} has no connection: cannot set buffer limits")
        raw.set_write_buffer_limits(high, low)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        raw = self._tls._raw
        if raw is None:
            return (0, 0)
        return raw.get_write_buffer_limits()

    def get_write_buffer_size(self) -> int:
        raw = self._tls._raw
        raw_size = raw.get_write_buffer_size() if raw is not None else 0
        return raw_size + self._tls._engine.pending_plaintext_size


#: The name this layer uses elsewhere (TLSProtocol, TLSEngine).
TLSTransport = SSLTransport


def wrap_transport(
    loop,
    raw_transport,
    app_protocol,
    sslcontext,
    *,
    server_side: bool = False,
    server_hostname: str | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
    waiter=None,
    call_connection_made: bool = True,
) -> SSLTransport:
    """Run TLS over an existing, connected ``raw_transport``; return the app transport.

    The raw transport's protocol is replaced and the handshake starts now.  The app
    protocol's connection_made follows when it completes (unless
    ``call_connection_made`` is false), then ``waiter`` (optional) is resolved, or gets
    the handshake error.
    """
    tls = TLSProtocol(loop, app_protocol, sslcontext, waiter, server_side, server_hostname,
                      call_connection_made=call_connection_made,
                      ssl_handshake_timeout=ssl_handshake_timeout,
                      ssl_shutdown_timeout=ssl_shutdown_timeout)
    raw_transport.set_protocol(tls)
    tls.connection_made(raw_transport)
    return tls.app_transport


async def start_tls(
    loop,
    transport,
    protocol,
    sslcontext: ssl.SSLContext,
    *,
    server_side: bool = False,
    server_hostname: str | None = None,
    ssl_handshake_timeout: float | None = None,
    ssl_shutdown_timeout: float | None = None,
) -> SSLTransport:
    """``loop.start_tls()``: upgrade the connected ``transport`` to TLS.

    Returns the new transport that ``protocol`` must use from now on; the old one must
    not be used any more.  ``protocol.connection_made`` is not called again.  If the
    handshake fails (or this is cancelled), the connection is closed and the error
    raised.
    """
    if not isinstance(sslcontext, ssl.SSLContext):
        got = f"got {sslcontext!r}"
        raise TypeError(f"sslcontext is expected to be an instance of ssl.SSLContext, {got}")
    # asyncio's marker for full-duplex stream transports that support set_protocol()
    # and pausing; a plain asyncio.Transport without the marker is accepted too.
    compatible = getattr(transport, "_start_tls_compatible", None)
    if not compatible and (compatible is not None or not isinstance(transport, Transport)):
        raise TypeError(f"transport {transport!r} is not supported by start_tls()")
    waiter = loop.create_future()
    tls = TLSProtocol(loop, protocol, sslcontext, waiter, server_side, server_hostname,
                      call_connection_made=False,
                      ssl_handshake_timeout=ssl_handshake_timeout,
                      ssl_shutdown_timeout=ssl_shutdown_timeout)
    # From here on no plaintext may reach the old protocol, and the TLS protocol must
    # not get data before its connection_made: pause, swap, then start on the next
    # iteration (bytes the peer sent early simply wait in the socket).
    transport.pause_reading()
    transport.set_protocol(tls)
    early = _take_unread_for_tls(protocol) if server_side else b""

    def begin() -> None:
        tls.connection_made(transport)
        if early:
            tls.data_received(early)
        if not transport.is_closing():  # the handshake may have failed already
            transport.resume_reading()

    handle = loop.call_soon(begin)
    try:
        await waiter
    except BaseException:
        # Failed handshake, or we were cancelled: the connection is unusable either way.
        handle.cancel()
        transport.close()
        # This frame stays in the exception's traceback: it must not keep the
        # exception (in the waiter) or the connection (through begin()) alive.
        waiter = handle = begin = tls = None  # type: ignore[assignment]
        raise
    return tls.app_transport


def _take_unread_for_tls(protocol) -> bytes:
    """Bytes *protocol* received but nobody read: on a server upgraded with start_tls()
    they are the start of the handshake (gh-142352).  A stream protocol -- coroloop's
    (``_take_unread_for_tls()``) or asyncio's (its reader's buffer, see _bridge) -- may
    hold some; other protocols consumed what they got."""
    take = getattr(protocol, "_take_unread_for_tls", None)
    if take is not None:
        return take()
    return _bridge.take_unread_of_asyncio_stream(protocol)

"""A sans-I/O TLS engine: ``ssl.SSLObject`` over two ``ssl.MemoryBIO``.

The engine never touches a socket.  The transport that drives it does four things:

* ciphertext read from the network goes in through :meth:`TLSEngine.feed_incoming`
  (and the TCP EOF through :meth:`TLSEngine.feed_eof`);
* plaintext from the protocol goes in through :meth:`TLSEngine.send_plaintext`;
* plaintext for the protocol comes out of :meth:`TLSEngine.read_plaintext`;
* ciphertext for the network comes out of :meth:`TLSEngine.outgoing`.

**After every call, send what** :meth:`TLSEngine.outgoing` **returns.**  OpenSSL writes
to the network at moments the caller cannot predict: a read can produce handshake
records (renegotiation in TLS 1.2, key updates in 1.3), a failed handshake produces an
alert, a shutdown produces close_notify.  A typical driving loop::

    engine.do_handshake()                      # the client's ClientHello
    sock.send(engine.outgoing())
    for data in network:                       # b'' at TCP EOF
        if data:
            engine.feed_incoming(data)
        else:
            engine.feed_eof()
        if engine.state is TLSState.HANDSHAKING:
            engine.do_handshake()              # may raise the handshake error
        while engine.state is not TLSState.HANDSHAKING:
            chunk = engine.read_plaintext()
            if chunk is NEED_DATA:
                break
            protocol.data_received(chunk)      # b'' means EOF from the peer
            if not chunk:
                break
        sock.send(engine.outgoing())

States and transitions
----------------------
All transitions are listed in :data:`_TRANSITIONS` and go through
``TLSEngine._set_state``, so an impossible transition is a bug that fails loudly::

    UNWRAPPED ──do_handshake()──> HANDSHAKING ──handshake done──> WRAPPED
    WRAPPED ──peer's close_notify──> PEER_CLOSED ──start_shutdown()──> SHUTDOWN
    WRAPPED ──start_shutdown()──> CLOSING ──peer's close_notify──> SHUTDOWN
    WRAPPED, CLOSING ──TCP EOF without close_notify ("ragged EOF")──> SHUTDOWN
    UNWRAPPED, HANDSHAKING ──start_shutdown()──> SHUTDOWN   (abort; nothing is sent)
    any state but SHUTDOWN ──fatal error──> ERROR

Ragged EOF
----------
Many TLS peers (and most HTTP servers) close TCP without sending close_notify.  asyncio
treats that as an ordinary EOF once the handshake is done (``SSLProtocol.eof_received``
skips ``unwrap()`` and calls the protocol's ``eof_received``), and as
``ConnectionResetError`` during the handshake.  The engine does the same: after the
buffered plaintext, :meth:`TLSEngine.read_plaintext` returns ``b''`` and the state goes
to SHUTDOWN with :attr:`TLSEngine.ragged_eof` set, so that a protocol which cares about
truncation attacks can check it.  A ragged EOF during the handshake raises
``ConnectionResetError`` from :meth:`TLSEngine.do_handshake`.

Security
--------
The engine uses the ``SSLContext`` it is given, untouched.  Without a context, a client
gets ``ssl.create_default_context()`` (certificate and hostname verification on); a
server must bring its own context.  The only relaxation is the one asyncio documents:
``server_hostname=''`` disables hostname matching (never certificate verification).  A
client with ``check_hostname`` set and ``server_hostname=None`` is refused with
``ValueError('check_hostname requires server_hostname')``: ``wrap_bio()`` itself would
accept it and skip the hostname check without a word.
"""

from __future__ import annotations

import enum
import ssl
from collections import deque
from typing import Any

from ._sentinel import NEED_DATA, NeedData

__all__ = ["TLSEngine", "TLSState", "TLSStateError", "NEED_DATA"]

# How much plaintext read_plaintext() returns at most by default.  A TLS record carries
# at most 16 KiB, so this gathers up to 16 records per call: large enough to amortize the
# per-call overhead, small enough to keep the protocol's data_received() chunks bounded.
DEFAULT_READ_SIZE = 256 * 1024


class TLSState(enum.Enum):
    #: Created; no TLS byte exchanged yet.  Plaintext sent now is queued.
    UNWRAPPED = "unwrapped"
    #: do_handshake() has been called and the handshake is not finished.  Plaintext sent
    #: now is queued and encrypted when the handshake completes.
    HANDSHAKING = "handshaking"
    #: Handshake complete; data flows both ways.
    WRAPPED = "wrapped"
    #: The peer sent close_notify: reads return b'' but we may still send (TLS allows a
    #: half-close) until start_shutdown() answers with our own close_notify.
    PEER_CLOSED = "peer_closed"
    #: We sent close_notify (start_shutdown()); sending is over, the peer's remaining data
    #: can still be read until its close_notify arrives.
    CLOSING = "closing"
    #: The TLS session is over (both close_notify exchanged, a ragged EOF, or a shutdown
    #: before the handshake finished).  Only outgoing() remains useful.
    SHUTDOWN = "shutdown"
    #: A fatal error happened; it is kept in TLSEngine.error.
    ERROR = "error"


_S = TLSState

#: Every allowed transition.  ERROR is reachable from every live state.
_TRANSITIONS: dict[TLSState, frozenset[TLSState]] = {
    _S.UNWRAPPED: frozenset({_S.HANDSHAKING, _S.SHUTDOWN, _S.ERROR}),
    _S.HANDSHAKING: frozenset({_S.WRAPPED, _S.SHUTDOWN, _S.ERROR}),
    _S.WRAPPED: frozenset({_S.PEER_CLOSED, _S.CLOSING, _S.SHUTDOWN, _S.ERROR}),
    _S.PEER_CLOSED: frozenset({_S.SHUTDOWN, _S.ERROR}),
    _S.CLOSING: frozenset({_S.SHUTDOWN, _S.ERROR}),
    _S.SHUTDOWN: frozenset(),
    _S.ERROR: frozenset(),
}

# "Call me again when more bytes arrived".  With memory BIOs a write never blocks, so
# SSLWantWriteError only means "flush outgoing() and retry", which the caller does anyway.
_AGAIN = (ssl.SSLWantReadError, ssl.SSLWantWriteError)


class TLSStateError(RuntimeError):
    """An operation that the engine's current state does not allow.

    The message names the engine, the state and what to do instead.
    """


class TLSEngine:
    """One TLS session, client or server side, with no I/O of its own.

    ``context``: the ``ssl.SSLContext`` to use as is.  ``None`` means
    ``ssl.create_default_context()`` for a client; a server must pass one.
    ``server_hostname``: the name to verify (and send as SNI) on the client side.
    ``session``: an ``ssl.SSLSession`` to resume (client side).
    """

    def __init__(
        self,
        context: ssl.SSLContext | None = None,
        *,
        server_side: bool = False,
        server_hostname: str | None = None,
        session: ssl.SSLSession | None = None,
    ) -> None:
        if context is None:
            if server_side:
                raise ValueError("Server side SSL needs a valid SSLContext")
            context = ssl.create_default_context()
            if server_hostname == "":
                # Documented asyncio behaviour: an empty server_hostname disables
                # hostname matching.  Certificate verification stays on.
                context.check_hostname = False
        if not isinstance(context, ssl.SSLContext):
            raise TypeError(
                f"TLSEngine needs an ssl.SSLContext, got {type(context).__name__}"
            )
        # Careful: unlike SSLContext.wrap_socket(), wrap_bio() does NOT refuse a missing
        # server_hostname when check_hostname is set; OpenSSL then has no name to match
        # and silently skips hostname verification.  Refuse it here, as wrap_socket()
        # does.  server_hostname='' is the explicit opt-out asyncio documents ("disables
        # hostname matching"): asyncio then passes no name, so do we.
        if server_side and server_hostname:
            # wrap_bio() would silently ignore it; wrap_socket() refuses, so do we.
            raise ValueError("server_hostname can only be specified in client mode")
        if not server_side and server_hostname is None and context.check_hostname:
            raise ValueError("check_hostname requires server_hostname")
        hostname = server_hostname or None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        # wrap_bio validates server_side/server_hostname against the context.
        self._sslobj: ssl.SSLObject = context.wrap_bio(
            self._incoming,
            self._outgoing,
            server_side=server_side,
            server_hostname=hostname,
            session=session,
        )
        self.context = context
        self.server_side = server_side
        self.server_hostname = hostname

        #: Current state; changed only by _set_state() along _TRANSITIONS.
        self._state = TLSState.UNWRAPPED
        #: The exception that moved the engine to ERROR, else None.
        self.error: BaseException | None = None
        #: True once the TCP EOF was fed (feed_eof()); no more ciphertext can follow.
        self._eof_fed = False
        #: True if the session ended with a TCP EOF instead of the peer's close_notify.
        self.ragged_eof = False
        #: Plaintext accepted by send_plaintext() but not yet encrypted: data sent
        #: before the handshake finished, or refused by SSLObject.write() with
        #: SSLWantReadError while a renegotiation is in progress.  Invariant: empty in
        #: CLOSING, SHUTDOWN and ERROR.
        self._pending: deque[memoryview] = deque()
        #: peercert/cipher/compression/ssl_object, filled when the handshake completes
        #: (asyncio makes them visible at the same moment).
        self._extra: dict[str, Any] = {}

    def __repr__(self) -> str:
        side = "server" if self.server_side else "client"
        return f"<TLSEngine {side} state={self._state.name}>"

    # -- state ------------------------------------------------------------------------

    @property
    def state(self) -> TLSState:
        return self._state

    def _set_state(self, new: TLSState) -> None:
        if new not in _TRANSITIONS[self._state]:
            raise TLSStateError(
                f"{self!r}: invalid transition {self._state.name} -> {new.name} "
                "(this is a bug in coroloop)"
            )
        self._state = new

    def _fail(self, exc: BaseException) -> None:
        # Fatal: remember why, drop queued plaintext; the alert OpenSSL may have
        # written stays in outgoing() for the caller to send.
        self.error = exc
        self._pending.clear()
        if self._state is not TLSState.ERROR:
            self._set_state(TLSState.ERROR)

    def _state_error(self, action: str, hint: str = "") -> TLSStateError:
        msg = f"cannot {action}: {self!r} is {self._state.name}"
        if hint:
            msg += f" ({hint})"
        err = TLSStateError(msg)
        if self._state is TLSState.ERROR:
            err.__cause__ = self.error
        return err

    # -- bytes from and to the network ------------------------------------------------

    def feed_incoming(self, data: bytes | bytearray | memoryview) -> None:
        """Give the engine ciphertext received from the network.

        Nothing is decrypted here: drive the engine with do_handshake() or
        read_plaintext() afterwards.  In SHUTDOWN and ERROR the bytes are dropped (a
        peer may still send after the session ended; nobody will read them).
        """
        if self._eof_fed:
            raise self._state_error(
                "feed data after feed_eof()", "the peer's TCP stream already ended"
            )
        if self._state in (TLSState.SHUTDOWN, TLSState.ERROR):
            return
        if data:
            self._incoming.write(data)

    def feed_eof(self) -> None:
        """The peer closed its side of TCP; no more ciphertext will come.

        Idempotent.  Its effect shows on the next do_handshake() (ConnectionResetError)
        or read_plaintext() (b'' after the buffered plaintext, see the module docstring).
        """
        if self._eof_fed:
            return
        # The incoming BIO is not told (MemoryBIO.write_eof()): OpenSSL would then
        # fail the session on the truncated stream (SSLEOFError), leaving the SSLObject
        # in an error state -- and it is the 'ssl_object' the application may still
        # inspect after the connection ended (getpeercert() raises "handshake not done
        # yet" then).  asyncio never tells its BIO either.  Instead, a read or a
        # handshake step that wants more data after this is the EOF.
        self._eof_fed = True

    def outgoing(self) -> bytes:
        """Return (and forget) all the ciphertext waiting to be sent; b'' if none."""
        return self._outgoing.read()

    @property
    def outgoing_size(self) -> int:
        """Bytes of ciphertext that outgoing() would return."""
        return self._outgoing.pending

    # -- handshake --------------------------------------------------------------------

    def do_handshake(self) -> bool:
        """Advance the handshake; True once it is complete.

        The first call starts it (a client writes its ClientHello to outgoing()).
        False means "feed the peer's reply and call again".  A failed handshake raises
        the ``ssl`` module's exception (e.g. ``ssl.SSLCertVerificationError``), or
        ``ConnectionResetError`` if the TCP stream ended; the engine is then in ERROR
        and outgoing() may hold an alert for the peer.  After completion it is a no-op
        returning True; in SHUTDOWN or ERROR it raises TLSStateError.
        """
        state = self._state
        if state is TLSState.UNWRAPPED:
            self._set_state(TLSState.HANDSHAKING)
        elif state is not TLSState.HANDSHAKING:
            if state in (TLSState.SHUTDOWN, TLSState.ERROR):
                raise self._state_error("do the handshake")
            return True
        try:
            self._sslobj.do_handshake()
        except _AGAIN:
            if self._eof_fed:
                exc = ConnectionResetError(
                    "connection closed by the peer during the TLS handshake"
                )
                self._fail(exc)
                raise exc from None
            return False
        except ssl.SSLEOFError as e:
            # The incoming BIO hit EOF in the middle of a record.
            exc = ConnectionResetError(
                "connection closed by the peer during the TLS handshake"
            )
            self._fail(exc)
            raise exc from e
        except BaseException as e:
            self._fail(e)
            raise
        self._extra = {
            "peercert": self._sslobj.getpeercert(),
            "cipher": self._sslobj.cipher(),
            "compression": self._sslobj.compression(),
            "ssl_object": self._sslobj,
        }
        self._set_state(TLSState.WRAPPED)
        # Plaintext queued during the handshake goes out right behind the last
        # handshake record.
        self._flush_pending()
        return True

    # -- application data -------------------------------------------------------------

    def send_plaintext(self, data: bytes | bytearray | memoryview) -> None:
        """Encrypt ``data``; the ciphertext shows up in outgoing().

        Before the handshake completes the data is queued (copied) and encrypted as
        soon as it does.  After start_shutdown(), or once the session ended, this
        raises TLSStateError.
        """
        state = self._state
        if state in (TLSState.CLOSING, TLSState.SHUTDOWN, TLSState.ERROR):
            raise self._state_error(
                "send data",
                "start_shutdown() was called or the TLS session ended",
            )
        if not data:
            return
        if state is TLSState.UNWRAPPED or state is TLSState.HANDSHAKING or self._pending:
            # Copy: the caller may reuse its buffer once we return.
            self._pending.append(memoryview(bytes(data)))
            if state is TLSState.WRAPPED or state is TLSState.PEER_CLOSED:
                self._flush_pending()
            return
        view = memoryview(data)
        while view:
            try:
                n = self._sslobj.write(view)
            except _AGAIN:
                # Renegotiation in progress: retry after the peer's next records.
                self._pending.append(memoryview(bytes(view)))
                return
            except BaseException as e:
                self._fail(e)
                raise
            view = view[n:]

    @property
    def pending_plaintext_size(self) -> int:
        """Bytes accepted by send_plaintext() but not yet encrypted."""
        return sum(len(v) for v in self._pending)

    def _flush_pending(self) -> None:
        pending = self._pending
        while pending:
            view = pending[0]
            try:
                n = self._sslobj.write(view)
            except _AGAIN:
                return
            except BaseException as e:
                self._fail(e)
                raise
            if n == len(view):
                pending.popleft()
            else:
                pending[0] = view[n:]

    def read_plaintext(self, max_size: int = DEFAULT_READ_SIZE) -> bytes | NeedData:
        """Decrypt what has been fed: up to ``max_size`` bytes of plaintext.

        Returns non-empty bytes; ``b''`` at EOF (the peer's close_notify, or a ragged
        EOF, see the module docstring; every later call returns ``b''`` too); or
        NEED_DATA when no complete record is buffered.  During the handshake it
        returns NEED_DATA.  Once the engine failed, it raises TLSStateError; a new
        fatal error (a corrupt record, say) is raised as the ``ssl`` exception.
        """
        state = self._state
        if state is TLSState.UNWRAPPED or state is TLSState.HANDSHAKING:
            return NEED_DATA
        if state is TLSState.PEER_CLOSED or state is TLSState.SHUTDOWN:
            return b""
        if state is TLSState.ERROR:
            raise self._state_error("read data")
        if max_size <= 0:
            raise ValueError(f"max_size must be positive, got {max_size!r}")
        chunks = []
        size = 0
        eof = False
        while size < max_size:
            try:
                chunk = self._sslobj.read(max_size - size)
            except _AGAIN:
                if self._eof_fed:
                    # No more ciphertext can come (see feed_eof): a ragged EOF.
                    self.ragged_eof = True
                    eof = True
                break
            except ssl.SSLZeroReturnError:
                eof = True
                break
            except ssl.SSLEOFError as e:
                if not self._eof_fed:
                    self._fail(e)
                    raise
                # TCP EOF without close_notify after the handshake: EOF, as asyncio.
                self.ragged_eof = True
                eof = True
                break
            except BaseException as e:
                self._fail(e)
                raise
            if not chunk:
                eof = True
                break
            chunks.append(chunk)
            size += len(chunk)
        if eof:
            self._on_peer_eof()
        elif self._pending and self._state is TLSState.WRAPPED:
            # A renegotiation that blocked a write may have finished during the read.
            self._flush_pending()
        if chunks:
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return b"" if eof else NEED_DATA

    def _on_peer_eof(self) -> None:
        if self.ragged_eof:
            # The SSLObject is unusable after SSLEOFError; no close_notify can be sent
            # and nothing queued can go out.  asyncio ends the session quietly too.
            self._pending.clear()
            self._set_state(TLSState.SHUTDOWN)
        elif self._state is TLSState.CLOSING:
            self._finish_unwrap()
        else:
            self._set_state(TLSState.PEER_CLOSED)

    # -- shutdown ---------------------------------------------------------------------

    def start_shutdown(self) -> bool:
        """Close the TLS session: queue our close_notify in outgoing().

        Returns True when the session is fully over (SHUTDOWN): the peer's close_notify
        had already arrived, or the handshake never finished (nothing is sent then;
        asyncio aborts the connection in that case too).  Returns False in CLOSING:
        keep feeding and calling read_plaintext() until it returns b''; or close TCP
        without waiting, as asyncio does on its shutdown timeout.
        Plaintext still queued is encrypted before the close_notify.  Idempotent; in
        ERROR it does nothing and returns True.
        """
        state = self._state
        if state is TLSState.CLOSING:
            return False
        if state is TLSState.SHUTDOWN or state is TLSState.ERROR:
            return True
        if state is TLSState.UNWRAPPED or state is TLSState.HANDSHAKING:
            self._pending.clear()
            self._set_state(TLSState.SHUTDOWN)
            return True
        self._flush_pending()
        if self._pending:
            # Still blocked by a renegotiation: the data cannot be sent before the
            # close_notify, and dropping it silently would lose data.
            raise self._state_error(
                "shut down yet",
                f"{self.pending_plaintext_size} bytes wait for a renegotiation to "
                "finish; feed the peer's data and call read_plaintext() first",
            )
        if state is TLSState.PEER_CLOSED:
            self._finish_unwrap()
            return True
        self._set_state(TLSState.CLOSING)
        if self._eof_fed:
            # The peer is gone already; its close_notify cannot come.
            self._unwrap_or_ignore()
            self.ragged_eof = True
            self._set_state(TLSState.SHUTDOWN)
            return True
        try:
            self._sslobj.unwrap()
        except _AGAIN:
            return False
        except BaseException as e:
            self._fail(e)
            raise
        self._set_state(TLSState.SHUTDOWN)
        return True

    def _unwrap_or_ignore(self) -> None:
        # Best effort to put our close_notify in outgoing() when the peer's cannot
        # arrive any more.
        try:
            self._sslobj.unwrap()
        except (ssl.SSLError, OSError):
            pass

    def _finish_unwrap(self) -> None:
        # The peer's close_notify has been read: SSL_shutdown completes at once,
        # writing ours if it was not sent yet.
        try:
            self._sslobj.unwrap()
        except _AGAIN:
            # Cannot happen once close_notify was received; be safe rather than hang.
            pass
        except BaseException as e:
            self._fail(e)
            raise
        self._set_state(TLSState.SHUTDOWN)

    # -- information ------------------------------------------------------------------

    @property
    def ssl_object(self) -> ssl.SSLObject:
        return self._sslobj

    @property
    def handshake_complete(self) -> bool:
        return bool(self._extra)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """'peercert', 'cipher', 'compression', 'ssl_object' once the handshake is done.

        Before that (and for other names) ``default``, so that the transport can fall
        back to the socket's own extra info, as asyncio's SSL transport does.
        """
        return self._extra.get(name, default)

    def getpeercert(self, binary_form: bool = False) -> Any:
        return self._sslobj.getpeercert(binary_form)

    def cipher(self) -> tuple[str, str, int] | None:
        return self._sslobj.cipher()

    def compression(self) -> str | None:
        return self._sslobj.compression()

    def version(self) -> str | None:
        return self._sslobj.version()

    def selected_alpn_protocol(self) -> str | None:
        return self._sslobj.selected_alpn_protocol()

    @property
    def session(self) -> ssl.SSLSession | None:
        return self._sslobj.session

    @property
    def session_reused(self) -> bool:
        return self._sslobj.session_reused

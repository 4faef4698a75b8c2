"""Streams: ``async``/``await`` reading and writing on top of transports and protocols.

The same API as ``asyncio.streams``: :class:`StreamReader`, :class:`StreamWriter`,
:class:`StreamReaderProtocol`, :func:`open_connection`, :func:`start_server` and their
Unix-socket twins.  The pieces:

* :class:`StreamReader` is a thin async shell around the sans-I/O
  :class:`~coroloop._net.buffers.ReadBuffer`, which does all the parsing (line
  splitting, separators, limits, EOF errors).  The shell only waits for data and keeps
  the transport's reading paused while more than ``2 * limit`` bytes are buffered.
* :class:`StreamReaderProtocol` feeds a reader from a transport and implements the
  write-side flow control that :meth:`StreamWriter.drain` waits on.
* :class:`StreamWriter` wraps the transport.

The functions call ``create_connection`` / ``create_server`` / ``create_unix_*`` on the
running loop, so they work unchanged on coroloop's loop and on the standard library's.
The exceptions (``IncompleteReadError``, ``LimitOverrunError``) are asyncio's own.

Differences from asyncio
------------------------
* ``readuntil()`` accepts a tuple of separators on every Python version (3.13 API).
* ``read(-1)`` keeps the bytes in the buffer until EOF (see ``_net/buffers.py``): if it
  is cancelled, no data is lost.
* ``feed_data()`` after ``feed_eof()`` raises RuntimeError (asyncio: ``assert``).
* After ``start_tls()`` the reader pauses and resumes the new (TLS) transport; 3.11's
  asyncio kept pausing the plain one.
"""

from __future__ import annotations

import socket
import warnings
from asyncio import Protocol, get_running_loop
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: nothing here is imported at run time
    import ssl
    from asyncio import AbstractEventLoop, BaseTransport, Server
    from collections.abc import Awaitable, Callable, Iterable, Sequence
    from typing import Self, TypeAlias

    # The per-connection callback of start_server(), as asyncio types it.
    _ClientConnectedCallback: TypeAlias = Callable[
        ["StreamReader", "StreamWriter"], Awaitable[None] | None]
    _Buffer: TypeAlias = bytes | bytearray | memoryview

from . import _bridge
from ._core.coroutines import iscoroutine
from ._core.sleep import sleep
from ._net.buffers import DEFAULT_LIMIT, NEED_DATA, ReadBuffer

__all__ = [
    "StreamReader", "StreamWriter", "StreamReaderProtocol",
    "open_connection", "start_server",
]
if hasattr(socket, "AF_UNIX"):
    __all__ += ["open_unix_connection", "start_unix_server"]


_ALREADY_WAITING = "{}() called while another coroutine is already waiting for incoming data"


def _settle(fut: Any, exc: BaseException | None) -> None:
    if exc is None:
        fut.set_result(None)
        return
    fut.set_exception(exc)
    # Marked as retrieved: not awaiting wait_closed() is no error ("exception was never
    # retrieved"), and wait_closed() still raises it.
    fut.exception()


def _resolve_loop(loop: AbstractEventLoop | None) -> AbstractEventLoop:
    if loop is not None:
        return loop
    try:
        return get_running_loop()
    except RuntimeError:
        # Outside a running loop, as asyncio: the current loop of the policy.
        return _bridge.get_event_loop()


# -- connecting and serving ----------------------------------------------------------------

async def _open(connect: str, limit: int, *args: Any,
                **kwds: Any) -> tuple[StreamReader, StreamWriter]:
    # open_connection and open_unix_connection: one protocol, one reader, one writer.
    loop = get_running_loop()
    reader = StreamReader(limit, loop)
    protocol = StreamReaderProtocol(reader, loop=loop)
    transport, _ = await getattr(loop, connect)(lambda: protocol, *args, **kwds)
    return reader, StreamWriter(transport, protocol, reader, loop)


async def _serve(create: str, callback: _ClientConnectedCallback, limit: int, *args: Any,
                 **kwds: Any) -> Server:
    loop = get_running_loop()
    return await getattr(loop, create)(
        lambda: StreamReaderProtocol(StreamReader(limit, loop), callback, loop=loop),
        *args, **kwds)


async def open_connection(host: str | None = None, port: int | str | None = None, *,
                          limit: int = DEFAULT_LIMIT,
                          **kwds: Any) -> tuple[StreamReader, StreamWriter]:
    """Connect to ``host``:``port``; return a ``(StreamReader, StreamWriter)`` pair.

    Keyword arguments go to ``loop.create_connection`` (``ssl``, ``server_hostname``,
    ``local_addr``, ``happy_eyeballs_delay``, ...); ``limit`` is the reader's limit.
    """
    return await _open("create_connection", limit, host, port, **kwds)


async def start_server(client_connected_cb: _ClientConnectedCallback,
                       host: str | Sequence[str] | None = None,
                       port: int | str | None = None, *,
                       limit: int = DEFAULT_LIMIT, **kwds: Any) -> Server:
    """Serve on ``host``:``port``; call ``client_connected_cb(reader, writer)`` per client.

    A coroutine function callback runs as a task per connection.  Keyword arguments go
    to ``loop.create_server``; the result is its Server object.
    """
    return await _serve("create_server", client_connected_cb, limit, host, port, **kwds)


if hasattr(socket, "AF_UNIX"):

    async def open_unix_connection(path: str | None = None, *, limit: int = DEFAULT_LIMIT,
                                   **kwds: Any) -> tuple[StreamReader, StreamWriter]:
        """open_connection() for a Unix domain socket at ``path``."""
        return await _open("create_unix_connection", limit, path, **kwds)

    async def start_unix_server(client_connected_cb: _ClientConnectedCallback,
                                path: str | None = None, *,
                                limit: int = DEFAULT_LIMIT, **kwds: Any) -> Server:
        """start_server() on a Unix domain socket at ``path``."""
        return await _serve("create_unix_server", client_connected_cb, limit, path, **kwds)


# -- protocols -------------------------------------------------------------------------------

class FlowControlMixin(Protocol):
    """Write-side flow control for StreamWriter.drain() (also for subprocess pipes).

    Implements pause_writing(), resume_writing() and connection_lost(); a subclass that
    overrides them must call these.  ``StreamWriter.drain()`` awaits
    ``protocol._drain_helper()`` and ``wait_closed()`` awaits
    ``protocol._get_close_waiter(writer)``: the names asyncio's StreamWriter uses, so
    that the two implementations can be mixed.
    """

    def __init__(self, loop: AbstractEventLoop | None = None) -> None:
        self._loop = _resolve_loop(loop)
        #: Between the transport's pause_writing() and resume_writing().
        self._paused = False
        #: One future per drain() blocked on the pause.  Each drain() removes its own in
        #: a ``finally``, so a cancelled drain() leaves nothing behind.
        self._drain_waiters: set[Any] = set()
        #: connection_lost() was called: drain() fails from now on.
        self._connection_lost = False

    def _wake_drainers(self, exc: BaseException | None = None) -> None:
        for fut in self._drain_waiters:
            if fut.done():
                continue
            if exc is None:
                fut.set_result(None)
            else:
                fut.set_exception(exc)

    def pause_writing(self) -> None:
        """The transport's buffer is above its high-water mark: drain() now waits."""
        self._paused = True

    def resume_writing(self) -> None:
        """The transport's buffer is back below its low-water mark: wake drain()."""
        self._paused = False
        self._wake_drainers()

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: a waiting drain() fails with ``exc``, later ones
        with ConnectionResetError."""
        self._connection_lost = True
        if self._paused:
            self._wake_drainers(exc)

    async def _drain_helper(self) -> None:
        if self._connection_lost:
            raise ConnectionResetError("Connection lost")
        if self._paused:
            fut = self._loop.create_future()
            self._drain_waiters.add(fut)
            try:
                await fut
            finally:
                self._drain_waiters.discard(fut)

    def _get_close_waiter(self, stream: StreamWriter) -> Any:
        raise NotImplementedError


# StreamWriter.drain() skips the call when this is the protocol's and it would not wait.
_DRAIN_HELPER = FlowControlMixin._drain_helper


class StreamReaderProtocol(FlowControlMixin, Protocol):
    """Adapts a transport to a StreamReader (and, for servers, a callback).

    ``client_connected_cb(reader, writer)``, if given, is called on connection_made with
    a new StreamWriter; a coroutine it returns runs as a task (an exception in it is
    reported to the loop's exception handler and closes the connection).
    """

    def __init__(self, stream_reader: StreamReader | None,
                 client_connected_cb: _ClientConnectedCallback | None = None,
                 loop: AbstractEventLoop | None = None) -> None:
        super().__init__(loop=loop)
        self._stream_reader = stream_reader
        self._client_connected_cb = client_connected_cb
        self._transport: Any = None
        #: The client_connected_cb task (kept referenced while it runs).
        self._task: Any = None
        #: The transport is TLS: its eof_received result is ignored (must be falsy).
        self._over_ssl = False
        #: Resolved by connection_lost(); awaited by StreamWriter.wait_closed().
        self._closed = self._loop.create_future()

    def __repr__(self) -> str:
        return f"<StreamReaderProtocol transport={self._transport!r}>"

    def _replace_transport(self, transport: Any) -> None:
        # StreamWriter.start_tls(): from now on everything goes through ``transport``.
        self._transport = transport
        self._over_ssl = transport.get_extra_info("sslcontext") is not None
        if self._stream_reader is not None:
            self._stream_reader._replace_transport(transport)

    def _take_unread_for_tls(self) -> bytes:
        """loop.start_tls() on a server: the bytes received before it (a TLS ClientHello
        that nobody read) are the handshake's, not the reader's (gh-142352)."""
        reader = self._stream_reader
        return b"" if reader is None else reader._buf.take_all()

    def connection_made(self, transport: BaseTransport) -> None:
        """Hand the transport to the reader and, on a server, start
        ``client_connected_cb(reader, writer)``."""
        self._transport = transport
        self._over_ssl = transport.get_extra_info("sslcontext") is not None
        reader = self._stream_reader
        if reader is not None:
            reader.set_transport(transport)
        # Any: a server's protocol always has a reader (the callback's first argument).
        callback: Any = self._client_connected_cb
        if callback is None:
            return  # a client connection: open_connection() makes the writer
        try:
            result = callback(reader, StreamWriter(transport, self, reader, self._loop))
        except Exception as exc:
            # A plain-function callback failed: report it as a failed coroutine's
            # failure is, and do not leave the connection open (as asyncio 3.14).
            self._loop.call_exception_handler({
                "message": "Unhandled exception in client_connected_cb",
                "exception": exc, "transport": transport})
            transport.close()
            return
        if iscoroutine(result):
            loop = self._loop

            def client_task_done(task: Any) -> None:
                # A failed or cancelled handler must not leave the connection open.
                exc = None if task.cancelled() else task.exception()
                if exc is not None:
                    message = "Unhandled exception in client_connected_cb"
                    loop.call_exception_handler(
                        {"message": message, "exception": exc, "transport": transport})
                if exc is not None or task.cancelled():
                    transport.close()

            self._task = loop.create_task(result)
            self._task.add_done_callback(client_task_done)

    def data_received(self, data: bytes) -> None:
        """Feed the received bytes to the reader."""
        if self._stream_reader is not None:
            self._stream_reader.feed_data(data)

    def eof_received(self) -> bool:
        """Feed EOF to the reader; keep the transport open for writing, except TLS."""
        if self._stream_reader is not None:
            self._stream_reader.feed_eof()
        # Keep the transport open so the writer can still send (half-close); a TLS
        # transport cannot half-close and warns about a true result.
        return not self._over_ssl

    def connection_lost(self, exc: Exception | None) -> None:
        """End the reader (with ``exc`` if the connection failed) and resolve
        ``wait_closed()``."""
        reader = self._stream_reader
        if reader is not None:
            reader.set_exception(exc) if exc is not None else reader.feed_eof()
        if not self._closed.done():
            _settle(self._closed, exc)
        super().connection_lost(exc)
        self._stream_reader = None
        self._transport = None
        self._task = None

    def _get_close_waiter(self, stream: StreamWriter) -> Any:
        return self._closed


# -- reader ----------------------------------------------------------------------------------

class StreamReader:
    """Buffered reading of one connection; fed by a StreamReaderProtocol.

    ``limit`` bounds a line (readline/readuntil, separator excluded) and, times two,
    the buffered bytes before the transport's reading is paused.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT,
                 loop: AbstractEventLoop | None = None) -> None:
        self._buf = ReadBuffer(limit)  # raises ValueError('Limit cannot be <= 0')
        self._loop = _resolve_loop(loop)
        #: Future of the one read*() call waiting for data, else None.
        self._waiter: Any = None
        self._transport: Any = None
        #: We paused the transport's reading (buffer above 2 * limit).
        self._paused = False
        #: Buffered bytes above which feed_data() pauses the transport's reading.
        self._pause_above = 2 * limit

    def __repr__(self) -> str:
        info = ["StreamReader"]
        buf = self._buf
        if len(buf):
            info.append(f"{len(buf)} bytes")
        if buf.eof:
            info.append("eof")
        if buf.limit != DEFAULT_LIMIT:
            info.append(f"limit={buf.limit}")
        if self._waiter is not None:
            info.append(f"waiter={self._waiter!r}")
        if buf.exception() is not None:
            info.append(f"exception={buf.exception()!r}")
        if self._transport is not None:
            info.append(f"transport={self._transport!r}")
        if self._paused:
            info.append("paused")
        return f"<{' '.join(info)}>"

    @property
    def _limit(self) -> int:
        # asyncio's attribute name; some libraries read it.
        return self._buf.limit

    @property
    def _buffer(self) -> bytes:
        # asyncio's attribute, read by CPython's test_streams (the conformance suite)
        # and by some libraries; a read-only snapshot of the unconsumed bytes.
        return self._buf.contents()

    # -- feeding (protocol side) --------------------------------------------------------

    def exception(self) -> BaseException | None:
        """The exception set by set_exception() (the connection's error), or None."""
        return self._buf.exception()

    def set_exception(self, exc: Exception) -> None:
        """Make every read fail with ``exc``; wakes a waiting read."""
        self._buf.set_exception(exc)
        self._wake(exc)

    def _wake(self, exc: BaseException | None = None) -> None:
        # Resolve the pending read's future (if any is still waiting).
        waiter, self._waiter = self._waiter, None
        if waiter is None or waiter.done():
            return
        if exc is not None:
            waiter.set_exception(exc)
        else:
            waiter.set_result(None)

    def set_transport(self, transport: BaseTransport) -> None:
        """Attach the transport whose reading is paused while too much is buffered
        (once; RuntimeError if one is already set)."""
        if self._transport is not None:
            raise RuntimeError(f"{self!r}: transport already set")
        self._transport = transport

    def _replace_transport(self, transport: Any) -> None:
        self._transport = transport
        self._paused = False

    def feed_eof(self) -> None:
        """Mark the end of the data: reads return what is left, then b''."""
        self._buf.feed_eof()
        self._wake()

    def at_eof(self) -> bool:
        """True when feed_eof() was called and the buffer is empty."""
        return self._buf.at_eof()

    def feed_data(self, data: _Buffer) -> None:
        """Append received bytes (RuntimeError after feed_eof()); pauses the
        transport's reading above twice the limit."""
        buf = self._buf
        buffered = buf.feed(data)
        if not data:
            return
        if self._waiter is not None:
            self._wake()
        if self._paused or self._transport is None or buffered <= self._pause_above:
            return
        try:
            self._transport.pause_reading()
            self._paused = True
        except NotImplementedError:
            self._transport = None  # it cannot pause: buffer everything, stop trying

    def _resume_transport(self) -> None:
        self._paused = False
        self._transport.resume_reading()

    def _maybe_resume_transport(self) -> None:
        if self._paused and len(self._buf) <= self._buf.limit:
            self._resume_transport()

    async def _wait_for_data(self, func_name: str) -> None:
        # One waiter at a time: with two, which one would get the next bytes?
        if self._waiter is not None:
            raise RuntimeError(_ALREADY_WAITING.format(func_name))
        if self._paused:
            # Waiting while paused would deadlock (readexactly(n) with n > 2 * limit).
            self._resume_transport()
        waiter = self._waiter = self._loop.create_future()
        try:
            await waiter
        finally:
            # Cleared also when cancelled: the next read may wait again.
            if self._waiter is waiter:
                self._waiter = None

    # -- reading (application side) -----------------------------------------------------
    # Each loop below ends only on bytes, but mypy does not narrow ``is NEED_DATA`` on a
    # plain sentinel (an isinstance() test would, at a cost on every read): hence the
    # ``type: ignore[return-value]`` on the four returns.

    async def readline(self) -> bytes:
        """A line ending with b'\\n'; the partial last line at EOF; b'' at EOF.

        ValueError if the line (without its newline) is longer than the limit; the line
        is dropped (or the whole buffer, if no newline arrived yet).
        """
        while (result := self._buf.readline()) is NEED_DATA:
            await self._wait_for_data("readline")
        if self._paused:
            self._maybe_resume_transport()
        return result  # type: ignore[return-value]

    async def readuntil(self, separator: _Buffer | tuple[_Buffer, ...] = b"\n") -> bytes:
        """Read up to and including ``separator`` (bytes, or a tuple of bytes).

        IncompleteReadError at EOF without a separator (the partial data is consumed);
        LimitOverrunError when the chunk exceeds the limit (the data stays buffered).
        """
        while (result := self._buf.readuntil(separator)) is NEED_DATA:
            await self._wait_for_data("readuntil")
        if self._paused:
            self._maybe_resume_transport()
        return result  # type: ignore[return-value]

    async def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (at least one, unless at EOF); ``n < 0``: all until EOF."""
        while (result := self._buf.read(n)) is NEED_DATA:
            await self._wait_for_data("read")
        if self._paused:
            self._maybe_resume_transport()
        return result  # type: ignore[return-value]

    async def readexactly(self, n: int) -> bytes:
        """Exactly ``n`` bytes; IncompleteReadError if EOF comes first."""
        while (result := self._buf.readexactly(n)) is NEED_DATA:
            await self._wait_for_data("readexactly")
        if self._paused:
            self._maybe_resume_transport()
        return result  # type: ignore[return-value]

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        line = await self.readline()
        if line == b"":
            raise StopAsyncIteration
        return line


# -- writer ----------------------------------------------------------------------------------

class StreamWriter:
    """Writes to a transport; ``drain()`` waits for its flow control."""

    def __init__(self, transport: Any, protocol: Any, reader: StreamReader | None,
                 loop: AbstractEventLoop) -> None:
        if reader is not None and not hasattr(reader, "exception"):
            raise TypeError(
                f"StreamWriter reader must be a StreamReader or None, got {reader!r}")
        self._transport = transport
        self._protocol = protocol
        self._reader = reader
        self._loop = loop

    def __repr__(self) -> str:
        info = [type(self).__name__, f"transport={self._transport!r}"]
        if self._reader is not None:
            info.append(f"reader={self._reader!r}")
        return f"<{' '.join(info)}>"

    @property
    def transport(self) -> Any:
        """The underlying transport (after start_tls(), the TLS one)."""
        return self._transport

    def write(self, data: _Buffer) -> None:
        """Queue ``data`` on the transport; ``await drain()`` to wait for room."""
        self._transport.write(data)

    def writelines(self, data: Iterable[_Buffer]) -> None:
        """Queue each buffer of ``data`` on the transport, as write() would."""
        self._transport.writelines(data)

    def write_eof(self) -> None:
        """Close the write side once the buffered data is sent (see can_write_eof())."""
        return self._transport.write_eof()

    def can_write_eof(self) -> bool:
        """Whether the transport supports write_eof() (a TLS transport does not)."""
        return self._transport.can_write_eof()

    def close(self) -> None:
        """Close the transport; ``await wait_closed()`` to wait until it is closed."""
        return self._transport.close()

    def is_closing(self) -> bool:
        """True once the transport is closed or closing."""
        return self._transport.is_closing()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed; raises the error that closed it."""
        await self._protocol._get_close_waiter(self)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The transport's information ``name`` (``"peername"``, ``"socket"``,
        ``"ssl_object"``, ...), else ``default``."""
        return self._transport.get_extra_info(name, default)

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its low-water mark.

        Raises the reader's exception, or ConnectionResetError once the connection is
        lost, so that a ``write(); await drain()`` loop notices a closed peer.
        """
        reader = self._reader
        if reader is not None and (exc := reader.exception()) is not None:
            raise exc
        transport = self._transport
        if transport.is_closing():
            # Let connection_lost() run, so that _drain_helper() sees the loss.
            await sleep(0)
        protocol = self._protocol
        if (type(protocol)._drain_helper is _DRAIN_HELPER and not protocol._paused
                and not protocol._connection_lost):
            return  # nothing to wait for: spare the _drain_helper() coroutine
        await protocol._drain_helper()

    async def start_tls(self, sslcontext: ssl.SSLContext, *,
                        server_hostname: str | None = None,
                        ssl_handshake_timeout: float | None = None,
                        ssl_shutdown_timeout: float | None = None) -> None:
        """Upgrade the connection to TLS in place (``loop.start_tls``).

        The server side of a start_server() connection does the server handshake.
        """
        protocol = self._protocol
        server_side = getattr(protocol, "_client_connected_cb", None) is not None
        await self.drain()
        new_transport = await self._loop.start_tls(
            self._transport, protocol, sslcontext, server_side=server_side,
            server_hostname=server_hostname, ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout)
        self._transport = new_transport
        protocol._replace_transport(new_transport)

    def __del__(self, _warn: Any = warnings.warn) -> None:
        transport = getattr(self, "_transport", None)
        if transport is None or transport.is_closing():
            return
        if self._loop.is_closed():
            _warn("loop is closed", ResourceWarning)
        else:
            self.close()
            _warn(f"unclosed {self!r}", ResourceWarning)

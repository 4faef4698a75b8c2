"""Socket transports: a stream transport (TCP, Unix) and a datagram transport (UDP).

A transport owns a non-blocking socket and moves bytes between it and a protocol:

* **read path** (kept short, it runs once per received chunk): when the socket is
  readable, one ``recv`` (or ``recv_into`` the buffer of a ``BufferedProtocol``)
  straight into ``data_received``/``buffer_updated``.  A plain Protocol's bytes come
  from ``recv(64 KiB)`` while reads are small and from ``recv(127.5 KiB)`` while the
  peer sends in bulk (see ``_DIRECT_READ``), never copied.  The method registered with the
  loop is chosen once per protocol, not tested on every read.
* **write path**: ``write()`` tries ``send()`` at once when nothing is queued; only the
  remainder goes to a :class:`~coroloop._net.writebuf.WriteBuffer`, which then drives
  flow control (``pause_writing``/``resume_writing`` at the watermarks) and is flushed
  with ``sendmsg`` when the socket turns writable.

Lifecycle of a transport (``_TransportState``)::

    STARTING --connection_made--> OPEN --close()--> CLOSING --buffer flushed--> LOST
        \\___________________________\\___abort() / fatal error / close() w/o data__/^

Every change goes through ``_set_state`` along ``_TRANSITIONS`` (the write side's
through ``_set_write_side``), so any other is a bug that fails loudly.
``connection_lost`` is scheduled exactly once, on entering LOST, and the socket is closed
right after it runs.  Reading and the write side's EOF are separate facts (a protocol may
pause reading; either peer may half-close), kept in their own fields.
"""

from __future__ import annotations

import collections
import enum
import os
import socket
import warnings
from asyncio import protocols, transports
from asyncio.log import logger
from asyncio.trsock import TransportSocket
from typing import Any

from .. import _bridge
from .flowcontrol import tell_protocol
from .statemachine import check_transition
from .writebuf import WriteBuffer

__all__ = ["SocketTransport", "DatagramSocketTransport"]

_RETRY = (BlockingIOError, InterruptedError)
_HAS_SENDMSG = hasattr(socket.socket, "sendmsg")
# sendmsg() refuses more buffers than the system's IOV_MAX (1024 on Linux).
try:
    _IOV_MAX = min(os.sysconf("SC_IOV_MAX"), 1024)
except (AttributeError, ValueError, OSError):  # pragma: no cover
    _IOV_MAX = 16
# A plain Protocol's reads go straight into a new bytes object, never copied, and
# that object must come from the malloc heap: glibc serves a block above its mmap
# threshold (128 KiB by default) with mmap, and a read into it costs mmap, page
# faults on every page the kernel fills, mremap when the object is shrunk to the
# bytes read and munmap when it is freed -- about 70 us of system time per 100 KiB
# read, which is what makes stdlib asyncio's recv(256 KiB) expensive.  glibc raises
# that threshold after freeing a large mapped block, so whether a read maps depends
# on what the process did before (importing big .py files does it; the compiled
# build, which imports fewer, did not: 100 us per 100 KiB echo against 25).  Hence
# reads ask for at most HEAP_READ_MAX, under the default threshold whatever the
# history.  While messages are small, recv(_DIRECT_READ): a block for a short read
# is cheaper to carve and shrink.  A read that fills _DIRECT_READ means the peer
# sends in bulk: reads then ask for HEAP_READ_MAX (or max_size, if smaller) until one
# is small again.
_DIRECT_READ = 64 * 1024
#: The most bytes one read into a new bytes object asks for (also the pipes'): 128 KiB
#: less the bytes object's header and malloc's chunk header, with a margin.
HEAP_READ_MAX = 128 * 1024 - 512
# As asyncio: after this many writes to a lost connection, say so (once per write).
_LOST_WRITES_WARN_AFTER = 5


class _TransportState(enum.Enum):
    #: Created; protocol.connection_made() not called yet.
    STARTING = "starting"
    #: Connected: reading (unless paused) and writing.
    OPEN = "open"
    #: close() called: not reading; flushing the write buffer.
    CLOSING = "closing"
    #: connection_lost() scheduled or done; the socket is (being) closed.
    LOST = "lost"


class _WriteSideState(enum.Enum):
    #: write() may be called.
    OPEN = "open"
    #: write_eof() called; shut down once the buffer is empty.
    EOF_PENDING = "eof_pending"
    #: shutdown(SHUT_WR) done: the peer has seen our EOF.
    SHUT = "shut"


# The states as module globals, for the checks every write() and is_closing() make:
# reading an enum member through its class costs ~10x a global lookup on 3.11.
_STARTING = _TransportState.STARTING
_OPEN = _TransportState.OPEN
_CLOSING = _TransportState.CLOSING
_LOST = _TransportState.LOST
_WRITABLE = _WriteSideState.OPEN
_EOF_PENDING = _WriteSideState.EOF_PENDING
_SHUT = _WriteSideState.SHUT

#: Every allowed transition (through _set_state and _set_write_side).
_TRANSITIONS: dict[_TransportState, frozenset[_TransportState]] = {
    _STARTING: frozenset({_OPEN, _CLOSING, _LOST}),
    _OPEN: frozenset({_CLOSING, _LOST}),
    _CLOSING: frozenset({_LOST}),
    _LOST: frozenset(),
}
_WRITE_SIDE_TRANSITIONS: dict[_WriteSideState, frozenset[_WriteSideState]] = {
    _WRITABLE: frozenset({_EOF_PENDING, _SHUT}),
    _EOF_PENDING: frozenset({_SHUT}),
    _SHUT: frozenset(),
}


def _writelines_type_error(index, data) -> str:
    """asyncio's words for writelines() given a non-bytes item, on this version."""
    if _bridge.WRITELINES_TAKES_MEMORYVIEWS:
        return f"memoryview: a bytes-like object is required, not {type(data).__name__!r}"
    return f"sequence item {index}: expected a bytes-like object, {type(data).__name__} found"


def _addresses(sock) -> dict:
    extra: dict[str, Any] = {"socket": TransportSocket(sock)}
    try:
        extra["sockname"] = sock.getsockname()
    except OSError:
        extra["sockname"] = None
    try:
        extra["peername"] = sock.getpeername()
    except OSError:
        extra["peername"] = None
    return extra


class _SocketTransportBase:
    """What the stream and datagram transports share: ownership of the socket, the
    loop's fd->transport registry, closing, fatal errors, extra info."""

    __slots__ = ()

    # ``self: Any`` on the methods that set or read the fields: they are the
    # subclasses' slots, which the type checker cannot see from this empty tuple.
    def _init_base(self: Any, loop, sock, protocol, extra, server) -> None:
        self._loop = loop
        self._io = loop._io                  # the loop's TransportHost (host.py)
        self._sock = sock                    # None once closed
        self._fd = sock.fileno()
        self._protocol = protocol
        self._extra = _addresses(sock)
        if extra:
            self._extra.update(extra)
        self._server = server
        self._state = _STARTING
        self._paused = False                 # pause_reading() in effect
        self._lost_writes = 0                # writes attempted after the connection was lost
        self._io.register(self._fd, self)
        if server is not None:
            server._attach(self)

    def _set_state(self: Any, new: _TransportState) -> None:
        check_transition(_TRANSITIONS, self, self._state, new)
        self._state = new

    def __repr__(self: Any) -> str:
        info = [self.__class__.__name__, f"fd={self._fd}", self._state.value]
        if self._state is _OPEN:
            info.append("reading" if self.is_reading() else "paused")
            info.append(f"buffered={self.get_write_buffer_size()}")
        return "<{}>".format(" ".join(info))

    def __del__(self, _warn=warnings.warn):
        sock = getattr(self, "_sock", None)
        if sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            sock.close()

    # -- BaseTransport ---------------------------------------------------------------
    def get_extra_info(self, name, default=None):
        return self._extra.get(name, default)

    def is_closing(self) -> bool:
        return self._state is _CLOSING or self._state is _LOST

    def get_protocol(self):
        return self._protocol

    def set_protocol(self, protocol) -> None:
        self._protocol = protocol

    def is_reading(self) -> bool:
        return not self._paused and (
            self._state is _OPEN or self._state is _STARTING)

    def abort(self) -> None:
        self._force_close(None)

    # -- startup ---------------------------------------------------------------------
    def _start(self: Any, waiter) -> None:
        """Call connection_made, start reading, complete *waiter* (if any)."""
        try:
            self._protocol.connection_made(self)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            if waiter is not None and not waiter.done():
                # create_connection & co. raise it to their caller: no need to log it.
                waiter.set_exception(exc)
                self._force_close(exc)
            else:
                self._fatal_error(exc, "Fatal error: protocol.connection_made() call failed.")
            return
        if self._state is _STARTING:
            self._set_state(_OPEN)
            if not self._paused:
                self._io.add_reader(self._fd, self._read_ready)
        if waiter is not None and not waiter.cancelled():
            waiter.set_result(None)

    # -- ending ----------------------------------------------------------------------
    def _fatal_error(self, exc, message) -> None:
        if isinstance(exc, OSError):
            # Resets, broken pipes, timeouts: a network's normal failures, reported to
            # the protocol through connection_lost(exc); logged only when debugging.
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler({
                "message": message,
                "exception": exc,
                "transport": self,
                "protocol": self._protocol,
            })
        self._force_close(exc)

    def _force_close(self, exc) -> None:
        if self._state is _LOST:
            return
        self._drop_write_buffer()
        self._io.remove_writer(self._fd)
        self._io.remove_reader(self._fd)
        self._set_state(_LOST)
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            # Drop the protocol (as asyncio does: get_protocol() is None from now on):
            # a protocol that keeps its transport makes a cycle with it, and the
            # connection's objects (a TLS context, the app's buffers) must be freed by
            # reference counting when the application lets go, not by a gc pass.
            self._protocol = None
            self._drop_callbacks()
            sock = self._sock
            self._sock = None
            self._io.forget(self._fd, self)
            sock.close()
            server = self._server
            if server is not None:
                self._server = None
                server._detach(self)

    def _release_at_loop_close(self) -> None:
        """The loop is closing under us: connection_lost can never run; free the fd."""
        sock = self._sock
        if sock is not None:
            self._sock = None
            if self._state is not _LOST:
                self._set_state(_LOST)
            sock.close()

    def _drop_callbacks(self) -> None:
        """Forget bound methods of ourselves kept in our own fields (a cycle)."""

    def _count_lost_write(self: Any) -> None:
        self._lost_writes += 1
        if self._lost_writes >= _LOST_WRITES_WARN_AFTER:
            logger.warning("socket.send() raised exception.")

    def _drop_write_buffer(self) -> None:
        raise NotImplementedError


class SocketTransport(_SocketTransportBase, transports.Transport):
    """A connected stream socket (TCP or Unix) driving a Protocol or BufferedProtocol."""

    # loop.start_tls() may run TLS over this transport (see tls_transport.start_tls).
    _start_tls_compatible = True

    __slots__ = ("_loop", "_io", "_sock", "_fd", "_protocol", "_server", "_state", "_paused",
                 "_lost_writes", "_buffer", "_write_side", "_read_eof", "_read_ready",
                 "_read_direct", "_empty_waiter", "__weakref__")

    #: Bytes asked of one recv() for a plain Protocol (asyncio's value).
    max_size = 256 * 1024

    def __init__(self, loop, sock, protocol, waiter=None, extra=None, server=None):
        faults = loop._io.stream_faults
        if faults is not None:  # a simulation's hostile network (host.py, item 4)
            sock = faults.wrap(sock)
        self._init_base(loop, sock, protocol, extra, server)
        self._buffer = WriteBuffer()
        self._write_side = _WRITABLE
        self._read_eof = False
        self._read_ready = self._pick_reader(protocol)
        self._read_direct = True             # how _read_data reads (see _DIRECT_READ)
        # Set while loop.sendfile() waits for the buffer to drain or sends the file.
        self._empty_waiter = None
        if sock.family != getattr(socket, "AF_UNIX", None):
            # Latency over batching: a request/response protocol must not wait ~40 ms
            # for Nagle (asyncio does the same).
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                pass
        loop.call_soon(self._start, waiter)

    def _pick_reader(self, protocol):
        if isinstance(protocol, protocols.BufferedProtocol):
            return self._read_into_protocol_buffer
        return self._read_data

    def set_protocol(self, protocol) -> None:
        reading = self._reader_registered()
        self._protocol = protocol
        self._read_ready = self._pick_reader(protocol)
        if reading:  # re-register: the old bound method feeds the old protocol's way
            self._io.add_reader(self._fd, self._read_ready)

    def _drop_callbacks(self) -> None:
        self._read_ready = None  # only registered with the loop in the OPEN state

    def _reader_registered(self) -> bool:
        return self._state is _OPEN and not self._paused and not self._read_eof

    # -- reading ---------------------------------------------------------------------
    def pause_reading(self) -> None:
        if not self.is_reading():
            return
        self._paused = True
        self._io.remove_reader(self._fd)
        if self._loop.get_debug():
            logger.debug("%r pauses reading", self)

    def resume_reading(self) -> None:
        if not self._paused or self.is_closing():
            return
        self._paused = False
        if self._state is _OPEN and not self._read_eof:
            self._io.add_reader(self._fd, self._read_ready)
        if self._loop.get_debug():
            logger.debug("%r resumes reading", self)

    def _read_data(self) -> None:
        # The read size follows what the previous read brought (see _DIRECT_READ).
        # (max_size is a class attribute: read once, as 3.11 does not specialise that.)
        max_size = self.max_size
        try:
            if self._read_direct:
                size = _DIRECT_READ if max_size > _DIRECT_READ else max_size
                data = self._sock.recv(size)
                if len(data) == size:
                    self._read_direct = False  # it filled up: the peer sends in bulk
            else:
                size = HEAP_READ_MAX if max_size > HEAP_READ_MAX else max_size
                data = self._sock.recv(size)
                if len(data) < _DIRECT_READ // 4:
                    self._read_direct = True
        except BaseException as exc:
            self._recv_failed(exc)
            return
        if not data:
            self._eof_received()
            return
        try:
            self._protocol.data_received(data)
        except BaseException as exc:
            self._protocol_failed(exc, "data_received")

    def _read_into_protocol_buffer(self) -> None:
        protocol = self._protocol
        try:
            buf = protocol.get_buffer(-1)
            if not len(buf):
                raise RuntimeError(f"{protocol!r}.get_buffer() returned an empty buffer")
        except BaseException as exc:
            self._protocol_failed(exc, "get_buffer")
            return
        try:
            n = self._sock.recv_into(buf)
        except BaseException as exc:
            self._recv_failed(exc)
            return
        if not n:
            self._eof_received()
            return
        try:
            protocol.buffer_updated(n)
        except BaseException as exc:
            self._protocol_failed(exc, "buffer_updated")

    # The readers' failure policy, one copy for both (called only when something
    # raised, so the read itself pays nothing): a would-block is a spurious wake-up,
    # SystemExit and KeyboardInterrupt propagate, anything else ends the connection.
    def _recv_failed(self, exc) -> None:
        if isinstance(exc, _RETRY):
            return
        if isinstance(exc, (SystemExit, KeyboardInterrupt)):
            raise exc
        self._fatal_error(exc, "Fatal read error on socket transport")

    def _protocol_failed(self, exc, method: str) -> None:
        if isinstance(exc, (SystemExit, KeyboardInterrupt)):
            raise exc
        self._fatal_error(exc, f"Fatal error: protocol.{method}() call failed.")

    def _eof_received(self) -> None:
        if self._loop.get_debug():
            logger.debug("%r received EOF", self)
        self._read_eof = True
        self._io.remove_reader(self._fd)
        try:
            keep_open = self._protocol.eof_received()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Error calling protocol.eof_received()")
            return
        if not keep_open:
            self.close()

    # -- writing ---------------------------------------------------------------------
    def write(self, data) -> None:
        if type(data) is not bytes and not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(_bridge.STREAM_WRITE_TYPE_ERROR.format(type(data).__name__))
        if self._write_side is not _WRITABLE:
            raise RuntimeError(f"Cannot call write() after write_eof() on {self!r}")
        if self._empty_waiter is not None:
            raise RuntimeError(f"unable to write on {self!r}: sendfile is in progress")
        if not data:
            return
        if self._state is _LOST:
            self._count_lost_write()
            return
        buffer = self._buffer
        if not buffer.size:
            # Nothing queued: hand it to the kernel now, usually all of it.
            try:
                sent = self._sock.send(data)
            except _RETRY:
                sent = 0
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on socket transport")
                return
            if type(data) is not bytes:
                data = memoryview(data)
                if data.format != "B" or data.ndim != 1:
                    data = data.cast("B")
            if sent == len(data):
                return
            if sent:
                data = memoryview(data)[sent:]
            self._io.add_writer(self._fd, self._on_writable)
        if buffer.append(data):
            self._pause_protocol()

    def writelines(self, list_of_data) -> None:
        if self._write_side is not _WRITABLE:
            raise RuntimeError(f"Cannot call writelines() after write_eof() on {self!r}")
        if self._empty_waiter is not None:
            raise RuntimeError(f"unable to write on {self!r}: sendfile is in progress")
        list_of_data = list(list_of_data)
        for index, data in enumerate(list_of_data):  # all or nothing: check them first
            if not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(_writelines_type_error(index, data))
        if self._state is _LOST:
            if any(list_of_data):
                self._count_lost_write()
            return
        buffer = self._buffer
        was_empty = not buffer
        pause = False
        for data in list_of_data:
            pause = buffer.append(data) or pause
        if pause:
            self._pause_protocol()
        if was_empty and buffer:
            # One sendmsg() for all of it; the writer is only needed for a remainder.
            if self._flush() and buffer:
                self._io.add_writer(self._fd, self._on_writable)

    def _flush(self) -> bool:
        """Send what the kernel takes from the buffer; False after a fatal error."""
        buffer = self._buffer
        chunks = buffer.chunks(_IOV_MAX)
        try:
            if len(chunks) == 1 or not _HAS_SENDMSG:
                sent = self._sock.send(chunks[0])
            else:
                sent = self._sock.sendmsg(chunks)
        except _RETRY:
            return True
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal write error on socket transport")
            return False
        if buffer.consume(sent):
            self._resume_protocol()
        return True

    def _on_writable(self) -> None:
        if not self._flush() or self._buffer:
            return
        self._io.remove_writer(self._fd)
        self._buffer_drained()

    def _buffer_drained(self) -> None:
        """The last buffered byte went out: finish what waited for it."""
        waiter = self._empty_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if self._state is _CLOSING:
            self._set_state(_LOST)
            self._call_connection_lost(None)
        elif self._write_side is _EOF_PENDING:
            self._shutdown_write()

    def _set_write_side(self, new: _WriteSideState) -> None:
        check_transition(_WRITE_SIDE_TRANSITIONS, self, self._write_side, new)
        self._write_side = new

    def _shutdown_write(self) -> None:
        self._set_write_side(_SHUT)
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            self._fatal_error(exc, "Fatal error on socket shutdown")

    def _pause_protocol(self) -> None:
        tell_protocol(self._loop, self._protocol, "pause_writing", self)

    def _resume_protocol(self) -> None:
        tell_protocol(self._loop, self._protocol, "resume_writing", self)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self._write_side is not _WRITABLE or self.is_closing():
            return
        if self._buffer:
            self._set_write_side(_EOF_PENDING)
        else:
            self._set_write_side(_SHUT)
            self._sock.shutdown(socket.SHUT_WR)

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        if self._buffer.set_write_buffer_limits(high, low):
            self._pause_protocol()

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._buffer.get_write_buffer_limits()

    # -- closing ---------------------------------------------------------------------
    def close(self) -> None:
        if self.is_closing():
            return
        self._set_state(_CLOSING)
        self._io.remove_reader(self._fd)
        if not self._buffer:
            self._set_state(_LOST)
            self._io.remove_writer(self._fd)
            self._loop.call_soon(self._call_connection_lost, None)

    def _drop_write_buffer(self) -> None:
        self._buffer.clear()
        waiter = self._empty_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError(f"{self!r} was closed during sendfile"))

    # -- loop.sendfile() support -----------------------------------------------------
    async def _sendfile_native(self, file, offset, count):
        """os.sendfile() straight to our socket, after the write buffer has drained.

        Reading is paused and the transport leaves the loop's fd registry meanwhile,
        so the loop's sock_sendfile may wait on our descriptor.
        """
        loop = self._loop
        resume = self.is_reading()
        self.pause_reading()
        self._empty_waiter = loop.create_future()
        if not self._buffer:
            self._empty_waiter.set_result(None)
        self._io.forget(self._fd, self)
        try:
            await self._empty_waiter
            return await loop.sock_sendfile(self._sock, file, offset, count, fallback=False)
        finally:
            self._empty_waiter = None
            if self._sock is not None:
                self._io.register(self._fd, self)
            if resume:
                self.resume_reading()


def _check_datagram_limits(high, low) -> tuple[int, int]:
    if high is None:
        high = 64 * 1024 if low is None else 4 * low
    if low is None:
        low = high // 4
    if not high >= low >= 0:
        raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
    return high, low


class DatagramSocketTransport(_SocketTransportBase, transports.DatagramTransport,
                              transports.Transport):
    """A datagram socket (UDP or Unix datagram) driving a DatagramProtocol.

    An ``asyncio.Transport`` as well, as asyncio's datagram transports are (its tests
    check it); write() and the other stream-only methods are not supported.

    Datagrams that the kernel does not take at once wait in a queue with their
    addresses; the queue's byte size drives pause_writing/resume_writing.
    """

    __slots__ = ("_loop", "_io", "_sock", "_fd", "_protocol", "_server", "_state", "_paused",
                 "_lost_writes", "_address", "_connected", "_queue", "_queued_bytes",
                 "_high", "_low", "_protocol_paused", "__weakref__")

    #: Largest datagram received (asyncio's value).
    max_size = 256 * 1024

    def __init__(self, loop, sock, protocol, address=None, waiter=None, extra=None):
        self._init_base(loop, sock, protocol, extra, None)
        self._address = address            # the remote address sendto() must use, if any
        self._connected = self._extra.get("peername") is not None
        self._queue: collections.deque = collections.deque()  # (bytes, address)
        self._queued_bytes = 0
        self._high, self._low = _check_datagram_limits(None, None)
        self._protocol_paused = False
        loop.call_soon(self._start, waiter)

    def _read_ready(self) -> None:
        try:
            data, addr = self._sock.recvfrom(self.max_size)
        except _RETRY:
            return
        except OSError as exc:
            self._protocol.error_received(exc)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on datagram transport")
        else:
            self._protocol.datagram_received(data, addr)

    def pause_reading(self) -> None:
        if not self.is_reading():
            return
        self._paused = True
        self._io.remove_reader(self._fd)

    def resume_reading(self) -> None:
        if not self._paused or self.is_closing():
            return
        self._paused = False
        if self._state is _OPEN:
            self._io.add_reader(self._fd, self._read_ready)

    def get_write_buffer_size(self) -> int:
        return self._queued_bytes

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        self._high, self._low = _check_datagram_limits(high, low)
        self._maybe_pause()

    def sendto(self, data, addr=None) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("data argument must be a bytes-like object, "
                            f"not {type(data).__name__!r}")
        if self._address is not None:
            if addr not in (None, self._address):
                raise ValueError(f"Invalid address: must be None or {self._address}")
            addr = self._address
        if self._state is _LOST and (self._address is not None or self._sock is None):
            # As asyncio: a connected endpoint drops (and counts) datagrams once
            # closed; an unconnected one still sends until connection_lost() has run
            # (an error_received() that closes the transport sees the next error too).
            self._count_lost_write()
            return
        if not self._queue:
            # Empty datagrams are sent too: they are valid UDP (as asyncio 3.13 does).
            try:
                if self._connected:
                    self._sock.send(data)
                else:
                    self._sock.sendto(data, addr)
                return
            except _RETRY:
                self._io.add_writer(self._fd, self._on_writable)
            except OSError as exc:
                self._protocol.error_received(exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on datagram transport")
                return
        data = bytes(data)  # the caller may reuse a mutable buffer
        self._queue.append((data, addr))
        self._queued_bytes += len(data)
        self._maybe_pause()

    def _on_writable(self) -> None:
        queue = self._queue
        while queue:
            data, addr = queue[0]
            try:
                if self._connected:
                    self._sock.send(data)
                else:
                    self._sock.sendto(data, addr)
            except _RETRY:
                break
            except OSError as exc:
                queue.popleft()
                self._queued_bytes -= len(data)
                self._protocol.error_received(exc)
                break
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on datagram transport")
                return
            queue.popleft()
            self._queued_bytes -= len(data)
        self._maybe_resume()
        if not queue:
            self._io.remove_writer(self._fd)
            if self._state is _CLOSING:
                self._set_state(_LOST)
                self._call_connection_lost(None)

    def _maybe_pause(self) -> None:
        if not self._protocol_paused and self._queued_bytes > self._high:
            self._protocol_paused = True
            tell_protocol(self._loop, self._protocol, "pause_writing", self)

    def _maybe_resume(self) -> None:
        if self._protocol_paused and self._queued_bytes <= self._low:
            self._protocol_paused = False
            tell_protocol(self._loop, self._protocol, "resume_writing", self)

    def close(self) -> None:
        if self.is_closing():
            return
        self._set_state(_CLOSING)
        self._io.remove_reader(self._fd)
        if not self._queue:
            self._set_state(_LOST)
            self._loop.call_soon(self._call_connection_lost, None)

    def _drop_write_buffer(self) -> None:
        self._queue.clear()
        self._queued_bytes = 0

"""Pipe transports: a protocol on one end of a pipe, a FIFO, a socket or a tty.

``connect_read_pipe`` and ``connect_write_pipe`` wrap a file object (whose
descriptor they switch to non-blocking mode and which they own from then on) in
a transport driven by ``loop.add_reader`` / ``loop.add_writer``.  Regular files
are refused: they are always "ready", so polling them means busy-looping.

Order of protocol calls, as in asyncio: ``connection_made`` is scheduled when the
transport is created and the waiter of ``connect_*_pipe`` completes after it;
reading starts only after ``connection_made`` has run.  ``connection_lost`` is
always the last call, scheduled (never made from inside ``close()``), and closes
the file object.

The write side keeps unsent bytes in the sans-I/O :class:`WriteBuffer` and sends
them with ``os.writev``.  It also watches its descriptor for *readability*: on a
pipe or a socket the write end becomes readable when the peer has closed the
read end, which is how a writer learns that nobody is listening any more
without having to write first.  (A tty never signals that; it is not watched.)
"""

from __future__ import annotations

import asyncio
import enum
import errno
import os
import stat
import warnings
from typing import Any
from asyncio.log import logger

from .._core.futures import set_result_if_pending
from .flowcontrol import tell_protocol
from .statemachine import check_transition
from .transports import HEAP_READ_MAX
from .writebuf import WriteBuffer

__all__ = ["ReadPipeTransport", "WritePipeTransport", "connect_read_pipe",
           "connect_write_pipe"]

#: Most bytes read in one callback, so one busy pipe does not starve the others; no
#: more than a heap block holds (a bigger os.read() maps and unmaps memory on every
#: call: see HEAP_READ_MAX in transports.py).
MAX_READ = HEAP_READ_MAX
#: Most chunks handed to one os.writev() (well under any IOV_MAX).
_MAX_IOVECS = 64
#: After this many write() calls on a lost pipe, each one logs a warning
#: (asyncio.constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES).
_LOST_WRITES_BEFORE_WARNING = 5


class _PipeState(enum.Enum):
    #: Transferring data.
    OPEN = "open"
    #: close(), EOF or an error seen; connection_lost not delivered yet.  (A write
    #: pipe may go CLOSING -> CLOSING: abort() while its buffer drains.)
    CLOSING = "closing"
    #: connection_lost delivered, the file object closed.
    CLOSED = "closed"


# Module globals for the checks every write() makes (an enum member read through
# its class costs ~10x a global lookup on 3.11).
_OPEN = _PipeState.OPEN
_CLOSING = _PipeState.CLOSING
_CLOSED = _PipeState.CLOSED

#: Every allowed transition (through _set_state).
_TRANSITIONS: dict[_PipeState, frozenset[_PipeState]] = {
    _OPEN: frozenset({_CLOSING}),
    _CLOSING: frozenset({_CLOSING, _CLOSED}),
    _CLOSED: frozenset(),
}


def _check_pipe_kind(fileno: int, kind: str) -> bool:
    """Refuse anything that poll() cannot wait on; True if it is a tty/char device."""
    mode = os.fstat(fileno).st_mode
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
        # asyncio's words first (they differ by direction), then why.
        words = ("Pipe transport is for pipes/sockets only." if kind == "read" else
                 "Pipe transport is only for pipes, sockets and character devices")
        raise ValueError(
            f"{words} ({kind} pipe transport: fd {fileno} is none of these; regular "
            "files are always 'ready' and cannot be polled: read them in an executor)")
    return stat.S_ISCHR(mode)


class _PipeTransportBase:
    """What both directions share: the pipe, its protocol, its state, extra info."""

    _extra: dict[str, Any]  # (asyncio's BaseTransport.__init__ sets it in the subclasses)

    def _init_pipe(self, loop, pipe, protocol, kind: str) -> bool:
        fileno = pipe.fileno()
        is_char = _check_pipe_kind(fileno, kind)
        self._loop = loop
        #: The file object we own; None once closed (named as asyncio names it, so
        #: code that cleans up after a closed loop keeps working).
        self._pipe = pipe
        self._fileno = fileno
        self._protocol = protocol
        self._state = _OPEN
        self._extra["pipe"] = pipe
        os.set_blocking(fileno, False)
        return is_char

    def _announce(self, waiter, start) -> None:
        # connection_made first, then start watching the fd, then wake the caller.
        self._loop.call_soon(self._protocol.connection_made, self)
        if start is not None:
            self._loop.call_soon(start)
        if waiter is not None:
            self._loop.call_soon(set_result_if_pending, waiter, None)

    def _set_state(self, new: _PipeState) -> None:
        check_transition(_TRANSITIONS, self, self._state, new)
        self._state = new

    def get_protocol(self):
        return self._protocol

    def set_protocol(self, protocol) -> None:
        self._protocol = protocol

    def is_closing(self) -> bool:
        return self._state is not _OPEN

    def fileno(self) -> int:
        return self._fileno

    def _repr_state(self) -> str:
        if self._pipe is None:
            return "closed"
        if self._state is _CLOSING:
            return "closing"
        return "open"

    def __del__(self, _warn=warnings.warn):
        pipe = getattr(self, "_pipe", None)
        if pipe is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            pipe.close()

    def _deliver_connection_lost(self, exc) -> None:
        """The last protocol call; then the pipe is closed and references dropped."""
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._set_state(_CLOSED)
            self._pipe.close()
            self._pipe = None
            self._protocol = None
            self._loop = None

    def _report_fatal(self, exc, message: str, quiet: bool) -> None:
        if quiet:
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler({
                "message": message,
                "exception": exc,
                "transport": self,
                "protocol": self._protocol,
            })


class ReadPipeTransport(_PipeTransportBase, asyncio.ReadTransport):
    """The read end of a pipe, delivering ``data_received`` / ``eof_received``."""

    max_size = MAX_READ

    def __init__(self, loop, pipe, protocol, waiter=None, extra=None):
        asyncio.ReadTransport.__init__(self, extra)
        self._init_pipe(loop, pipe, protocol, "read")
        #: pause_reading() was called (meaningful only while OPEN).
        self._paused = False
        self._announce(waiter, self._start_reading)

    def __repr__(self) -> str:
        state = self._repr_state()
        if state == "open" and not self._loop.is_closed():
            state = "idle" if self._paused else "polling"
        return f"<{type(self).__name__} fd={self._fileno} {state}>"

    def _start_reading(self) -> None:
        if self.is_reading():
            self._loop.add_reader(self._fileno, self._on_readable)

    def is_reading(self) -> bool:
        return self._state is _OPEN and not self._paused

    def pause_reading(self) -> None:
        if not self.is_reading():
            return
        self._paused = True
        self._loop.remove_reader(self._fileno)

    def resume_reading(self) -> None:
        if self._state is not _OPEN or not self._paused:
            return
        self._paused = False
        self._loop.add_reader(self._fileno, self._on_readable)

    def close(self) -> None:
        if self._state is _OPEN:
            self._shut(None)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._fileno, self.max_size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            # EIO is how a pty reports that its other side has gone: not worth a report.
            self._report_fatal(exc, "Fatal read error on pipe transport",
                               quiet=exc.errno == errno.EIO)
            self._shut(exc)
            return
        if data:
            self._protocol.data_received(data)
            return
        # EOF: the writer closed its end.
        if self._loop.get_debug():
            logger.info("%r was closed by peer", self)
        self._set_state(_CLOSING)
        self._loop.remove_reader(self._fileno)
        self._loop.call_soon(self._protocol.eof_received)
        self._loop.call_soon(self._deliver_connection_lost, None)

    def _shut(self, exc) -> None:
        self._set_state(_CLOSING)
        self._loop.remove_reader(self._fileno)
        self._loop.call_soon(self._deliver_connection_lost, exc)


class WritePipeTransport(_PipeTransportBase, asyncio.Transport):
    """The write end of a pipe, with asyncio's write buffering and flow control.

    A Transport, not only a WriteTransport, as asyncio's: its read half is
    asyncio's, so pause_reading()/resume_reading() raise NotImplementedError.
    """

    def __init__(self, loop, pipe, protocol, waiter=None, extra=None):
        asyncio.Transport.__init__(self, extra)
        is_char = self._init_pipe(loop, pipe, protocol, "write")
        self._buffer = WriteBuffer()
        #: write() calls made after the pipe was lost (they are dropped, as in asyncio).
        self._lost_writes = 0
        #: Whether we watch the fd for the peer closing its end (not on a tty).
        self._watch_peer = not is_char
        self._announce(waiter, self._start_watching_peer if self._watch_peer else None)

    def __repr__(self) -> str:
        state = self._repr_state()
        if self._pipe is not None:
            state += f" bufsize={self._buffer.get_write_buffer_size()}"
        return f"<{type(self).__name__} fd={self._fileno} {state}>"

    def _start_watching_peer(self) -> None:
        if self._state is _OPEN:
            self._loop.add_reader(self._fileno, self._on_peer_closed)

    # -- flow control ----------------------------------------------------------------
    def get_write_buffer_size(self) -> int:
        return self._buffer.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._buffer.get_write_buffer_limits()

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        if self._buffer.set_write_buffer_limits(high, low):
            tell_protocol(self._loop, self._protocol, "pause_writing", self)

    # -- writing ---------------------------------------------------------------------
    def write(self, data) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            # AssertionError with repr(data) first, as asyncio's (an assert there).
            raise AssertionError(f"{data!r}: data argument must be a bytes-like object, "
                                 f"not {type(data).__name__!r}")
        if not data:
            return
        if self._state is not _OPEN or self._lost_writes:
            if self._lost_writes >= _LOST_WRITES_BEFORE_WARNING:
                logger.warning("pipe closed by peer or os.write(pipe, data) raised exception.")
            self._lost_writes += 1
            return
        if not self._buffer:
            # Nothing queued: try the kernel first, buffer only what it refuses.
            try:
                sent = os.write(self._fileno, data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._write_failed(exc)
                return
            if sent == len(data):
                return
            data = memoryview(data).cast("B")[sent:]
            self._loop.add_writer(self._fileno, self._on_writable)
        if self._buffer.append(data):
            tell_protocol(self._loop, self._protocol, "pause_writing", self)

    def _on_writable(self) -> None:
        try:
            sent = os.writev(self._fileno, self._buffer.chunks(_MAX_IOVECS))
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._write_failed(exc)
            return
        if self._buffer.consume(sent):
            # (The protocol may write more from inside its resume_writing().)
            tell_protocol(self._loop, self._protocol, "resume_writing", self)
        if self._buffer:
            return
        self._loop.remove_writer(self._fileno)
        if self._state is _CLOSING:
            # write_eof()/close() was waiting for the buffer to drain.
            self._loop.remove_reader(self._fileno)
            self._deliver_connection_lost(None)

    def _on_peer_closed(self) -> None:
        if self._loop.get_debug():
            logger.info("%r was closed by peer", self)
        # Bytes still queued will never be read: that is a broken pipe.
        self._shut(BrokenPipeError() if self._buffer else None)

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self._state is not _OPEN:
            return
        self._set_state(_CLOSING)
        if not self._buffer:
            self._loop.remove_reader(self._fileno)
            self._loop.call_soon(self._deliver_connection_lost, None)
        # else: _on_writable() finishes the job once the buffer is empty.

    def close(self) -> None:
        # A pipe has no half-close: EOF after the buffered data is all close() means.
        if self._pipe is not None and self._state is _OPEN:
            self.write_eof()

    def abort(self) -> None:
        self._shut(None)

    def _write_failed(self, exc) -> None:
        self._lost_writes += 1  # from now on write() drops (and counts) its data
        self._fail(exc, "Fatal write error on pipe transport")

    def _fail(self, exc, message: str) -> None:
        # OSErrors (EPIPE, ...) are the peer's doing, not a bug: log them quietly.
        self._report_fatal(exc, message, quiet=isinstance(exc, OSError))
        self._shut(exc)

    def _shut(self, exc) -> None:
        if self._state is _CLOSED or self._pipe is None:
            return
        already_scheduled = self._state is _CLOSING and not self._buffer
        self._set_state(_CLOSING)
        self._buffer.clear()
        self._loop.remove_writer(self._fileno)
        self._loop.remove_reader(self._fileno)
        if not already_scheduled:
            self._loop.call_soon(self._deliver_connection_lost, exc)


async def _connect(loop, transport_class, protocol_factory, pipe):
    protocol = protocol_factory()
    waiter = loop.create_future()
    transport = transport_class(loop, pipe, protocol, waiter)
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    if loop.get_debug():
        logger.debug("%s pipe %r connected: (%r, %r)", transport_class.__name__,
                     pipe.fileno(), transport, protocol)
    return transport, protocol


async def connect_read_pipe(loop, protocol_factory, pipe):
    """``loop.connect_read_pipe``: the loop reads *pipe* into a new protocol."""
    return await _connect(loop, ReadPipeTransport, protocol_factory, pipe)


async def connect_write_pipe(loop, protocol_factory, pipe):
    """``loop.connect_write_pipe``: a write transport on *pipe* for a new protocol."""
    return await _connect(loop, WritePipeTransport, protocol_factory, pipe)

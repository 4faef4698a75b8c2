"""The loop's ``sock_*`` coroutines: one socket operation each, on a non-blocking socket.

Each is a function of the loop (its first parameter), which ``coroloop.EventLoop``
names as its method of the same name (``sock_recv = sockets.sock_recv``).

Every operation first tries the system call directly: on a busy server the data is
usually there already and no future, callback or poller change is needed.  Only
when the call would block does the operation register a reader or writer and wait.

A waiting operation is one object, a :class:`_SocketWait` future: its bound method is
the reader/writer callback that retries the operation, and the moment the future is
done -- completed by that retry, or cancelled -- it removes that callback itself, so
cancelling the awaiting task never leaves a callback registered on the descriptor,
and completing costs no done callback.
"""

from __future__ import annotations

import asyncio.futures as _asyncio_futures
import errno
import functools
import io
import os
import socket
from asyncio.exceptions import SendfileNotAvailableError

from .._core.futures import PENDING, Future, asyncio_twin
from .dns import resolve

try:
    import ssl
except ImportError:  # pragma: no cover - Python built without OpenSSL
    ssl = None  # type: ignore[assignment]

__all__ = ["sock_recv", "sock_recv_into", "sock_recvfrom", "sock_recvfrom_into", "sock_accept",
           "sock_sendto", "sock_sendall", "sock_connect", "sock_sendfile",
           "check_socket", "check_not_ssl_socket", "check_sendfile_args"]

# Chunk size of the read+send fallback of sock_sendfile.
_SENDFILE_FALLBACK_CHUNK = 256 * 1024
# os.sendfile is asked for at most this much per call, so a huge file does not hold
# the loop in one system call longer than needed.
_SENDFILE_MAX_BLOCK = 1 << 30
_HAS_SENDFILE = hasattr(os, "sendfile")
_RETRY = (BlockingIOError, InterruptedError)
# Returned by a _SocketWait operation that made progress but is not finished.
_AGAIN = object()


def check_not_ssl_socket(sock) -> None:
    """An ``ssl.SSLSocket`` does its own I/O behind the loop's back: refused."""
    if ssl is not None and isinstance(sock, ssl.SSLSocket):
        raise TypeError("Socket cannot be of type SSLSocket")


def check_socket(loop, sock) -> None:
    """asyncio's checks on a socket given to ``sock_*``: not an SSLSocket, and
    non-blocking (checked in debug mode only, as asyncio)."""
    if ssl is not None and isinstance(sock, ssl.SSLSocket):
        raise TypeError("Socket cannot be of type SSLSocket")
    if loop.get_debug() and sock.gettimeout() != 0:
        raise ValueError("the socket must be non-blocking")


def check_sendfile_args(sock, file, offset, count) -> None:
    if "b" not in getattr(file, "mode", "b"):
        raise ValueError("file should be opened in binary mode")
    if sock is not None and sock.type != socket.SOCK_STREAM:
        raise ValueError("only SOCK_STREAM type sockets are supported")
    if count is not None:
        if not isinstance(count, int):
            raise TypeError(f"count must be a positive integer (got {count!r})")
        if count <= 0:
            raise ValueError(f"count must be a positive integer (got {count!r})")
    if not isinstance(offset, int):
        raise TypeError(f"offset must be a non-negative integer (got {offset!r})")
    if offset < 0:
        raise ValueError(f"offset must be a non-negative integer (got {offset!r})")


# -- the one place an operation waits --------------------------------------------
def _sock_wait(loop, sock, writable: bool, op, *args):
    """A future for ``sock.<op>(*args)`` (``op`` a method name) or ``op(*args)``
    (a function), retried each time *sock* is ready (see :class:`_SocketWait`)."""
    fd = sock.fileno()
    loop._io.ensure_free(fd)
    return _SocketWait(loop, fd, writable, sock, op, args)


# -- receiving -------------------------------------------------------------------
async def sock_recv(loop, sock, n):
    """Receive up to *nbytes* bytes from the non-blocking socket (b'' at EOF)."""
    check_socket(loop, sock)
    try:
        return sock.recv(n)
    except _RETRY:
        pass
    return await _sock_wait(loop, sock, False, "recv", n)


async def sock_recv_into(loop, sock, buf):
    """Receive into *buf*; return the number of bytes received."""
    check_socket(loop, sock)
    try:
        return sock.recv_into(buf)
    except _RETRY:
        pass
    return await _sock_wait(loop, sock, False, "recv_into", buf)


async def sock_recvfrom(loop, sock, bufsize):
    """Receive a datagram of up to *bufsize* bytes; return ``(data, address)``."""
    check_socket(loop, sock)
    try:
        return sock.recvfrom(bufsize)
    except _RETRY:
        pass
    return await _sock_wait(loop, sock, False, "recvfrom", bufsize)


async def sock_recvfrom_into(loop, sock, buf, nbytes=0):
    """Receive a datagram into *buf*; return ``(nbytes, address)``."""
    check_socket(loop, sock)
    if not nbytes:
        nbytes = len(buf)
    try:
        return sock.recvfrom_into(buf, nbytes)
    except _RETRY:
        pass
    return await _sock_wait(loop, sock, False, "recvfrom_into", buf, nbytes)


async def sock_accept(loop, sock):
    """Accept a connection on the non-blocking listening socket; return
    ``(conn, address)``."""
    check_socket(loop, sock)
    try:
        conn, address = sock.accept()
    except _RETRY:
        conn, address = await _sock_wait(loop, sock, False, "accept")
    conn.setblocking(False)
    return conn, address


# -- sending ---------------------------------------------------------------------
async def sock_sendto(loop, sock, data, address):
    """Send the datagram *data* to *address*; return the number of bytes sent."""
    check_socket(loop, sock)
    try:
        return sock.sendto(data, address)
    except _RETRY:
        pass
    return await _sock_wait(loop, sock, True, "sendto", data, address)


async def sock_sendall(loop, sock, data):
    """Send all of *data* on the non-blocking socket, waiting while its buffer
    is full."""
    check_socket(loop, sock)
    try:
        sent = sock.send(data)
    except _RETRY:
        sent = 0
    if data.__class__ is bytes and sent == len(data):
        return None  # the common case, without a memoryview
    view = memoryview(data)
    if view.format != "B" or view.ndim != 1:
        view = view.cast("B")
    total = view.nbytes
    if sent == total:
        return None
    position = sent  # bytes of data sent so far

    def send_rest():
        nonlocal position
        position += sock.send(view[position:])
        return None if position == total else _AGAIN

    return await _sock_wait(loop, sock, True, send_rest)


async def sock_connect(loop, sock, address):
    """Connect the non-blocking socket to *address* (resolved first if needed)."""
    check_socket(loop, sock)
    if sock.family == socket.AF_INET or (
            sock.family == socket.AF_INET6 and socket.has_ipv6):
        infos = await resolve(loop, address, family=sock.family, type=sock.type,
                              proto=sock.proto)
        address = infos[0][4]
    try:
        sock.connect(address)
        return None
    except _RETRY:
        pass
    # In progress: the socket turns writable when the connect finished either
    # way; SO_ERROR tells which.
    return await _sock_wait(loop, sock, True, _connect_result, sock, address)


# -- sendfile --------------------------------------------------------------------
async def sock_sendfile(loop, sock, file, offset=0, count=None, *, fallback=True):
    """Send *file* on the socket (``os.sendfile`` where possible, else read and
    send); return the number of bytes sent."""
    check_socket(loop, sock)
    if sock.gettimeout() != 0:
        raise ValueError("the socket must be non-blocking")
    check_sendfile_args(sock, file, offset, count)
    try:
        return await _sendfile_native(loop, sock, file, offset, count)
    except SendfileNotAvailableError:
        if not fallback:
            raise
    return await _sendfile_fallback(loop, sock, file, offset, count)


async def _sendfile_native(loop, sock, file, offset, count):
    """Zero-copy ``os.sendfile``; SendfileNotAvailableError before any byte is sent
    means the caller may fall back to read+send."""
    if not _HAS_SENDFILE:
        raise SendfileNotAvailableError("os.sendfile() is not available on this platform")
    try:
        fileno = file.fileno()
    except (AttributeError, io.UnsupportedOperation) as err:
        raise SendfileNotAvailableError("not a regular file") from err
    try:
        size = os.fstat(fileno).st_size
    except OSError as err:
        raise SendfileNotAvailableError("not a regular file") from err
    block = min(count if count else size, _SENDFILE_MAX_BLOCK)
    if not block:
        return 0
    fd = sock.fileno()
    sent = 0
    try:
        while count is None or sent < count:
            want = block if count is None else min(block, count - sent)
            try:
                n = os.sendfile(fd, fileno, offset + sent, want)
            except _RETRY:
                await _sock_wait(loop, sock, True, _noop)
                continue
            except OSError as exc:
                if sent == 0 and not isinstance(exc, ConnectionError) \
                        and exc.errno != errno.ENOTCONN:
                    # EINVAL, ENOTSOCK, ENOSYS...: this file or socket cannot be
                    # sent this way; read+send can.
                    raise SendfileNotAvailableError("os.sendfile call failed") from exc
                raise
            if n == 0:  # end of file
                break
            sent += n
        return sent
    finally:
        # "File position is always updated" (asyncio's documentation), even when
        # nothing was sent: to the end of what was sent.
        file.seek(offset + sent)


async def _sendfile_fallback(loop, sock, file, offset, count):
    return await copy_file_in_blocks(loop, file, offset, count, _SENDFILE_FALLBACK_CHUNK,
                                     functools.partial(loop.sock_sendall, sock))


async def copy_file_in_blocks(loop, file, offset, count, chunk, send) -> int:
    """sendfile's fallback: read *file* from *offset* (*count* bytes; None: to the
    end) into one reused buffer, *chunk* bytes at a time, in the default executor,
    and ``await send(view)`` each block.  Returns the bytes sent; the file position
    ends right after them, whatever happens."""
    # Read from *offset*, whatever the file's position: offset 0 included
    # (gh-150107: asyncio up to 3.13 did not seek for offset 0).
    if hasattr(file, "seek"):
        file.seek(offset)
    block = min(count, chunk) if count else chunk
    buf = bytearray(block)
    sent = 0
    try:
        while count is None or sent < count:
            want = block if count is None else min(block, count - sent)
            view = memoryview(buf)[:want]
            n = await loop.run_in_executor(None, file.readinto, view)
            if not n:
                break
            await send(view[:n])
            sent += n
        return sent
    finally:
        if sent > 0 and hasattr(file, "seek"):
            file.seek(offset + sent)


class _SocketWait(Future):
    """The future of a ``sock_*`` operation that waits for its socket to be ready.

    ``_retry``, registered as the descriptor's reader (or writer), runs the operation
    -- ``getattr(sock, op)(*args)`` for a method name (looked up at each attempt, as
    asyncio does: the socket may be a wrapper whose methods change), else
    ``op(*args)`` -- each time the socket is ready; BlockingIOError/InterruptedError
    or ``_AGAIN`` mean "not yet".  Its return value or exception completes us.

    Whichever way we are done (completed by ``_retry``, or cancelled), the callback is
    removed at once, by us.  ``TransportHost.sock_waiters`` maps ``(fd, writable)`` to the
    operation whose callback is registered there, so a superseded operation (a second
    ``sock_recv`` on the same socket replaced our reader) leaves its successor's alone.
    """

    __slots__ = ("_fd", "_writable", "_sock", "_op", "_args")
    __class__ = asyncio_twin(__module__, __qualname__, _asyncio_futures.Future)

    def __init__(self, loop, fd, writable, sock, op, args):
        super().__init__(loop=loop)
        self._fd = fd
        self._writable = writable
        self._sock = sock
        self._op = op
        self._args = args
        host = loop._io
        host.sock_waiters[fd, writable] = self
        if writable:
            host.add_writer(fd, self._retry)
        else:
            host.add_reader(fd, self._retry)

    def _retry(self) -> None:
        if self._state is not PENDING:  # completed by someone else (set_result...)
            self._unwatch()
            return
        op = self._op
        try:
            if op.__class__ is str:
                result = getattr(self._sock, op)(*self._args)
            else:
                result = op(*self._args)
        except _RETRY:
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._unwatch()
            self.set_exception(exc)
            # exc's traceback holds this frame: it must not hold us (we hold exc).
            self = None  # type: ignore[assignment]
            return
        if result is not _AGAIN:
            self._unwatch()
            self.set_result(result)

    def cancel(self, msg=None) -> bool:
        if not super().cancel(msg=msg):
            return False
        self._unwatch()
        return True

    def _unwatch(self) -> None:
        key = (self._fd, self._writable)
        host = self._loop._io
        waiters = host.sock_waiters
        if waiters.get(key) is self:
            del waiters[key]
            if self._writable:
                host.remove_writer(self._fd)
            else:
                host.remove_reader(self._fd)
        # Drop the socket and arguments (a sendall's view of the caller's data).
        self._sock = self._op = self._args = None


def _noop():
    return None


def _connect_result(sock, address):
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err in (errno.EINPROGRESS, errno.EALREADY):
        raise BlockingIOError(err, "connect still in progress")
    if err:
        raise OSError(err, f"Connect call failed {address}")
    return None

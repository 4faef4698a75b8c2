"""The loop's ``sock_*`` coroutines: one socket operation each, on a non-blocking socket.

Every operation first tries the system call directly: on a busy server the data is
usually there already and no future, callback or poller change is needed.  Only
when the call would block does the operation register a reader or writer and wait.

Cancellation invariant: the reader/writer an operation registers is removed by a done
callback of the operation's future, so cancelling the awaiting task (or the future
completing any other way) never leaves a callback registered on the descriptor.
"""

from __future__ import annotations

import errno
import io
import os
import socket
from asyncio.exceptions import SendfileNotAvailableError

from .dns import resolve

try:
    import ssl
except ImportError:  # pragma: no cover - Python built without OpenSSL
    ssl = None

__all__ = ["SocketMethods", "check_socket", "check_not_ssl_socket", "check_sendfile_args"]

# Chunk size of the read+send fallback of sock_sendfile.
_SENDFILE_FALLBACK_CHUNK = 256 * 1024
# os.sendfile is asked for at most this much per call, so a huge file does not hold
# the loop in one system call longer than needed.
_SENDFILE_MAX_BLOCK = 1 << 30
_HAS_SENDFILE = hasattr(os, "sendfile")
_RETRY = (BlockingIOError, InterruptedError)


def check_not_ssl_socket(sock) -> None:
    """An ``ssl.SSLSocket`` does its own I/O behind the loop's back: refused."""
    if ssl is not None and isinstance(sock, ssl.SSLSocket):
        raise TypeError("Socket cannot be of type SSLSocket")


def check_socket(loop, sock) -> None:
    """asyncio's checks on a socket given to ``sock_*``: not an SSLSocket, and
    non-blocking (checked in debug mode only, as asyncio)."""
    check_not_ssl_socket(sock)
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


class SocketMethods:
    """``loop.sock_*``: a mixin for the event loop.

    Relies on the registry half of ``NetworkingMixin``: ``_ensure_fd_no_transport``
    and the unchecked ``_add_reader_raw``/``_add_writer_raw``/``_remove_*_raw``.
    """

    # -- the one place an operation waits --------------------------------------------
    def _sock_wait(self, sock, writable: bool, op, *args):
        """A future for ``sock.<op>(*args)`` (``op`` a method name) or ``op(*args)``
        (a function), retried each time *sock* is ready.

        The operation must raise BlockingIOError/InterruptedError when it would block;
        its return value (or exception) completes the future.  A method is looked up on
        the socket at each attempt, not once: the socket object may be a wrapper whose
        methods change between attempts (asyncio looks them up each time too).
        """
        fd = sock.fileno()
        self._ensure_fd_no_transport(fd)
        fut = self.create_future()
        method = op if isinstance(op, str) else None

        def on_ready():
            if fut.done():  # cancelled: our done callback unregisters us
                return
            try:
                if method is not None:
                    result = getattr(sock, method)(*args)
                else:
                    result = op(*args)
            except _RETRY:
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                fut.set_exception(exc)
            else:
                fut.set_result(result)

        self._watch_until_done(fut, fd, writable, on_ready)
        return fut

    def _watch_until_done(self, fut, fd, writable, callback) -> None:
        """Call *callback* each time *fd* is ready until *fut* is done.

        Done callbacks run one loop iteration later, so a cancelled operation's
        cleanup can run after the next operation on the same socket has registered
        its own callback (sock_recv cancelled, then sock_recv again at once): the
        cleanup must remove the watch only if it still is *this* operation's.  The
        table of current waiters, ``(fd, writable) -> future``, decides.
        """
        key = (fd, writable)
        waiters = self._net_sock_waiters
        waiters[key] = fut
        if writable:
            self._add_writer_raw(fd, callback)
        else:
            self._add_reader_raw(fd, callback)

        def unwatch(_):
            if waiters.get(key) is fut:
                del waiters[key]
                if writable:
                    self._remove_writer_raw(fd)
                else:
                    self._remove_reader_raw(fd)

        fut.add_done_callback(unwatch)

    # -- receiving -------------------------------------------------------------------
    async def sock_recv(self, sock, n):
        check_socket(self, sock)
        try:
            return sock.recv(n)
        except _RETRY:
            pass
        return await self._sock_wait(sock, False, "recv", n)

    async def sock_recv_into(self, sock, buf):
        check_socket(self, sock)
        try:
            return sock.recv_into(buf)
        except _RETRY:
            pass
        return await self._sock_wait(sock, False, "recv_into", buf)

    async def sock_recvfrom(self, sock, bufsize):
        check_socket(self, sock)
        try:
            return sock.recvfrom(bufsize)
        except _RETRY:
            pass
        return await self._sock_wait(sock, False, "recvfrom", bufsize)

    async def sock_recvfrom_into(self, sock, buf, nbytes=0):
        check_socket(self, sock)
        if not nbytes:
            nbytes = len(buf)
        try:
            return sock.recvfrom_into(buf, nbytes)
        except _RETRY:
            pass
        return await self._sock_wait(sock, False, "recvfrom_into", buf, nbytes)

    async def sock_accept(self, sock):
        check_socket(self, sock)
        try:
            conn, address = sock.accept()
        except _RETRY:
            conn, address = await self._sock_wait(sock, False, "accept")
        conn.setblocking(False)
        return conn, address

    # -- sending ---------------------------------------------------------------------
    async def sock_sendto(self, sock, data, address):
        check_socket(self, sock)
        try:
            return sock.sendto(data, address)
        except _RETRY:
            pass
        return await self._sock_wait(sock, True, "sendto", data, address)

    async def sock_sendall(self, sock, data):
        check_socket(self, sock)
        try:
            sent = sock.send(data)
        except _RETRY:
            sent = 0
        view = memoryview(data)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        total = view.nbytes
        if sent == total:
            return None
        fd = sock.fileno()
        self._ensure_fd_no_transport(fd)
        fut = self.create_future()
        position = [sent]  # bytes of data sent so far

        def on_writable():
            if fut.done():
                return
            try:
                n = sock.send(view[position[0]:])
            except _RETRY:
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                fut.set_exception(exc)
                return
            position[0] += n
            if position[0] == total:
                fut.set_result(None)

        self._watch_until_done(fut, fd, True, on_writable)
        return await fut

    async def sock_connect(self, sock, address):
        check_socket(self, sock)
        if sock.family == socket.AF_INET or (
                sock.family == socket.AF_INET6 and socket.has_ipv6):
            infos = await resolve(self, address, family=sock.family, type=sock.type,
                                  proto=sock.proto)
            address = infos[0][4]
        try:
            sock.connect(address)
            return None
        except _RETRY:
            pass
        # In progress: the socket turns writable when the connect finished either
        # way; SO_ERROR tells which.
        return await self._sock_wait(sock, True, _connect_result, sock, address)

    # -- sendfile --------------------------------------------------------------------
    async def sock_sendfile(self, sock, file, offset=0, count=None, *, fallback=True):
        check_socket(self, sock)
        if sock.gettimeout() != 0:
            raise ValueError("the socket must be non-blocking")
        check_sendfile_args(sock, file, offset, count)
        try:
            return await self._sock_sendfile_native(sock, file, offset, count)
        except SendfileNotAvailableError:
            if not fallback:
                raise
        return await self._sock_sendfile_fallback(sock, file, offset, count)

    async def _sock_sendfile_native(self, sock, file, offset, count):
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
                    await self._sock_wait(sock, True, _noop)
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
            if sent > 0:
                file.seek(offset + sent)

    async def _sock_sendfile_fallback(self, sock, file, offset, count):
        if offset:
            file.seek(offset)
        block = min(count, _SENDFILE_FALLBACK_CHUNK) if count else _SENDFILE_FALLBACK_CHUNK
        buf = bytearray(block)
        sent = 0
        try:
            while count is None or sent < count:
                want = block if count is None else min(block, count - sent)
                view = memoryview(buf)[:want]
                n = await self.run_in_executor(None, file.readinto, view)
                if not n:
                    break
                await self.sock_sendall(sock, view[:n])
                sent += n
            return sent
        finally:
            if sent > 0 and hasattr(file, "seek"):
                file.seek(offset + sent)


def _noop():
    return None


def _connect_result(sock, address):
    err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err in (errno.EINPROGRESS, errno.EALREADY):
        raise BlockingIOError(err, "connect still in progress")
    if err:
        raise OSError(err, f"Connect call failed {address}")
    return None

"""Unix domain stream sockets: create_unix_connection and create_unix_server.

The transport and the Server are the TCP ones (``tcp.py``); what differs is naming
the endpoint by a filesystem path.  A server removes a *stale* socket file before
binding (one left by a process that died), and, with ``cleanup_socket`` (3.13,
gh-111246), removes its own file when closed -- only if the path still is the file
it bound, so a newer server's socket is never unlinked.

Before 3.13 asyncio never removes the file (code written for those versions may
still use it after closing the server), so there ``cleanup_socket`` defaults to
False: passing ``cleanup_socket=True`` is the pure addition older versions get.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from asyncio.log import logger

from .. import _bridge
from . import tls_transport
from .tcp import Server, connect_stream_protocol, yield_once

__all__ = ["create_unix_connection", "create_unix_server", "remove_stale_socket_file"]


def _is_abstract(path) -> bool:
    """Linux abstract socket names start with a NUL byte; unnamed ones are empty."""
    return not path or path[0] in (0, "\x00")


def remove_stale_socket_file(path) -> None:
    """Remove *path* if it is a socket file (asyncio's rule before bind())."""
    if _is_abstract(path):
        return
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        # The directory may allow creating the socket but not stat-ing or removing it.
        logger.error("Unable to check or remove stale UNIX socket %r: %r", path, err)


def _check_unix_stream_socket(sock) -> None:
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
        raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")


class _SocketFileCleanup:
    """Unlinks a server's socket file at close, if it is still the one we bound."""

    def __init__(self, sock):
        self.path = sock.getsockname()
        self.inode = None
        if not _is_abstract(self.path):
            try:
                self.inode = os.stat(self.path).st_ino
            except FileNotFoundError:
                pass

    def __call__(self) -> None:
        if self.inode is None:
            return
        try:
            if os.stat(self.path).st_ino == self.inode:
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        except OSError as err:
            logger.error("Unable to clean up listening UNIX socket %r: %r", self.path, err)


async def create_unix_connection(
        loop, protocol_factory, path=None, *, ssl=None, sock=None, server_hostname=None,
        ssl_handshake_timeout=None, ssl_shutdown_timeout=None):
    """Connect to the Unix domain socket at *path* (or over *sock*); return
    ``(transport, protocol)``."""
    if ssl and server_hostname is None:
        raise ValueError("you have to pass server_hostname when using ssl")
    tls_transport.check_ssl_arguments(ssl, server_hostname, ssl_handshake_timeout,
                                      ssl_shutdown_timeout)
    if path is not None:
        if sock is not None:
            raise ValueError("path and sock can not be specified at the same time")
        path = os.fspath(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, path)
        except BaseException:
            sock.close()
            raise
    else:
        if sock is None:
            raise ValueError("no path and sock were specified")
        _check_unix_stream_socket(sock)
    return await connect_stream_protocol(
        loop, sock, protocol_factory, ssl, server_hostname=server_hostname,
        ssl_handshake_timeout=ssl_handshake_timeout,
        ssl_shutdown_timeout=ssl_shutdown_timeout)


async def create_unix_server(
        loop, protocol_factory, path=None, *, sock=None, backlog=100, ssl=None,
        ssl_handshake_timeout=None, ssl_shutdown_timeout=None, start_serving=True,
        cleanup_socket=_bridge.UNIX_SERVER_REMOVES_SOCKET_FILE):
    """Listen on the Unix domain socket at *path* (or on *sock*); return the
    Server."""
    if isinstance(ssl, bool):
        raise TypeError("ssl argument must be an SSLContext or None")
    tls_transport.check_ssl_arguments(ssl, None, ssl_handshake_timeout,
                                      ssl_shutdown_timeout)
    if path is not None:
        if sock is not None:
            raise ValueError("path and sock can not be specified at the same time")
        path = os.fspath(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        remove_stale_socket_file(path)
        try:
            sock.bind(path)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                # An abstract name in use (a file would have been removed above).
                raise OSError(errno.EADDRINUSE,
                              f"Address {path!r} is already in use") from None
            raise
        except BaseException:
            sock.close()
            raise
    else:
        if sock is None:
            raise ValueError("path was not specified, and no sock specified")
        _check_unix_stream_socket(sock)
    on_close = _SocketFileCleanup(sock) if cleanup_socket else None
    sock.setblocking(False)
    server = Server(loop, [sock], protocol_factory, ssl, backlog,
                    ssl_handshake_timeout, ssl_shutdown_timeout, on_close=on_close)
    if start_serving:
        server._start_serving()
        await yield_once(loop)
    return server

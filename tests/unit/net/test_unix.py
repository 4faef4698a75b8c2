"""Unix domain stream sockets: create_unix_connection, create_unix_server."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import sys

import pytest

import coroloop
from net_helpers import run


class Recorder(asyncio.Protocol):
    def __init__(self, echo=False):
        self.echo = echo
        self.data = bytearray()
        self.got = asyncio.Event()
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.data += data
        self.got.set()
        if self.echo:
            self.transport.write(data)

    def connection_lost(self, exc):
        self.lost.set_result(exc)

    async def wait_for_bytes(self, n):
        while len(self.data) < n:
            self.got.clear()
            await self.got.wait()
        return bytes(self.data)


def test_unix_echo_and_cleanup_on_close(loop, tmp_path):
    path = tmp_path / "echo.sock"

    async def main():
        server = await loop.create_unix_server(lambda: Recorder(echo=True), path,
                                               cleanup_socket=True)
        assert os.path.exists(path)
        transport, proto = await loop.create_unix_connection(Recorder, path)
        assert transport.get_extra_info("peername") == str(path)
        transport.write(b"over unix")
        assert await proto.wait_for_bytes(9) == b"over unix"
        transport.write_eof()  # half-close works on Unix sockets too
        assert await proto.lost is None  # the server closes after EOF
        server.close()
        await server.wait_closed()
        assert not os.path.exists(path)  # cleanup_socket (3.13; on older versions, asked for)
    run(loop, main())


def test_socket_file_left_in_place_before_3_13(loop, tmp_path):
    # Differential harness, seed 17: before 3.13 asyncio leaves the file when the
    # server closes; 3.13 removes it (cleanup_socket defaults to True).
    path = str(tmp_path / "kept.sock")

    async def main():
        server = await loop.create_unix_server(Recorder, path)
        server.close()
        await server.wait_closed()
        return os.path.exists(path)

    assert run(loop, main()) == (sys.version_info < (3, 13))


def test_stale_socket_file_is_replaced(loop, tmp_path):
    path = str(tmp_path / "stale.sock")

    async def main():
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(path)
        stale.close()  # the file stays: a server that died
        server = await loop.create_unix_server(Recorder, path, cleanup_socket=False)
        transport, proto = await loop.create_unix_connection(Recorder, path)
        transport.close()
        await proto.lost
        server.close()
        server.close_clients()
        await server.wait_closed()
        assert os.path.exists(path)  # cleanup_socket=False keeps it
        os.unlink(path)
    run(loop, main())


def test_cleanup_leaves_a_newer_servers_file_alone(loop, tmp_path):
    path = str(tmp_path / "shared.sock")

    async def main():
        first = await loop.create_unix_server(Recorder, path, cleanup_socket=True)
        second = await loop.create_unix_server(Recorder, path, cleanup_socket=True)
        first.close()
        await first.wait_closed()
        assert os.path.exists(path)  # not the inode `first` bound: kept
        transport, proto = await loop.create_unix_connection(Recorder, path)
        transport.close()
        await proto.lost
        second.close()
        second.close_clients()
        await second.wait_closed()
        assert not os.path.exists(path)
    run(loop, main())


def test_abstract_name_in_use_and_argument_checks(loop, tmp_path):
    async def main():
        name = f"\0coroloop-test-{os.getpid()}"
        server = await loop.create_unix_server(Recorder, name)
        with pytest.raises(OSError, match="already in use") as info:
            await loop.create_unix_server(Recorder, name)
        assert info.value.errno == errno.EADDRINUSE
        server.close()
        await server.wait_closed()
        with pytest.raises(ValueError, match="path was not specified"):
            await loop.create_unix_server(Recorder)
        with pytest.raises(ValueError, match="no path and sock"):
            await loop.create_unix_connection(Recorder)
        with socket.socket() as inet:
            with pytest.raises(ValueError, match="UNIX Domain Stream Socket"):
                await loop.create_unix_server(Recorder, sock=inet)
            with pytest.raises(ValueError, match="UNIX Domain Stream Socket"):
                await loop.create_unix_connection(Recorder, sock=inet)
        with socket.socket(socket.AF_UNIX) as unix:
            with pytest.raises(ValueError, match="at the same time"):
                await loop.create_unix_connection(Recorder, "p", sock=unix)
        with pytest.raises(FileNotFoundError):
            await loop.create_unix_connection(Recorder, tmp_path / "missing.sock")
    run(loop, main())


def test_unix_server_from_existing_socket(loop, tmp_path):
    path = str(tmp_path / "given.sock")

    async def main():
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(path)
        server = await loop.create_unix_server(lambda: Recorder(echo=True), sock=sock)
        a = socket.socket(socket.AF_UNIX)
        a.setblocking(False)
        await loop.sock_connect(a, path)
        transport, proto = await loop.create_unix_connection(Recorder, sock=a)
        transport.write(b"sock=")
        assert await proto.wait_for_bytes(5) == b"sock="
        transport.close()
        await proto.lost
        server.close()
        server.close_clients()
        await server.wait_closed()
    run(loop, main())

"""loop.sock_* and name resolution."""

from __future__ import annotations

import asyncio
import io
import os
import socket
import ssl

import pytest

import coroloop
from coroloop._net import dns
from net_helpers import run


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def open_fds():
    return len(os.listdir("/proc/self/fd"))


async def settle(n=3):
    for _ in range(n):
        await asyncio.sleep(0)


# -- receiving and sending ------------------------------------------------------------

def test_recv_waits_for_data_and_sendall_sends_everything(loop, pair):
    a, b = pair
    payload = os.urandom(4 * 1024 * 1024)  # far more than the socket buffers hold

    async def main():
        receiver = asyncio.ensure_future(read_all(b, len(payload)))
        await loop.sock_sendall(a, payload)
        assert await receiver == payload

    async def read_all(sock, n):
        chunks = bytearray()
        while len(chunks) < n:
            chunk = await loop.sock_recv(sock, 65536)
            assert chunk
            chunks += chunk
        return bytes(chunks)
    run(loop, main())


def test_recv_into_and_empty_read_at_eof(loop, pair):
    a, b = pair

    async def main():
        buf = bytearray(10)
        later = loop.call_later(0.01, a.send, b"hello")
        assert await loop.sock_recv_into(b, buf) == 5
        assert buf[:5] == b"hello"
        a.shutdown(socket.SHUT_WR)
        assert await loop.sock_recv(b, 10) == b""
        later.cancel()
    run(loop, main())


def test_datagram_operations(loop):
    async def main():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s1, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s2:
            for s in (s1, s2):
                s.bind(("127.0.0.1", 0))
                s.setblocking(False)
            waiting = asyncio.ensure_future(loop.sock_recvfrom(s2, 100))
            await settle()
            assert await loop.sock_sendto(s1, b"one", s2.getsockname()) == 3
            assert await waiting == (b"one", s1.getsockname())
            await loop.sock_sendto(s1, b"two", s2.getsockname())
            buf = bytearray(10)
            n, addr = await loop.sock_recvfrom_into(s2, buf)
            assert (bytes(buf[:n]), addr) == (b"two", s1.getsockname())
            await loop.sock_sendto(s1, b"three", s2.getsockname())
            n, addr = await loop.sock_recvfrom_into(s2, buf, 2)
            assert bytes(buf[:n]) == b"th"  # truncated to nbytes
    run(loop, main())


def test_accept_and_connect(loop):
    async def main():
        with socket.socket() as listener, socket.socket() as client:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            listener.setblocking(False)
            client.setblocking(False)
            accepting = asyncio.ensure_future(loop.sock_accept(listener))
            await settle()
            await loop.sock_connect(client, listener.getsockname())
            conn, addr = await accepting
            with conn:
                assert conn.gettimeout() == 0  # handed back non-blocking
                assert addr == client.getsockname()
                await loop.sock_sendall(client, b"hi")
                assert await loop.sock_recv(conn, 2) == b"hi"
    run(loop, main())


def test_connect_resolves_names_but_not_numeric_hosts(loop, monkeypatch):
    calls = []
    real = loop.getaddrinfo

    async def counting(*args, **kwargs):
        calls.append(args)
        return await real(*args, **kwargs)
    monkeypatch.setattr(loop, "getaddrinfo", counting)

    async def main():
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            port = listener.getsockname()[1]
            with socket.socket() as client:
                client.setblocking(False)
                await loop.sock_connect(client, ("127.0.0.1", port))
            assert calls == []  # numeric: no executor round trip
            with socket.socket() as client:
                client.setblocking(False)
                await loop.sock_connect(client, ("localhost", port))
            assert calls and calls[0][0] == "localhost"
    run(loop, main())


def test_connect_refused(loop):
    async def main():
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            addr = probe.getsockname()
        with socket.socket() as client:
            client.setblocking(False)
            with pytest.raises(ConnectionRefusedError):
                await loop.sock_connect(client, addr)
    run(loop, main())


def test_blocking_and_ssl_sockets_are_refused(loop, pair):
    async def main():
        with socket.socket() as blocking:
            loop.set_debug(True)
            try:
                with pytest.raises(ValueError, match="non-blocking"):
                    await loop.sock_recv(blocking, 1)
            finally:
                loop.set_debug(False)
            with pytest.raises(ValueError, match="non-blocking"):
                await loop.sock_sendfile(blocking, io.BytesIO(b"x"))
            ctx = ssl.create_default_context()
            wrapped = ctx.wrap_socket(socket.socket(), server_hostname="x",
                                      do_handshake_on_connect=False)
            with wrapped:
                with pytest.raises(TypeError, match="SSLSocket"):
                    await loop.sock_sendall(wrapped, b"x")
    run(loop, main())


# -- cancellation leaves nothing behind -----------------------------------------------

def test_cancel_recv_removes_reader(loop, pair):
    a, b = pair

    async def main():
        task = asyncio.ensure_future(loop.sock_recv(b, 10))
        await settle()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await settle()
        assert loop.remove_reader(b) is False  # nothing was left registered
        # The socket still works, and the data is not lost to a stale callback.
        a.send(b"after")
        assert await loop.sock_recv(b, 10) == b"after"
    run(loop, main())


def test_cancel_sendall_removes_writer(loop, pair):
    a, b = pair

    async def main():
        task = asyncio.ensure_future(loop.sock_sendall(a, b"z" * (16 * 1024 * 1024)))
        await settle()
        assert not task.done()  # the peer does not read: blocked
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await settle()
        assert loop.remove_writer(a) is False
    run(loop, main())


def test_cancel_accept_removes_reader(loop):
    async def main():
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            listener.setblocking(False)
            task = asyncio.ensure_future(loop.sock_accept(listener))
            await settle()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await settle()
            assert loop.remove_reader(listener) is False
    run(loop, main())


def test_cancel_connect_removes_writer_and_leaks_no_fd(loop):
    # A full accept queue: the kernel drops our SYN, so the connect stays pending.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(listener.getsockname())
            except BlockingIOError:
                pass
            fillers.append(s)
        before = open_fds()

        async def main():
            client = socket.socket()
            client.setblocking(False)
            task = asyncio.ensure_future(loop.sock_connect(client, listener.getsockname()))
            await asyncio.sleep(0.05)
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await settle()
            assert loop.remove_writer(client) is False
            client.close()
        run(loop, main())
        assert open_fds() == before
    finally:
        listener.close()
        for s in fillers:
            s.close()


# -- sendfile --------------------------------------------------------------------------

@pytest.fixture
def data_file(tmp_path):
    content = os.urandom(300_000)
    path = tmp_path / "f.bin"
    path.write_bytes(content)
    with open(path, "rb") as f:
        yield f, content


async def receive(loop, sock, n):
    got = bytearray()
    while len(got) < n:
        chunk = await loop.sock_recv(sock, 65536)
        if not chunk:
            break
        got += chunk
    return bytes(got)


def test_sock_sendfile_native(loop, data_file):
    f, content = data_file

    async def main():
        a, b = socket.socketpair()
        with a, b:
            a.setblocking(False)
            b.setblocking(False)
            reader = asyncio.ensure_future(receive(loop, b, len(content)))
            assert await loop.sock_sendfile(a, f) == len(content)
            assert await reader == content
            assert f.tell() == len(content)

            reader = asyncio.ensure_future(receive(loop, b, 1000))
            assert await loop.sock_sendfile(a, f, offset=100, count=1000) == 1000
            assert await reader == content[100:1100]
            assert f.tell() == 1100
    run(loop, main())


def test_sock_sendfile_fallback(loop, data_file):
    f, content = data_file

    async def main():
        a, b = socket.socketpair()
        with a, b:
            a.setblocking(False)
            b.setblocking(False)
            stream = io.BytesIO(content)  # no file descriptor: not for os.sendfile
            with pytest.raises(asyncio.SendfileNotAvailableError):
                await loop.sock_sendfile(a, stream, fallback=False)
            reader = asyncio.ensure_future(receive(loop, b, 5000))
            assert await loop.sock_sendfile(a, stream, offset=7, count=5000) == 5000
            assert await reader == content[7:5007]
            assert stream.tell() == 5007
    run(loop, main())


@pytest.mark.parametrize("fallback", [False, True])
def test_sock_sendfile_reads_from_offset_and_always_updates_the_position(
        loop, data_file, fallback):
    # The file's own position does not matter, offset 0 included (gh-150107: asyncio
    # up to 3.13 sent from the current position in the fallback), and afterwards the
    # position is offset + sent even when nothing was sent (at the end of the file).
    f, content = data_file
    stream = io.BytesIO(content) if fallback else f

    async def main():
        a, b = socket.socketpair()
        with a, b:
            a.setblocking(False)
            b.setblocking(False)
            stream.seek(123)
            reader = asyncio.ensure_future(receive(loop, b, len(content)))
            assert await loop.sock_sendfile(a, stream, 0, None) == len(content)
            assert await reader == content
            assert stream.tell() == len(content)
            stream.seek(5)
            assert await loop.sock_sendfile(a, stream, len(content), None) == 0
            assert stream.tell() == len(content)
    run(loop, main())


def test_sock_sendfile_argument_checks(loop, data_file):
    f, _ = data_file

    async def main():
        a, b = socket.socketpair()
        with a, b:
            a.setblocking(False)
            with pytest.raises(ValueError, match="count"):
                await loop.sock_sendfile(a, f, count=0)
            with pytest.raises(TypeError, match="count"):
                await loop.sock_sendfile(a, f, count=1.5)
            with pytest.raises(ValueError, match="offset"):
                await loop.sock_sendfile(a, f, offset=-1)
            with socket.socket(type=socket.SOCK_DGRAM) as udp:
                udp.setblocking(False)
                with pytest.raises(ValueError, match="SOCK_STREAM"):
                    await loop.sock_sendfile(udp, f)
    run(loop, main())


# -- name resolution -------------------------------------------------------------------

@pytest.mark.parametrize("host,family,type_", [
    ("127.0.0.1", 0, socket.SOCK_STREAM),
    ("127.0.0.1", socket.AF_INET, socket.SOCK_DGRAM),
    ("::1", 0, socket.SOCK_STREAM),
    ("::0001", socket.AF_INET6, socket.SOCK_DGRAM),
])
def test_numeric_fast_path_matches_getaddrinfo(host, family, type_):
    fast = dns.numeric_addrinfo(host, 80, family, type_)
    assert fast is not None
    assert [fast] == socket.getaddrinfo(host, 80, family, type_)


@pytest.mark.parametrize("args", [
    ("localhost", 80, 0, socket.SOCK_STREAM),      # a name
    ("127.0.0.1", "http", 0, socket.SOCK_STREAM),  # a service name
    ("127.0.0.1", 80, 0, 0),                       # any type: several answers
    ("127.0.0.1", 80, socket.AF_INET6, socket.SOCK_STREAM),
    ("fe80::1%lo", 80, 0, socket.SOCK_STREAM),     # a scope
])
def test_numeric_fast_path_declines(args):
    assert dns.numeric_addrinfo(*args) is None


def test_getaddrinfo_and_getnameinfo_in_executor(loop):
    async def main():
        infos = await loop.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
        assert infos == socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
        assert await loop.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM) == \
            socket.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)
        name = await loop.getnameinfo(("127.0.0.1", 80), socket.NI_NUMERICHOST)
        assert name[0] == "127.0.0.1"
        with pytest.raises(socket.gaierror):  # a numeric-only lookup: no DNS traffic
            await loop.getaddrinfo("not-numeric", 80, flags=socket.AI_NUMERICHOST)
    run(loop, main())
    loop.run_until_complete(loop.shutdown_default_executor())


def test_cancel_removes_the_reader_at_once(loop, pair):
    # The operation's reader is removed by cancel() itself, not one iteration later.
    a, b = pair

    async def main():
        task = asyncio.ensure_future(loop.sock_recv(b, 10))
        await settle()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert loop.remove_reader(b) is False
        # A receive loop: each operation registers and removes its own reader.
        for i in range(3):
            recv = asyncio.ensure_future(loop.sock_recv(b, 10))
            await settle()
            a.send(b"%d" % i)
            assert await recv == b"%d" % i
            assert loop.remove_reader(b) is False
    run(loop, main())

"""Reliability on 127.0.0.1: resets, half-closes, slow readers, EMFILE, leaks, a soak."""

from __future__ import annotations

import asyncio
import errno
import os
import random
import struct
import subprocess
import sys
import textwrap
import time
import socket

import pytest

import coroloop
import coroloop._event_loop as _event_loop
from coroloop._net import tcp
from net_helpers import run


def open_fds():
    return len(os.listdir("/proc/self/fd"))


class Recorder(asyncio.Protocol):
    def __init__(self, keep_open_on_eof=False):
        self.keep_open_on_eof = keep_open_on_eof
        self.data = bytearray()
        self.got = asyncio.Event()
        self.events = []
        loop = asyncio.get_running_loop()
        self.made = loop.create_future()
        self.eof = loop.create_future()
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")
        self.made.set_result(None)

    def data_received(self, data):
        self.data += data
        self.got.set()

    def eof_received(self):
        self.events.append("eof")
        self.eof.set_result(None)
        return self.keep_open_on_eof

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)

    async def wait_for_bytes(self, n):
        while len(self.data) < n:
            self.got.clear()
            await self.got.wait()
        return bytes(self.data)


async def serve(loop, factory, **kwargs):
    server = await loop.create_server(factory, "127.0.0.1", 0, **kwargs)
    return server, server.sockets[0].getsockname()[1]


async def shut(server):
    server.close()
    server.abort_clients()
    await server.wait_closed()


def test_peer_reset_mid_write(loop):
    reported = []
    loop.set_exception_handler(lambda lp, ctx: reported.append(ctx))

    class Resetter(asyncio.Protocol):
        def connection_made(self, transport):
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            loop.call_later(0.02, transport.abort)  # close with linger 0: RST

    async def main():
        server, port = await serve(loop, Resetter)
        transport, proto = await loop.create_connection(Recorder, "127.0.0.1", port)
        chunk = b"r" * 65536
        while not proto.lost.done():
            transport.write(chunk)  # after the loss these are dropped, not errors
            await asyncio.sleep(0.001)
        exc = await proto.lost
        assert isinstance(exc, (ConnectionResetError, BrokenPipeError))
        assert proto.events == ["made", "lost"]  # exactly once
        assert transport.is_closing()
        assert transport.get_write_buffer_size() == 0
        transport.close()  # harmless now
        await asyncio.sleep(0)
        assert proto.events.count("lost") == 1
        await shut(server)
    run(loop, main())
    assert reported == []  # network errors go to connection_lost, not the handler


def test_half_close_both_directions(loop):
    accepted = []

    class Server(Recorder):
        def eof_received(self):
            super().eof_received()
            # The client is done sending; we can still answer, then half-close too.
            self.transport.write(b"reply to " + bytes(self.data))
            self.transport.write_eof()
            return True

    def factory():
        proto = Server(keep_open_on_eof=True)
        accepted.append(proto)
        return proto

    async def main():
        server, port = await serve(loop, factory)
        transport, proto = await loop.create_connection(
            lambda: Recorder(keep_open_on_eof=True), "127.0.0.1", port)
        transport.write(b"request")
        transport.write_eof()
        await proto.eof
        assert bytes(proto.data) == b"reply to request"
        assert not transport.is_closing() and not accepted[0].transport.is_closing()
        # Both directions are shut; after EOF a transport no longer reads, so each
        # side closes its own end (as in asyncio).
        transport.close()
        accepted[0].transport.close()
        assert await proto.lost is None
        assert await accepted[0].lost is None
        assert proto.events == ["made", "eof", "lost"]
        assert accepted[0].events == ["made", "eof", "lost"]
        await shut(server)
    run(loop, main())


def test_write_eof_waits_for_the_buffer(loop):
    accepted = []

    def factory():
        proto = Recorder(keep_open_on_eof=True)
        accepted.append(proto)
        return proto

    async def main():
        server, port = await serve(loop, factory)
        transport, proto = await loop.create_connection(Recorder, "127.0.0.1", port)
        payload = os.urandom(4 * 1024 * 1024)
        transport.write(payload)
        assert transport.get_write_buffer_size() > 0
        transport.write_eof()  # deferred until the buffer is flushed
        await accepted[0].eof
        assert bytes(accepted[0].data) == payload  # EOF came after every byte
        accepted[0].transport.close()
        assert await proto.lost is None
        await shut(server)
    run(loop, main())


def test_slow_reader_keeps_the_writer_bounded(loop):
    high = 64 * 1024
    total = 8 * 1024 * 1024
    accepted = []

    class SlowReader(Recorder):
        def connection_made(self, transport):
            super().connection_made(transport)
            transport.pause_reading()
            loop.call_later(0.02, self.read_a_bit)

        def read_a_bit(self):
            if self.transport.is_closing():
                return
            self.transport.resume_reading()
            loop.call_later(0.002, self.pause_again)

        def pause_again(self):
            if not self.transport.is_closing():
                self.transport.pause_reading()
                loop.call_later(0.002, self.read_a_bit)

    class Writer(Recorder):
        def connection_made(self, transport):
            super().connection_made(transport)
            self.paused = False
            self.sent = 0
            self.peak = 0
            self.writable = loop.create_future()
            self.writable.set_result(None)

        def pause_writing(self):
            self.paused = True
            self.writable = loop.create_future()

        def resume_writing(self):
            self.paused = False
            self.writable.set_result(None)

    def factory():
        proto = SlowReader()
        accepted.append(proto)
        return proto

    async def main():
        server, port = await serve(loop, factory)
        transport, proto = await loop.create_connection(Writer, "127.0.0.1", port)
        transport.set_write_buffer_limits(high=high)
        chunk = 16 * 1024
        pauses = 0
        while proto.sent < total:
            if proto.paused:
                pauses += 1
            await proto.writable
            transport.write(os.urandom(chunk))
            proto.sent += chunk
            proto.peak = max(proto.peak, transport.get_write_buffer_size())
        assert pauses > 0  # the reader really was slower
        assert proto.peak <= high + chunk  # memory stays bounded by the high-water mark
        transport.close()
        await accepted[0].lost
        assert len(accepted[0].data) == total
        await shut(server)
    run(loop, main(), timeout=30)


class _FlakyListener(socket.socket):
    """A listening socket whose accept() fails with EMFILE ``failures`` times."""

    failures = 0

    def accept(self):
        if self.failures:
            self.failures -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        return super().accept()


async def _flaky_server(loop, accepted):
    """A server on a _FlakyListener whose protocols (Recorders) go to *accepted*."""
    def factory():
        proto = Recorder()
        accepted.append(proto)
        return proto

    listener = _FlakyListener(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    server = await loop.create_server(factory, sock=listener)
    return server, listener, listener.getsockname()


def test_emfile_on_accept_keeps_serving_and_retries(loop, monkeypatch):
    monkeypatch.setattr(tcp, "ACCEPT_RETRY_DELAY", 0.05)
    reported = []
    loop.set_exception_handler(lambda lp, ctx: reported.append(ctx))
    accepted = []  # the server's protocols, in accepting order

    async def main():
        server, listener, addr = await _flaky_server(loop, accepted)
        first, first_proto = await loop.create_connection(Recorder, *addr)
        while not accepted:
            await asyncio.sleep(0.001)

        listener.failures = 3
        started = loop.time()
        second, second_proto = await loop.create_connection(Recorder, *addr)  # queued
        await asyncio.sleep(0.01)
        assert [c["message"] for c in reported] == ["socket.accept() out of system resource"]
        assert reported[0]["exception"].errno == errno.EMFILE
        # Accepting is paused, but the connection already served keeps working.
        first.write(b"still served")
        assert await accepted[0].wait_for_bytes(12) == b"still served"
        while len(accepted) < 2:
            await asyncio.sleep(0.005)
        assert loop.time() - started >= 0.1  # retried after the delay, three times
        assert len(reported) == 1  # one report for the whole episode
        assert server.is_serving()
        for t, p in ((first, first_proto), (second, second_proto)):
            t.close()
            await p.lost
        await shut(server)
    run(loop, main())


def _record_reports(loop, monkeypatch, retry_delay):
    """ACCEPT_RETRY_DELAY set to *retry_delay*; the messages reported, in a list."""
    monkeypatch.setattr(tcp, "ACCEPT_RETRY_DELAY", retry_delay)
    reported = []
    loop.set_exception_handler(lambda lp, ctx: reported.append(ctx["message"]))
    return reported


def test_emfile_resumes_accepting_when_a_connection_closes(loop, monkeypatch):
    # The fallback delay is an hour: only the server's own connection closing (which
    # frees a descriptor) can resume accepting in time.  Before, accepting waited
    # for the fixed delay whatever was freed.
    reported = _record_reports(loop, monkeypatch, 3600.0)
    accepted = []  # the server's protocols, in accepting order

    async def main():
        server, listener, addr = await _flaky_server(loop, accepted)
        first, first_proto = await loop.create_connection(Recorder, *addr)
        while not accepted:
            await asyncio.sleep(0.001)
        listener.failures = 1
        second, second_proto = await loop.create_connection(Recorder, *addr)  # queued
        while not reported:
            await asyncio.sleep(0.001)
        accepted[0].transport.close()  # the server closes one of its connections
        await asyncio.wait_for(first_proto.lost, 10)
        await asyncio.wait_for(_until(lambda: len(accepted) == 2), 10)
        second.write(b"served")
        assert await asyncio.wait_for(accepted[1].wait_for_bytes(6), 10) == b"served"
        assert reported == ["socket.accept() out of system resource"]
        second.close()
        await second_proto.lost
        await shut(server)
    run(loop, main())


def test_emfile_is_reported_once_per_episode(loop, monkeypatch):
    reported = _record_reports(loop, monkeypatch, 0.01)
    accepted = []  # the server's protocols, in accepting order

    async def main():
        server, listener, addr = await _flaky_server(loop, accepted)
        clients = []
        for episode in range(2):
            listener.failures = 5  # five failed accepts in a row: one episode
            clients.append(await loop.create_connection(Recorder, *addr))
            await asyncio.wait_for(_until(lambda: len(accepted) == episode + 1), 10)
        assert reported == ["socket.accept() out of system resource"] * 2
        for transport, proto in clients:
            transport.close()
            await proto.lost
        await shut(server)
    run(loop, main())


async def _until(predicate):
    while not predicate():
        await asyncio.sleep(0.001)


def test_real_emfile_in_a_subprocess(tmp_path):
    # Lower RLIMIT_NOFILE for real, in a child: accept() fails with EMFILE until a
    # connection closes; the server must survive and serve the waiting client.
    script = tmp_path / "emfile.py"
    script.write_text(textwrap.dedent(f"""
        import asyncio, resource, socket, sys
        sys.path.insert(0, {os.path.dirname(tcp.__file__ + "/../../..")!r})
        import coroloop._event_loop as ev
        from coroloop._net import tcp
        tcp.ACCEPT_RETRY_DELAY = 0.05
        L = ev.EventLoop
        class Echo(asyncio.Protocol):
            def connection_made(self, t): self.t = t
            def data_received(self, d): self.t.write(d)
        async def main():
            loop = asyncio.get_running_loop()
            errors = []
            loop.set_exception_handler(lambda l, c: errors.append(c["message"]))
            server = await loop.create_server(Echo, "127.0.0.1", 0)
            addr = server.sockets[0].getsockname()
            clients = []
            hog = []
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
            try:
                while True:
                    hog.append(socket.socket())
            except OSError:
                pass
            for _ in range(2):
                hog.pop().close()   # room for one client socket (and one accept)
            r1, w1 = await asyncio.open_connection(*addr)   # uses the last free fds
            w1.write(b"one"); assert await r1.readexactly(3) == b"one"
            hog.pop().close()
            r2, w2 = await asyncio.open_connection(*addr)   # accept() hits EMFILE
            await asyncio.sleep(0.1)
            assert "socket.accept() out of system resource" in errors, errors
            w1.write(b"still"); assert await r1.readexactly(5) == b"still"
            for s in hog[:4]:
                s.close()
            w2.write(b"two"); assert await r2.readexactly(3) == b"two"
            for w in (w1, w2):
                w.close(); await w.wait_closed()
            server.close(); await server.wait_closed()
            for s in hog[4:]:
                s.close()
            print("OK")
        loop = L()
        loop.run_until_complete(asyncio.wait_for(main(), 10))
        loop.close()
    """))
    result = subprocess.run([sys.executable, "-W", "error", str(script)], capture_output=True,
                            text=True, timeout=30)
    assert result.stdout.strip() == "OK", result.stderr


def test_cancelled_create_connection_leaks_no_fd(loop, monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        for _ in range(8):  # fill the accept queue: new connects hang
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(listener.getsockname())
            except BlockingIOError:
                pass
            fillers.append(s)
        before = open_fds()

        async def main():
            for delay in (None, 0.01):
                task = asyncio.ensure_future(loop.create_connection(
                    Recorder, *listener.getsockname(), happy_eyeballs_delay=delay))
                await asyncio.sleep(0.05)
                assert not task.done()
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            for _ in range(3):
                await asyncio.sleep(0)
        run(loop, main())
        assert open_fds() == before
    finally:
        listener.close()
        for s in fillers:
            s.close()


def test_echo_soak(loop):
    """≥100 MB through 16 connections, random chunk sizes, every byte checked."""
    connections = 16
    per_connection = 7 * 1024 * 1024
    rng = random.Random(1234)

    class Echo(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.transport.write(data)

        def pause_writing(self):
            self.transport.pause_reading()  # backpressure: stop reading what we can't send

        def resume_writing(self):
            self.transport.resume_reading()

        def eof_received(self):
            return False  # close once everything is echoed back

    async def client(port, seed):
        payload = random.Random(seed).randbytes(per_connection)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def send():
            pos = 0
            sizes = random.Random(seed + 1)
            while pos < len(payload):
                n = sizes.choice((1, 7, 100, 1500, 4096, 65536, 300_000))
                writer.write(payload[pos:pos + n])
                pos += n
                await writer.drain()
            writer.write_eof()

        sender = asyncio.ensure_future(send())
        received = bytearray()
        while len(received) < len(payload):
            chunk = await reader.read(rng.choice((1000, 65536, 1 << 20)))
            assert chunk, "connection closed early"
            received += chunk
        await sender
        assert await reader.read() == b""
        assert received == payload
        writer.close()
        await writer.wait_closed()
        return len(received)

    async def main():
        server, port = await serve(loop, Echo)
        started = time.monotonic()
        done = await asyncio.gather(*(client(port, seed) for seed in range(connections)))
        assert sum(done) >= 100 * 1024 * 1024
        assert time.monotonic() - started < 20
        await shut(server)
    run(loop, main(), timeout=40)

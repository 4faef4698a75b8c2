"""coroloop.streams: StreamReader/StreamWriter, open_connection/start_server.

Tests without sockets feed a StreamReader directly (through a fake transport that
records flow control); the rest run over real localhost sockets, on the standard
library's loop and, once coroloop has socket transports, on coroloop's loop.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

import pytest
import coroloop

from coroloop import streams
from coroloop.streams import (StreamReader, StreamReaderProtocol, StreamWriter,
                              open_connection, start_server)
from coroloop._net import tls_transport

from net_helpers import client_context, server_context




@pytest.fixture(params=["stdlib", "coroloop"])
def loop_factory(request):
    if request.param == "stdlib":
        return asyncio.new_event_loop
    return coroloop.new_event_loop


@pytest.fixture
def run(loop_factory):
    def run(corofn, *args):
        with asyncio.Runner(loop_factory=loop_factory) as runner:
            return runner.run(corofn(*args))
    return run


def arun(corofn):
    """Run a socket-less test on a plain loop."""
    with asyncio.Runner() as runner:
        return runner.run(corofn())


class FakeTransport(asyncio.Transport):
    """Records pause_reading/resume_reading calls."""

    def __init__(self):
        super().__init__()
        self.calls = []
        self.closing = False

    def pause_reading(self):
        self.calls.append("pause")

    def resume_reading(self):
        self.calls.append("resume")

    def is_closing(self):
        return self.closing

    def close(self):
        self.closing = True


def test_public_names():
    expected = {"StreamReader", "StreamWriter", "StreamReaderProtocol",
                "open_connection", "start_server"}
    if hasattr(socket, "AF_UNIX"):
        expected |= {"open_unix_connection", "start_unix_server"}
    assert set(streams.__all__) == expected
    assert all(hasattr(streams, name) for name in expected)


# -- StreamReader without sockets ------------------------------------------------------------

def test_readline_readuntil_readexactly_and_eof():
    async def main():
        reader = StreamReader()
        reader.feed_data(b"line one\nline two\nAB||CD--tail")
        assert await reader.readline() == b"line one\n"
        assert await reader.readuntil(b"\n") == b"line two\n"
        assert await reader.readuntil((b"--", b"||")) == b"AB||"
        assert await reader.readuntil((b"--", b"||")) == b"CD--"
        assert await reader.readexactly(2) == b"ta"
        reader.feed_eof()
        with pytest.raises(asyncio.IncompleteReadError) as info:
            await reader.readexactly(5)
        assert info.value.partial == b"il"
        assert info.value.expected == 5
        assert reader.at_eof()
        assert await reader.readline() == b""
        assert await reader.read() == b""

    arun(main)


def test_readuntil_at_eof_without_separator():
    async def main():
        reader = StreamReader()
        reader.feed_data(b"no separator")
        reader.feed_eof()
        with pytest.raises(asyncio.IncompleteReadError) as info:
            await reader.readuntil(b"!")
        assert info.value.partial == b"no separator"
        assert info.value.expected is None

    arun(main)


def test_limit_errors():
    async def main():
        reader = StreamReader(limit=5)
        reader.feed_data(b"123456789\nok\n")
        with pytest.raises(ValueError, match="Separator is found, but chunk is longer"):
            await reader.readline()
        assert await reader.readline() == b"ok\n"  # the long line was dropped

        reader = StreamReader(limit=5)
        reader.feed_data(b"1234567")
        with pytest.raises(asyncio.LimitOverrunError) as info:
            await reader.readuntil(b"\n")
        assert info.value.consumed == 7
        assert await reader.read(3) == b"123"  # LimitOverrunError keeps the data

        with pytest.raises(ValueError, match="Limit cannot be <= 0"):
            StreamReader(limit=0)
        with pytest.raises(ValueError, match="Separator should be at least one-byte"):
            await reader.readuntil(b"")
        with pytest.raises(ValueError, match="readexactly size can not be less than zero"):
            await reader.readexactly(-1)

    arun(main)


def test_data_arriving_in_pieces_wakes_the_reader():
    async def main():
        loop = asyncio.get_running_loop()
        reader = StreamReader()
        task = loop.create_task(reader.readuntil(b"END"))
        for piece in (b"ab", b"cE", b"N", b"Dxyz"):
            await asyncio.sleep(0)
            assert not task.done()
            reader.feed_data(piece)
        assert await task == b"abcEND"
        assert await reader.read(10) == b"xyz"

    arun(main)


def test_set_exception_wakes_and_fails_reads():
    async def main():
        loop = asyncio.get_running_loop()
        reader = StreamReader()
        task = loop.create_task(reader.read(10))
        await asyncio.sleep(0)
        exc = ConnectionResetError("boom")
        reader.set_exception(exc)
        with pytest.raises(ConnectionResetError, match="boom"):
            await task
        assert reader.exception() is exc
        with pytest.raises(ConnectionResetError):
            await reader.readline()

    arun(main)


def test_two_concurrent_reads_are_refused():
    async def main():
        loop = asyncio.get_running_loop()
        reader = StreamReader()
        first = loop.create_task(reader.read(1))
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match=r"read\(\) called while another coroutine"):
            await reader.read(1)
        reader.feed_data(b"x")
        assert await first == b"x"

    arun(main)


def test_cancelled_read_leaves_no_waiter_and_loses_no_data():
    async def main():
        loop = asyncio.get_running_loop()
        reader = StreamReader()
        task = loop.create_task(reader.readexactly(4))
        await asyncio.sleep(0)
        reader.feed_data(b"ab")
        await asyncio.sleep(0)
        assert "waiter=" in repr(reader)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert "waiter=" not in repr(reader)
        # A new read is allowed (no stale waiter) and sees the bytes fed before.
        reader.feed_data(b"cd")
        assert await reader.readexactly(4) == b"abcd"

    arun(main)


def test_read_all_after_cancel_keeps_buffer():
    async def main():
        loop = asyncio.get_running_loop()
        reader = StreamReader()
        reader.feed_data(b"first ")
        task = loop.create_task(reader.read())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        reader.feed_data(b"second")
        reader.feed_eof()
        assert await reader.read() == b"first second"

    arun(main)


def test_flow_control_pauses_above_twice_the_limit():
    async def main():
        reader = StreamReader(limit=10)
        transport = FakeTransport()
        reader.set_transport(transport)
        with pytest.raises(RuntimeError, match="transport already set"):
            reader.set_transport(transport)
        reader.feed_data(b"x" * 20)
        assert transport.calls == []  # 20 is not above 2 * limit
        reader.feed_data(b"x")
        assert transport.calls == ["pause"]
        assert "paused" in repr(reader)
        reader.feed_data(b"x" * 10)
        assert transport.calls == ["pause"]  # only once
        await reader.read(15)  # 16 left: still above the limit
        assert transport.calls == ["pause"]
        await reader.read(6)  # 10 left: resume
        assert transport.calls == ["pause", "resume"]

        # Waiting for data while paused resumes first (no deadlock on big reads).
        reader.feed_data(b"y" * 25)
        assert transport.calls[-1] == "pause"
        loop = asyncio.get_running_loop()
        task = loop.create_task(reader.readexactly(100))
        await asyncio.sleep(0)
        assert transport.calls[-1] == "resume"
        reader.feed_eof()
        with pytest.raises(asyncio.IncompleteReadError):
            await task

    arun(main)


def test_async_iteration_and_repr():
    async def main():
        reader = StreamReader(limit=100)
        reader.feed_data(b"a\nb\nc")
        reader.feed_eof()
        assert repr(reader) == "<StreamReader 5 bytes eof limit=100>"
        assert [line async for line in reader] == [b"a\n", b"b\n", b"c"]
        assert repr(reader) == "<StreamReader eof limit=100>"
        with pytest.raises(AssertionError, match="^feed_data after feed_eof"):  # asyncio's
            reader.feed_data(b"late")

    arun(main)


def test_readuntil_tuple_separator_shortest_match():
    async def main():
        reader = StreamReader()
        reader.feed_data(b"xx\r\nyy\n")
        assert await reader.readuntil((b"\r\n", b"\n")) == b"xx\r\n"
        assert await reader.readuntil((b"\r\n", b"\n")) == b"yy\n"
        with pytest.raises(ValueError, match="at least one element"):
            await reader.readuntil(())

    arun(main)


# -- over sockets ----------------------------------------------------------------------------

async def _echo_server(**kwargs):
    async def handle(reader, writer):
        while line := await reader.readline():
            writer.write(line.upper())
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await start_server(handle, "127.0.0.1", 0, **kwargs)
    return server, server.sockets[0].getsockname()[1]


def test_open_connection_and_start_server(run):
    async def main():
        server, port = await _echo_server()
        reader, writer = await open_connection("127.0.0.1", port)
        assert isinstance(writer, StreamWriter)
        assert writer.get_extra_info("peername") == ("127.0.0.1", port)
        assert writer.can_write_eof()
        writer.write(b"hello\n")
        writer.writelines([b"wor", b"ld\n"])
        await writer.drain()
        assert await reader.readline() == b"HELLO\n"
        assert await reader.readuntil(b"\n") == b"WORLD\n"
        writer.write_eof()  # the server's loop ends, it closes
        assert await reader.read() == b""
        assert reader.at_eof()
        assert repr(writer).startswith("<StreamWriter transport=")
        writer.close()
        assert writer.is_closing()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(main)


def test_readexactly_at_eof_over_a_socket(run):
    async def main():
        async def handle(reader, writer):
            writer.write(b"12345")
            writer.close()
            await writer.wait_closed()

        server = await start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await open_connection("127.0.0.1", port)
        with pytest.raises(asyncio.IncompleteReadError) as info:
            await reader.readexactly(10)
        assert info.value.partial == b"12345"
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(main)


def test_drain_backpressure_with_a_slow_reader(run):
    async def main():
        loop = asyncio.get_running_loop()
        release = asyncio.Event()
        received = loop.create_future()

        async def handle(reader, writer):
            await release.wait()
            total = len(await reader.read())
            received.set_result(total)
            writer.close()
            await writer.wait_closed()

        server = await start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await open_connection("127.0.0.1", port)
        writer.transport.set_write_buffer_limits(high=16 * 1024)
        chunk = b"d" * 65536
        sent = 0
        blocked = None
        for _ in range(2000):  # up to 128 MiB before the kernel buffers fill
            writer.write(chunk)
            sent += len(chunk)
            blocked = loop.create_task(writer.drain())
            await asyncio.sleep(0.001)
            if not blocked.done():
                break
            await blocked
        assert not blocked.done(), "drain() never blocked"
        assert writer.transport.get_write_buffer_size() > 16 * 1024
        release.set()
        await asyncio.wait_for(blocked, 20)
        writer.write_eof()
        assert await asyncio.wait_for(received, 20) == sent
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(main)


def test_cancelled_drain_leaves_no_waiter(run):
    async def main():
        loop = asyncio.get_running_loop()
        release = asyncio.Event()

        async def handle(reader, writer):
            await release.wait()
            await reader.read()
            writer.close()
            await writer.wait_closed()

        server = await start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await open_connection("127.0.0.1", port)
        writer.transport.set_write_buffer_limits(high=0)
        writer.write(b"x" * (8 * 2**20))  # more than the kernel takes at once
        drains = [loop.create_task(writer.drain()) for _ in range(3)]
        await asyncio.sleep(0.01)
        assert not any(d.done() for d in drains)
        drains[1].cancel()
        await asyncio.sleep(0)
        assert drains[1].cancelled()
        release.set()
        # The remaining drains complete when the buffer empties; the cancelled one
        # left nothing behind that a resume_writing() could trip over.
        await asyncio.wait_for(asyncio.gather(drains[0], drains[2]), 20)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(main)


def test_drain_raises_after_the_peer_reset(run):
    async def main():
        async def handle(reader, writer):
            sock = writer.get_extra_info("socket")
            # SO_LINGER 0: close sends a RST, the client's writes then fail.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            writer.transport.abort()

        server = await start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await open_connection("127.0.0.1", port)
        with pytest.raises(ConnectionError):
            for _ in range(1000):
                writer.write(b"x" * 1024)
                await writer.drain()
                await asyncio.sleep(0.001)
        writer.close()
        with pytest.raises(ConnectionError):
            await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(main)


def test_client_connected_cb_error_is_reported_and_closes(run):
    async def main():
        loop = asyncio.get_running_loop()
        reported = loop.create_future()
        loop.set_exception_handler(lambda lp, ctx: reported.set_result(ctx))

        async def handle(reader, writer):
            raise ZeroDivisionError

        server = await start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 10) == b""  # server closed
        ctx = await reported
        assert ctx["message"] == "Unhandled exception in client_connected_cb"
        assert isinstance(ctx["exception"], ZeroDivisionError)
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(main)


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix sockets")
def test_unix_streams(run, tmp_path):
    async def main():
        path = str(tmp_path / "sock")

        async def handle(reader, writer):
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await streams.start_unix_server(handle, path)
        reader, writer = await streams.open_unix_connection(path)
        writer.write(b"over unix\n")
        assert await reader.readline() == b"over unix\n"
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(main)


def test_tls_streams_with_ssl_argument(run):
    async def main():
        server, port = await _echo_server(ssl=server_context())
        reader, writer = await open_connection("127.0.0.1", port, ssl=client_context(),
                                               server_hostname="localhost")
        assert writer.get_extra_info("peercert") is not None
        assert not writer.can_write_eof()
        writer.write(b"secure\n")
        assert await reader.readline() == b"SECURE\n"
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(main)


@pytest.mark.parametrize("impl", ["coroloop", "loop's own"])
def test_writer_start_tls(run, impl):
    async def main():
        loop = asyncio.get_running_loop()
        if impl == "coroloop":
            # Route loop.start_tls to coroloop's implementation on whatever loop runs.
            def start_tls(*args, **kwargs):
                return tls_transport.start_tls(loop, *args, **kwargs)
            loop.start_tls = start_tls

        async def handle(reader, writer):
            assert await reader.readline() == b"STARTTLS\n"
            writer.write(b"GO\n")
            await writer.start_tls(server_context())
            line = await reader.readline()
            writer.write(b"tls:" + line)
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        server = await start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await open_connection("127.0.0.1", port)
        writer.write(b"STARTTLS\n")
        assert await reader.readline() == b"GO\n"
        await writer.start_tls(client_context(), server_hostname="localhost")
        assert writer.get_extra_info("ssl_object") is not None
        if impl == "coroloop":
            assert isinstance(writer.transport, tls_transport.TLSTransport)
        writer.write(b"hi\n")
        assert await reader.readline() == b"tls:hi\n"
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    run(main)


def test_writer_start_tls_verification_failure(run):
    async def main():

        async def handle(reader, writer):
            try:
                await writer.start_tls(server_context())
            except (ssl.SSLError, ConnectionError):
                pass
            writer.close()

        server = await start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await open_connection("127.0.0.1", port)
        with pytest.raises(ssl.SSLCertVerificationError):
            await writer.start_tls(client_context(), server_hostname="example.com")
        writer.close()
        server.close()
        await server.wait_closed()

    run(main)


def test_unclosed_writer_warns():
    import gc

    async def main():
        loop = asyncio.get_running_loop()
        transport = FakeTransport()
        protocol = StreamReaderProtocol(StreamReader(), loop=loop)
        writer = StreamWriter(transport, protocol, None, loop)
        with pytest.warns(ResourceWarning, match="unclosed <StreamWriter"):
            del writer
            gc.collect()
        assert transport.closing  # __del__ closed it

    arun(main)

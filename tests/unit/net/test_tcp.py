"""TCP: create_connection, create_server, Server, socket transports, loop.sendfile."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import sys

import pytest

from coroloop._net import tcp

from net_helpers import run, client_context, server_context


class Recorder(asyncio.Protocol):
    """Records every callback; echoes if asked."""

    def __init__(self, echo=False, keep_open_on_eof=False):
        self.echo = echo
        self.keep_open_on_eof = keep_open_on_eof
        self.events = []
        self.data = bytearray()
        self.transport = None
        self.made = asyncio.get_running_loop().create_future()
        self.lost = asyncio.get_running_loop().create_future()
        self.eof = asyncio.get_running_loop().create_future()
        self.got = asyncio.Event()

    def connection_made(self, transport):
        self.events.append("made")
        self.transport = transport
        self.made.set_result(None)

    def data_received(self, data):
        assert "made" in self.events and "lost" not in self.events
        self.data += data
        self.got.set()
        if self.echo:
            self.transport.write(data)

    def eof_received(self):
        self.events.append("eof")
        self.eof.set_result(None)
        return self.keep_open_on_eof

    def pause_writing(self):
        self.events.append("pause")

    def resume_writing(self):
        self.events.append("resume")

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)

    async def wait_for_bytes(self, n):
        while len(self.data) < n:
            self.got.clear()
            await self.got.wait()
        return bytes(self.data)


async def echo_server(loop, **kwargs):
    protocols = []

    def factory():
        proto = Recorder(echo=True)
        protocols.append(proto)
        return proto
    server = await loop.create_server(factory, "127.0.0.1", 0, **kwargs)
    return server, server.sockets[0].getsockname()[1], protocols


# -- connections and transports --------------------------------------------------------

def test_echo_roundtrip_and_extra_info(loop):
    async def main():
        server, port, served = await echo_server(loop)
        transport, proto = await loop.create_connection(Recorder, "127.0.0.1", port)
        assert proto.events == ["made"]
        transport.write(b"ping")
        assert await proto.wait_for_bytes(4) == b"ping"
        assert transport.get_extra_info("peername") == ("127.0.0.1", port)
        assert transport.get_extra_info("sockname")[0] == "127.0.0.1"
        sock = transport.get_extra_info("socket")
        assert sock.family == socket.AF_INET and sock.type == socket.SOCK_STREAM
        assert transport.get_extra_info("nonexistent", 42) == 42
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert transport.get_protocol() is proto
        transport.close()
        assert transport.is_closing()
        assert await proto.lost is None
        assert await served[0].lost is None
        assert proto.events == ["made", "lost"]
        assert served[0].events == ["made", "eof", "lost"]
        server.close()
        await server.wait_closed()
    run(loop, main())


def test_bulk_and_small_reads_deliver_bytes_in_order(loop):
    # Small reads come from recv(64 KiB); a burst that fills one makes the transport
    # ask for max_size per read, until reads are small again.
    # Either way data_received gets bytes, all of them, in order.
    async def main():
        server, port, served = await echo_server(loop)
        transport, proto = await loop.create_connection(Recorder, "127.0.0.1", port)
        seen_types = set()
        real_data_received = proto.data_received

        def data_received(data):
            seen_types.add(type(data))
            real_data_received(data)
        proto.data_received = data_received
        expected = bytearray()
        for size in (10, 300_000, 7, 2_000_000, 5, 1):
            chunk = bytes([size % 251]) * size
            expected += chunk
            transport.write(chunk)
            assert await proto.wait_for_bytes(len(expected)) == expected
        assert seen_types == {bytes}
        transport.close()
        await proto.lost
        server.close()
        await server.wait_closed()
    run(loop, main())


class _RecvSizes(socket.socket):
    """A socket that records how many bytes each recv() asks for."""

    asked: list

    def recv(self, n, *flags):
        self.asked.append(n)
        return super().recv(n, *flags)


def test_no_read_asks_for_a_block_malloc_would_map(loop):
    # A recv() into a new bytes object bigger than glibc's mmap threshold (128 KiB)
    # maps, faults in, shrinks and unmaps memory on every read, unless an earlier free
    # happened to raise the threshold (it did in the pure build, not in the compiled
    # one: 100 us of system time per 100 KiB echo).  Bulk reads stay below it.
    from coroloop._net.pipes import ReadPipeTransport
    from coroloop._net.transports import HEAP_READ_MAX
    malloc_chunk_header = 16
    assert sys.getsizeof(b"x" * HEAP_READ_MAX) + malloc_chunk_header <= 128 * 1024
    assert ReadPipeTransport.max_size <= HEAP_READ_MAX

    async def main():
        server, port, _ = await echo_server(loop)
        sock = _RecvSizes(socket.AF_INET, socket.SOCK_STREAM)
        sock.asked = []
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        transport, proto = await loop.create_connection(Recorder, sock=sock)
        payload = bytes(range(256)) * 4096 * 3  # 3 MiB: bulk reads
        transport.write(payload)
        assert await proto.wait_for_bytes(len(payload)) == payload
        assert max(sock.asked) <= HEAP_READ_MAX
        assert max(sock.asked) > 64 * 1024  # bulk reads did happen
        transport.close()
        await proto.lost
        server.close()
        await server.wait_closed()
    run(loop, main())


def test_buffered_protocol_receives_into_its_buffer(loop):
    class Buffered(asyncio.BufferedProtocol):
        def __init__(self):
            self.buf = bytearray(7)  # small: forces many get_buffer/buffer_updated rounds
            self.received = bytearray()
            self.done = loop.create_future()

        def get_buffer(self, sizehint):
            return self.buf

        def buffer_updated(self, nbytes):
            self.received += self.buf[:nbytes]

        def eof_received(self):
            self.done.set_result(bytes(self.received))

        def connection_lost(self, exc):
            pass

    async def main():
        payload = bytes(range(256)) * 40
        received = loop.create_future()

        async def handle(reader, writer):
            writer.write(payload)
            writer.write_eof()
            await reader.read()
            writer.close()
            received.set_result(None)

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, proto = await loop.create_connection(Buffered, "127.0.0.1", port)
        assert await proto.done == payload
        transport.close()
        await received
        server.close()
        await server.wait_closed()
    run(loop, main())


def test_small_write_goes_out_immediately_and_writelines_gathers(loop):
    async def main():
        server, port, served = await echo_server(loop)
        transport, proto = await loop.create_connection(Recorder, "127.0.0.1", port)
        transport.write(b"abc")
        assert transport.get_write_buffer_size() == 0  # sent in write(), not buffered
        transport.write(bytearray(b"def"))
        transport.write(memoryview(b"ghi"))
        transport.writelines([b"jk", bytearray(b"lm"), memoryview(b"no")])
        assert await proto.wait_for_bytes(15) == b"abcdefghijklmno"
        # asyncio's words: "a bytes-like object" up to 3.13, the three types from 3.14.
        with pytest.raises(TypeError, match="bytes-like|bytes, bytearray, or memoryview"):
            transport.write("text")
        with pytest.raises(TypeError, match="bytes-like"):
            transport.writelines([b"ok", 3])
        transport.close()
        await proto.lost
        server.close()
        await server.wait_closed()
    run(loop, main())


def test_write_eof_half_closes_and_the_peer_can_still_answer(loop):
    async def main():
        server_protos = []

        class Answer(Recorder):
            def eof_received(self):
                super().eof_received()
                self.transport.write(b"got:" + bytes(self.data))
                self.transport.close()
                return True

        def factory():
            proto = Answer()
            server_protos.append(proto)
            return proto
        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, proto = await loop.create_connection(
            lambda: Recorder(keep_open_on_eof=True), "127.0.0.1", port)
        assert transport.can_write_eof()
        transport.write(b"question")
        transport.write_eof()
        transport.write_eof()  # idempotent
        with pytest.raises(RuntimeError, match="write_eof"):
            transport.write(b"more")
        await proto.eof
        assert bytes(proto.data) == b"got:question"
        assert not transport.is_closing()  # eof_received returned True: still open
        transport.close()
        assert await proto.lost is None
        server.close()
        await server.wait_closed()
    run(loop, main())


def test_close_flushes_buffer_abort_drops_it(loop):
    async def main():
        big = b"x" * (8 * 1024 * 1024)
        server, port, served = await echo_server(loop)
        # close(): everything buffered still arrives, then connection_lost(None).
        sink_protos = []

        def sink():
            proto = Recorder()
            sink_protos.append(proto)
            return proto
        sink_server = await loop.create_server(sink, "127.0.0.1", 0)
        sink_port = sink_server.sockets[0].getsockname()[1]
        transport, proto = await loop.create_connection(Recorder, "127.0.0.1", sink_port)
        transport.write(big)
        assert transport.get_write_buffer_size() > 0
        transport.close()
        assert transport.is_closing()
        assert await proto.lost is None
        await sink_protos[0].eof
        assert len(sink_protos[0].data) == len(big)

        # abort(): buffer dropped, connection_lost(None) at once.
        transport, proto = await loop.create_connection(Recorder, "127.0.0.1", sink_port)
        transport.write(big)
        assert transport.get_write_buffer_size() > 0
        transport.abort()
        assert transport.get_write_buffer_size() == 0
        assert await proto.lost is None
        assert proto.events.count("lost") == 1
        transport.close()  # no-op after abort
        transport.abort()
        await asyncio.sleep(0)
        assert proto.events.count("lost") == 1
        for srv in (server, sink_server):
            srv.close()
            srv.abort_clients()
            await srv.wait_closed()
    run(loop, main())


def test_pause_and_resume_reading(loop):
    async def main():
        server, port, served = await echo_server(loop)
        transport, proto = await loop.create_connection(Recorder, "127.0.0.1", port)
        assert transport.is_reading()
        transport.pause_reading()
        transport.pause_reading()  # idempotent
        assert not transport.is_reading()
        transport.write(b"echo me")
        await served[0].wait_for_bytes(7)
        for _ in range(5):
            await asyncio.sleep(0)
        assert proto.data == b""  # paused: the echo waits in the socket
        transport.resume_reading()
        assert transport.is_reading()
        assert await proto.wait_for_bytes(7) == b"echo me"
        transport.close()
        assert not transport.is_reading()
        transport.resume_reading()  # no effect once closing
        await proto.lost
        server.close()
        await server.wait_closed()
    run(loop, main())


def test_write_flow_control_pauses_and_resumes_protocol(loop):
    async def main():
        accepted = []

        def factory():
            proto = Recorder()
            accepted.append(proto)
            return proto
        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, proto = await loop.create_connection(Recorder, "127.0.0.1", port)
        await asyncio.sleep(0)
        accepted[0].transport.pause_reading()  # the peer stops reading
        transport.set_write_buffer_limits(high=1000)
        assert transport.get_write_buffer_limits() == (250, 1000)
        while "pause" not in proto.events:
            transport.write(b"y" * 65536)
            await asyncio.sleep(0)
        assert transport.get_write_buffer_size() > 1000
        assert proto.events == ["made", "pause"]
        accepted[0].transport.resume_reading()
        while "resume" not in proto.events:
            await asyncio.sleep(0.001)
        assert transport.get_write_buffer_size() <= 250
        with pytest.raises(ValueError):
            transport.set_write_buffer_limits(high=1, low=2)
        transport.close()
        await proto.lost
        server.close()
        server.close_clients()
        await server.wait_closed()
    run(loop, main())


def test_protocol_error_in_data_received_is_reported_and_closes(loop):
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))

    class Broken(Recorder):
        def data_received(self, data):
            raise ZeroDivisionError

    async def main():
        server, port, served = await echo_server(loop)
        transport, proto = await loop.create_connection(Broken, "127.0.0.1", port)
        transport.write(b"boom")
        exc = await proto.lost
        assert isinstance(exc, ZeroDivisionError)
        assert errors[0]["message"] == "Fatal error: protocol.data_received() call failed."
        assert errors[0]["transport"] is transport
        server.close()
        await server.wait_closed()
    run(loop, main())


def test_connection_made_failure_fails_create_connection(loop):
    class Broken(asyncio.Protocol):
        def connection_made(self, transport):
            raise KeyError("nope")

    async def main():
        server, port, served = await echo_server(loop)
        with pytest.raises(KeyError):
            await loop.create_connection(Broken, "127.0.0.1", port)
        server.close()
        await server.wait_closed()
    run(loop, main())


def test_add_reader_refuses_a_transport_fd(loop):
    async def main():
        server, port, served = await echo_server(loop)
        transport, proto = await loop.create_connection(Recorder, "127.0.0.1", port)
        fd = transport.get_extra_info("socket").fileno()
        for method in (loop.add_reader, loop.add_writer):
            with pytest.raises(RuntimeError, match="is used by transport"):
                method(fd, lambda: None)
        with pytest.raises(RuntimeError, match="is used by transport"):
            loop.remove_reader(fd)
        transport.close()
        await proto.lost
        server.close()
        await server.wait_closed()
    run(loop, main())


def test_closing_the_loop_releases_unclosed_transports(loop):
    async def main():
        server, port, served = await echo_server(loop)
        transport, proto = await loop.create_connection(Recorder, "127.0.0.1", port)
        server.close()
        return transport
    transport = run(loop, main())
    sock = transport.get_extra_info("socket")
    with pytest.warns(ResourceWarning, match="unclosed transport"):
        loop.close()
    assert sock.fileno() == -1
    assert transport.is_closing()


# -- create_connection ------------------------------------------------------------------

def test_create_connection_refused(loop):
    async def main():
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        with pytest.raises(ConnectionRefusedError):
            await loop.create_connection(Recorder, "127.0.0.1", port)
    run(loop, main())


def _dead_port():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def _fake_resolver(loop, monkeypatch, infos):
    async def fake_getaddrinfo(host, port, **kwargs):
        return infos
    monkeypatch.setattr(loop, "getaddrinfo", fake_getaddrinfo)


def test_create_connection_errors_combined_and_all_errors(loop, monkeypatch):
    dead1, dead2 = _dead_port(), _dead_port()
    stream = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "")
    _fake_resolver(loop, monkeypatch, [stream + (("127.0.0.1", dead1),),
                                       stream + (("127.0.0.1", dead2),)])

    async def main():
        with pytest.raises(OSError, match="Multiple exceptions") as info:
            await loop.create_connection(Recorder, "example.invalid", 80)
        assert not isinstance(info.value, ExceptionGroup)
        with pytest.raises(ExceptionGroup) as group:
            await loop.create_connection(Recorder, "example.invalid", 80, all_errors=True)
        assert len(group.value.exceptions) == 2
        assert all(isinstance(e, ConnectionRefusedError) for e in group.value.exceptions)
    run(loop, main())


def test_create_connection_tries_next_address(loop, monkeypatch):
    async def main():
        server, port, served = await echo_server(loop)
        stream = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "")
        _fake_resolver(loop, monkeypatch, [stream + (("127.0.0.1", _dead_port()),),
                                           stream + (("127.0.0.1", port),)])
        for delay in (None, 0.25):
            transport, proto = await loop.create_connection(
                Recorder, "example.invalid", 80, happy_eyeballs_delay=delay)
            assert transport.get_extra_info("peername") == ("127.0.0.1", port)
            transport.close()
            await proto.lost
        server.close()
        server.abort_clients()
        await server.wait_closed()
    run(loop, main())


def _hanging_listener():
    """A listener whose accept queue is full: further connects hang in SYN-SENT."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    addr = listener.getsockname()
    for _ in range(16):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(addr)
        except BlockingIOError:
            pass
        fillers.append(s)
    return listener, fillers


def test_happy_eyeballs_starts_next_attempt_after_delay(loop, monkeypatch):
    async def main():
        listener, fillers = _hanging_listener()
        try:
            server, port, served = await echo_server(loop)
            stream = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "")
            _fake_resolver(loop, monkeypatch, [stream + (listener.getsockname(),),
                                               stream + (("127.0.0.1", port),)])
            started = loop.time()
            transport, proto = await loop.create_connection(
                Recorder, "example.invalid", 80, happy_eyeballs_delay=0.05)
            assert transport.get_extra_info("peername") == ("127.0.0.1", port)
            assert loop.time() - started >= 0.04
            transport.close()
            await proto.lost
            server.close()
            server.abort_clients()
            await server.wait_closed()
        finally:
            listener.close()
            for s in fillers:
                s.close()
    run(loop, main())


def test_interleave_addrinfos():
    v4 = [(socket.AF_INET, 1, 6, "", (f"10.0.0.{i}", 1)) for i in range(3)]
    v6 = [(socket.AF_INET6, 1, 6, "", (f"::{i}", 1, 0, 0)) for i in range(2)]
    mixed = [v6[0], v6[1], v4[0], v4[1], v4[2]]
    assert tcp.interleave_addrinfos(mixed) == [v6[0], v4[0], v6[1], v4[1], v4[2]]
    assert tcp.interleave_addrinfos(mixed, 2) == [v6[0], v6[1], v4[0], v4[1], v4[2]]


def test_create_connection_local_addr_and_sock(loop):
    async def main():
        server, port, served = await echo_server(loop)
        local_port = _dead_port()
        transport, proto = await loop.create_connection(
            Recorder, "127.0.0.1", port, local_addr=("127.0.0.1", local_port))
        assert transport.get_extra_info("sockname") == ("127.0.0.1", local_port)
        transport.close()
        await proto.lost

        sock = socket.socket()
        sock.connect(("127.0.0.1", port))  # blocking: create_connection makes it not
        loop.set_debug(True)
        try:
            transport, proto = await loop.create_connection(Recorder, sock=sock)
        finally:
            loop.set_debug(False)
        transport.write(b"via sock")
        assert await proto.wait_for_bytes(8) == b"via sock"
        transport.close()
        await proto.lost
        assert sock.fileno() == -1

        with socket.socket() as unused:
            with pytest.raises(ValueError, match="can not be specified at the same time"):
                await loop.create_connection(Recorder, "127.0.0.1", port, sock=unused)
        with pytest.raises(ValueError, match="no sock specified"):
            await loop.create_connection(Recorder)
        with socket.socket(type=socket.SOCK_DGRAM) as udp:
            with pytest.raises(ValueError, match="A Stream Socket was expected"):
                await loop.create_connection(Recorder, sock=udp)
        with pytest.raises(ValueError, match="server_hostname is only meaningful with ssl"):
            await loop.create_connection(Recorder, "127.0.0.1", port, server_hostname="x")
        server.close()
        server.abort_clients()
        await server.wait_closed()
    run(loop, main())


def test_create_connection_over_tls(loop):
    async def main():
        server, port, served = await echo_server(loop, ssl=server_context())
        transport, proto = await loop.create_connection(
            Recorder, "127.0.0.1", port, ssl=client_context(), server_hostname="localhost")
        assert transport.get_extra_info("peercert") is not None
        transport.write(b"secret")
        assert await proto.wait_for_bytes(6) == b"secret"
        transport.close()
        await proto.lost
        with pytest.raises(ssl.SSLCertVerificationError):
            await loop.create_connection(Recorder, "127.0.0.1", port, ssl=True,
                                         server_hostname="localhost")
        server.close()
        server.abort_clients()
        await server.wait_closed()
    run(loop, main())


# -- servers ---------------------------------------------------------------------------

def test_server_lifecycle(loop):
    async def main():
        server = await loop.create_server(Recorder, "127.0.0.1", 0, start_serving=False)
        assert not server.is_serving()
        assert server.get_loop() is loop
        port = server.sockets[0].getsockname()[1]
        await server.start_serving()
        assert server.is_serving()
        transport, proto = await loop.create_connection(Recorder, "127.0.0.1", port)

        closed = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(0.01)
        assert not closed.done()
        server.close()
        assert server.sockets == ()
        assert not server.is_serving()
        await asyncio.sleep(0.01)
        assert not closed.done()  # a connection is still open (3.12+ semantics)
        server.close_clients()
        await closed
        assert await proto.lost is None
        with pytest.raises(RuntimeError, match="is closed"):
            await server.serve_forever()
        with pytest.raises(RuntimeError, match="is closed"):
            await server.start_serving()
    run(loop, main())


def test_serve_forever_cancel_and_context_manager(loop):
    async def main():
        async with await loop.create_server(Recorder, "127.0.0.1", 0,
                                            start_serving=False) as server:
            task = asyncio.ensure_future(server.serve_forever())
            await asyncio.sleep(0)
            assert server.is_serving()
            with pytest.raises(RuntimeError, match="already being awaited"):
                await server.serve_forever()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not server.is_serving()
        assert server.sockets == ()
    run(loop, main())


def test_create_server_several_hosts_and_options(loop):
    async def main():
        hosts = ["127.0.0.1"]
        if socket.has_ipv6:
            try:
                with socket.socket(socket.AF_INET6) as probe:
                    probe.bind(("::1", 0))
                hosts.append("::1")
            except OSError:
                pass
        server = await loop.create_server(Recorder, hosts, 0, reuse_port=True, keep_alive=True,
                                          backlog=5)
        assert len(server.sockets) == len(hosts)
        for sock in server.sockets:
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        port = server.sockets[0].getsockname()[1]
        # The port is taken: a second server without reuse_port fails to bind.
        with pytest.raises(OSError, match="error while attempting to bind") as info:
            await loop.create_server(Recorder, "127.0.0.1", port)
        assert info.value.errno == errno.EADDRINUSE
        server.close()
        await server.wait_closed()
        with pytest.raises(TypeError, match="SSLContext"):
            await loop.create_server(Recorder, "127.0.0.1", 0, ssl=True)
        with pytest.raises(ValueError, match="Neither host/port nor sock"):
            await loop.create_server(Recorder)
    run(loop, main())


def test_connect_accepted_socket(loop):
    async def main():
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        client = socket.socket()
        client.setblocking(False)
        connecting = asyncio.ensure_future(loop.sock_connect(client, listener.getsockname()))
        conn, _ = await loop.sock_accept(listener)
        await connecting
        transport, proto = await loop.connect_accepted_socket(
            lambda: Recorder(echo=True), conn)
        await loop.sock_sendall(client, b"hello")
        assert await loop.sock_recv(client, 5) == b"hello"
        client.close()
        await proto.lost
        listener.close()
    run(loop, main())


# -- loop.sendfile ---------------------------------------------------------------------

def test_loop_sendfile_native_and_fallback(loop, tmp_path):
    content = bytes(range(256)) * 4096  # 1 MiB
    path = tmp_path / "data.bin"
    path.write_bytes(content)

    async def main():
        accepted = []

        def factory():
            proto = Recorder()
            accepted.append(proto)
            return proto
        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, proto = await loop.create_connection(Recorder, "127.0.0.1", port)
        transport.write(b"head:")
        with open(path, "rb") as f:
            sent = await loop.sendfile(transport, f, offset=10, count=500_000)
            assert sent == 500_000
            assert f.tell() == 500_010
        transport.write(b":tail")
        expected = b"head:" + content[10:500_010] + b":tail"
        await asyncio.sleep(0)
        assert await accepted[0].wait_for_bytes(len(expected)) == expected
        assert transport.is_reading()  # restored after sendfile

        # Fallback: a file object without a descriptor.
        import io
        stream = io.BytesIO(content)
        transport2, proto2 = await loop.create_connection(Recorder, "127.0.0.1", port)
        assert await loop.sendfile(transport2, stream) == len(content)
        assert await accepted[1].wait_for_bytes(len(content)) == content
        stream.seek(0)
        with pytest.raises(asyncio.SendfileNotAvailableError):
            await loop.sendfile(transport2, stream, fallback=False)
        with pytest.raises(ValueError, match="binary mode"):
            with open(path, "r") as text:
                await loop.sendfile(transport2, text)
        for t, p in ((transport, proto), (transport2, proto2)):
            t.close()
            await p.lost
        server.close()
        server.close_clients()
        await server.wait_closed()
    run(loop, main())

"""create_datagram_endpoint and the datagram transport."""

from __future__ import annotations

import asyncio
import socket

import pytest

import coroloop
from net_helpers import run


class Datagrams(asyncio.DatagramProtocol):
    def __init__(self, echo=False):
        self.echo = echo
        self.received = asyncio.Queue()
        self.errors = []
        self.events = []
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.events.append("made")
        self.transport = transport

    def datagram_received(self, data, addr):
        self.received.put_nowait((data, addr))
        if self.echo:
            self.transport.sendto(data.upper(), addr)

    def error_received(self, exc):
        self.errors.append(exc)
        self.received.put_nowait((None, exc))

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)


def test_echo_between_unconnected_and_connected_endpoints(loop):
    async def main():
        server, sproto = await loop.create_datagram_endpoint(
            lambda: Datagrams(echo=True), local_addr=("127.0.0.1", 0))
        addr = server.get_extra_info("sockname")
        client, cproto = await loop.create_datagram_endpoint(Datagrams, remote_addr=addr)
        assert client.get_extra_info("peername") == addr
        client.sendto(b"hello")
        client.sendto(b"")  # an empty datagram is a datagram
        assert await cproto.received.get() == (b"HELLO", addr)
        assert await cproto.received.get() == (b"", addr)
        assert (await sproto.received.get())[1] == client.get_extra_info("sockname")
        with pytest.raises(ValueError, match="Invalid address"):
            client.sendto(b"x", ("127.0.0.1", 1))
        with pytest.raises(TypeError, match="bytes-like"):
            client.sendto("text")
        client.sendto(b"again", addr)  # its own remote address is fine
        assert await cproto.received.get() == (b"AGAIN", addr)
        assert client.get_write_buffer_size() == 0
        client.close()
        server.abort()
        assert await cproto.lost is None and await sproto.lost is None
        assert cproto.events == ["made", "lost"]
    run(loop, main())


def test_connected_endpoint_reports_refused_through_error_received(loop):
    async def main():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            dead = probe.getsockname()
        client, proto = await loop.create_datagram_endpoint(Datagrams, remote_addr=dead)
        client.sendto(b"anyone?")
        data, exc = await proto.received.get()
        assert data is None and isinstance(exc, ConnectionRefusedError)
        assert not client.is_closing()  # not fatal
        client.close()
        await proto.lost
    run(loop, main())


def test_options_and_argument_checks(loop):
    async def main():
        transport, proto = await loop.create_datagram_endpoint(
            Datagrams, local_addr=("127.0.0.1", 0), reuse_port=True, allow_broadcast=True)
        sock = transport.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST)
        transport.close()
        await proto.lost
        with pytest.raises(TypeError, match="reuse_address"):  # removed in asyncio 3.11
            await loop.create_datagram_endpoint(Datagrams, local_addr=("127.0.0.1", 0),
                                                reuse_address=True)
        with pytest.raises(ValueError, match="unexpected address family"):
            await loop.create_datagram_endpoint(Datagrams)
        with pytest.raises(TypeError, match="2-tuple"):
            await loop.create_datagram_endpoint(Datagrams, local_addr="127.0.0.1")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            with pytest.raises(ValueError, match="local_addr"):
                await loop.create_datagram_endpoint(Datagrams, sock=udp,
                                                    local_addr=("127.0.0.1", 0))
        with socket.socket() as tcp_sock:
            with pytest.raises(ValueError, match="A (UDP|datagram) [Ss]ocket was expected"):
                await loop.create_datagram_endpoint(Datagrams, sock=tcp_sock)
    run(loop, main())


def test_existing_socket_and_family_only(loop):
    async def main():
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        transport, proto = await loop.create_datagram_endpoint(Datagrams, sock=udp)
        peer, pproto = await loop.create_datagram_endpoint(Datagrams, family=socket.AF_INET)
        peer.sendto(b"ping", udp.getsockname())
        data, addr = await proto.received.get()
        assert data == b"ping"
        transport.sendto(b"pong", addr)
        assert (await pproto.received.get())[0] == b"pong"
        for t, p in ((transport, proto), (peer, pproto)):
            t.close()
            await p.lost
        assert udp.fileno() == -1
    run(loop, main())


def test_unix_datagram_endpoint_removes_stale_file(loop, tmp_path):
    path = str(tmp_path / "dgram.sock")

    async def main():
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as stale:
            stale.bind(path)  # leaves a socket file behind
        transport, proto = await loop.create_datagram_endpoint(
            Datagrams, local_addr=path, family=socket.AF_UNIX)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"unix", path)
        assert (await proto.received.get())[0] == b"unix"
        transport.close()
        await proto.lost
        with pytest.raises(TypeError, match="string is expected"):
            await loop.create_datagram_endpoint(Datagrams, local_addr=("a", 1),
                                                family=socket.AF_UNIX)
    run(loop, main())


class _Stalling(socket.socket):
    """A UDP socket whose send() says "would block" while ``stalled``."""

    stalled = False

    def send(self, data, *args):
        if self.stalled:
            raise BlockingIOError
        return super().send(data, *args)


def test_sendto_queue_flow_control(loop):
    class Flow(Datagrams):
        def pause_writing(self):
            self.events.append("pause")

        def resume_writing(self):
            self.events.append("resume")

    async def main():
        sink, sink_proto = await loop.create_datagram_endpoint(
            Datagrams, local_addr=("127.0.0.1", 0))
        sock = _Stalling(socket.AF_INET, socket.SOCK_DGRAM)
        sock.connect(sink.get_extra_info("sockname"))
        transport, proto = await loop.create_datagram_endpoint(Flow, sock=sock)
        transport.set_write_buffer_limits(high=2500)
        assert transport.get_write_buffer_limits() == (625, 2500)
        sock.stalled = True
        for i in range(3):
            transport.sendto(b"%d" % i * 1000)
        assert transport.get_write_buffer_size() == 3000
        assert proto.events == ["made", "pause"]
        sock.stalled = False
        for i in range(3):  # queued datagrams keep their boundaries and order
            assert (await sink_proto.received.get())[0] == b"%d" % i * 1000
        assert proto.events == ["made", "pause", "resume"]
        assert transport.get_write_buffer_size() == 0
        transport.close()
        sink.close()
        await proto.lost
        await sink_proto.lost
    run(loop, main())


def test_error_received_that_closes_still_sees_the_next_failure(loop):
    # As asyncio (its test_datagram_write_error_close_from_callback): an unconnected
    # endpoint closed from error_received() still tries -- and fails -- the next
    # sendto() until connection_lost() has run; then connection_lost() comes.
    class Closer(Datagrams):
        def error_received(self, exc):
            super().error_received(exc)
            self.transport.close()

    async def main():
        transport, proto = await loop.create_datagram_endpoint(
            Closer, local_addr=("127.0.0.1", 0))
        addr = transport.get_extra_info("sockname")
        oversized = b"\0" * 70000  # larger than any UDP datagram: EMSGSIZE at once
        transport.sendto(oversized, addr)
        transport.sendto(oversized, addr)
        assert await proto.lost is None
        assert [type(e) for e in proto.errors] == [OSError, OSError]
        transport.sendto(oversized, addr)  # after connection_lost(): dropped quietly
        assert len(proto.errors) == 2
    run(loop, main())

"""Regression tests for networking bugs found by CPython's test_asyncio (issue 4).

Each test names the conformance test that exposed the bug.
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import ssl
import sys
import tempfile
import threading
import weakref

import pytest

import coroloop
from coroloop._net.tls_transport import SSLTransport, TLSTransport

from net_helpers import run, client_context, server_context


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def nogc():
    """Objects must be freed by reference counting alone."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


# -- sock_* ---------------------------------------------------------------------------

def test_sock_recv_cancelled_then_retried_at_once(loop, pair):
    # test_sock_lowlevel test_sock_client_racing: the cancelled recv's cleanup (a done
    # callback, run one iteration later) removed the reader of the next sock_recv.
    a, b = pair

    async def main():
        first = asyncio.ensure_future(loop.sock_recv(a, 10))
        await asyncio.sleep(0)
        first.cancel()
        # Registered in this very step, before the cancelled operation's cleanup runs.
        loop.call_later(0.01, b.send, b"hello")
        return await loop.sock_recv(a, 10)

    assert run(loop, main(), timeout=5) == b"hello"


def test_sock_connect_cancelled_then_retried(loop):
    # test_sock_lowlevel test_sock_client_connect_racing.
    listener = socket.socket()
    sock = socket.socket()
    with listener, sock:
        listener.bind(("127.0.0.1", 0))
        addr = listener.getsockname()
        sock.setblocking(False)

        async def main():
            task = asyncio.ensure_future(loop.sock_connect(sock, addr))
            await asyncio.sleep(0)
            task.cancel()
            listener.listen(1)
            for _ in range(10):
                try:
                    await loop.sock_connect(sock, addr)
                except ConnectionRefusedError:
                    continue
                return True
            return False

        assert run(loop, main(), timeout=5) in (True, False)  # no hang


def test_sock_sendto_looks_the_method_up_at_each_attempt(loop):
    # test_sock_lowlevel test_sendto_blocking: a wrapper socket whose sendto raises
    # BlockingIOError until it is replaced must not be retried forever.
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with receiver, sender:
        receiver.bind(("127.0.0.1", 0))
        receiver.setblocking(False)
        sender.setblocking(False)

        class Wrapper:
            def __init__(self, sock):
                self._sock = sock
                self.sendto = self._blocked

            def _blocked(self, data, address):
                raise BlockingIOError

            def __getattr__(self, name):
                return getattr(self._sock, name)

        wrapper = Wrapper(sender)

        async def main():
            loop.call_soon(setattr, wrapper, "sendto", sender.sendto)
            await loop.sock_sendto(wrapper, b"ping", receiver.getsockname())
            return await loop.sock_recvfrom(receiver, 100)

        data, _ = run(loop, main(), timeout=5)
        assert data == b"ping"


# -- transports -----------------------------------------------------------------------

def test_datagram_transport_is_a_transport(loop):
    # test_events test_create_datagram_endpoint*: asyncio's are asyncio.Transports.
    async def main():
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
        try:
            assert isinstance(transport, asyncio.DatagramTransport)
            assert isinstance(transport, asyncio.Transport)
            with tempfile.TemporaryFile() as f:
                # test_sendfile test_sendfile_not_supported
                with pytest.raises(RuntimeError, match="not supported"):
                    await loop.sendfile(transport, f)
        finally:
            transport.close()
            await asyncio.sleep(0)

    run(loop, main())


def test_socket_transport_freed_without_gc(loop, pair, nogc):
    # A protocol keeping its transport: the cycle is broken at connection_lost, as
    # asyncio breaks it (get_protocol() is None afterwards).
    a, b = pair

    class Keeper(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def connection_lost(self, exc):
            self.lost = True

    async def main():
        transport, protocol = await loop.create_connection(Keeper, sock=a)
        transport.close()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert protocol.lost
        assert transport.get_protocol() is None
        return weakref.ref(transport), weakref.ref(protocol)

    transport_ref, protocol_ref = run(loop, main())
    assert transport_ref() is None
    assert protocol_ref() is None


# -- TLS ------------------------------------------------------------------------------

def test_ssl_transport_class_name():
    # test_events test_create_ssl_connection: "'ssl' in tr.__class__.__name__.lower()".
    assert "ssl" in SSLTransport.__name__.lower()
    assert TLSTransport is SSLTransport


def _tls_server(loop, handler):
    return loop.create_server(handler, "127.0.0.1", 0, ssl=server_context())


def test_tls_context_freed_after_close_without_gc(loop, nogc):
    # test_ssl test_create_connection_memory_leak: the app protocol keeps its transport
    # (a cycle through the TLS protocol), yet the client's SSLContext is freed once the
    # connection is over and the application dropped it.
    class Echo(asyncio.Protocol):
        def connection_made(self, transport):
            transport.write(b"O")
            transport.close()

    class Keeper(asyncio.Protocol):
        def __init__(self):
            self.done = loop.create_future()

        def connection_made(self, transport):
            self.tr = transport

        def connection_lost(self, exc):
            self.done.set_result(None)

    async def main(ctx):
        server = await _tls_server(loop, Echo)
        try:
            port = server.sockets[0].getsockname()[1]
            transport, protocol = await loop.create_connection(
                Keeper, "127.0.0.1", port, ssl=ctx, server_hostname="localhost")
            await protocol.done
            transport.close()
        finally:
            server.close()
            await server.wait_closed()

    ctx = client_context()
    run(loop, main(ctx))
    ctx_ref = weakref.ref(ctx)
    del ctx
    assert ctx_ref() is None


def test_tls_context_freed_after_cancelled_handshake_without_gc(loop, nogc):
    # test_ssl test_handshake_timeout_handler_leak: a listener that never answers.
    listener = socket.socket()
    with listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        addr = listener.getsockname()

        async def main(ctx):
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):
                    await loop.create_connection(asyncio.Protocol, *addr, ssl=ctx,
                                                 server_hostname="localhost")

        ctx = client_context()
        run(loop, main(ctx))
        ctx_ref = weakref.ref(ctx)
        del ctx
        assert ctx_ref() is None


def test_tls_no_close_notify_after_the_peer_closed_tcp(loop):
    # test_ssl test_shutdown_timeout_handler_not_set: the peer sends data, then
    # shuts down its TCP write side without close_notify (dropping its TLS layer);
    # asyncio closes without sending close_notify, so the peer reads b"" only.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    addr = listener.getsockname()
    result = {}

    def serve():
        conn, _ = listener.accept()
        conn.settimeout(5)
        tls = server_context().wrap_socket(conn, server_side=True)
        tls.send(b"hello")
        tls.shutdown(socket.SHUT_WR)  # plain TCP half-close; SSL layer dropped
        result["after"] = tls.recv(1024)
        tls.close()

    thread = threading.Thread(target=serve)
    thread.start()

    class Client(asyncio.Protocol):
        def __init__(self):
            self.done = loop.create_future()
            self.data = b""

        def data_received(self, data):
            self.data += data

        def connection_lost(self, exc):
            self.done.set_result(exc)

    async def main():
        transport, protocol = await loop.create_connection(
            Client, *addr, ssl=client_context(), server_hostname="localhost")
        exc = await protocol.done
        transport.close()
        return protocol.data, exc

    try:
        data, exc = run(loop, main())
    finally:
        thread.join(10)
        listener.close()
    assert data == b"hello"
    assert result["after"] == b""


# -- Unix sockets ---------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs AF_UNIX")
def test_unix_server_given_socket_file_kept_before_313(loop):
    # test_unix_events test_create_unix_server_path_stream_bittype (3.11/3.12): asyncio
    # before 3.13 never removed the file of a socket passed as sock=.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "s")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with sock:
            sock.bind(path)

            async def main():
                server = await loop.create_unix_server(asyncio.Protocol, sock=sock)
                server.close()
                await server.wait_closed()

            run(loop, main())
            assert os.path.exists(path) == (sys.version_info < (3, 13))

        # A path the server bound itself: removed from 3.13 on, as asyncio does.
        async def by_path():
            server = await loop.create_unix_server(asyncio.Protocol, path)
            server.close()
            await server.wait_closed()

        if os.path.exists(path):
            os.unlink(path)
        run(loop, by_path())
        assert os.path.exists(path) == (sys.version_info < (3, 13))



def test_ssl_object_usable_after_a_ragged_eof():
    # test_events test_create_ssl_unix_connection (flaky under load): the connection
    # was over, through a TCP EOF without close_notify, by the time the test read
    # transport.get_extra_info('ssl_object').getpeercert(); feeding the EOF into the
    # SSLObject's BIO had put it in an error state ("handshake not done yet").
    from net_helpers import TLSPair

    link = TLSPair()
    link.client.do_handshake()
    link.handshake()
    link.pump()
    assert link.client.handshake_complete
    link.client.feed_eof()
    assert link.client.read_plaintext() == b""
    assert link.client.ragged_eof
    assert link.client.ssl_object.getpeercert()
    assert link.client.ssl_object.cipher()


# -- found by Python 3.14's test_asyncio ------------------------------------------------

def _untrusting_client_context():
    return ssl.create_default_context()  # the test CA is not among the system's


def test_failed_tls_handshake_leaves_no_cycle(loop, nogc):
    # test_sslproto test_start_tls_failed_certificate_no_cycles (gh-159049): the
    # verification error's traceback holds start_tls()'s frames; neither they nor the
    # TLS protocol may keep the error or the connection alive afterwards.
    class Quiet(asyncio.Protocol):
        pass

    async def main():
        server = await _tls_server(loop, Quiet)
        refs = []
        try:
            port = server.sockets[0].getsockname()[1]
            tr, proto = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
            refs.append(weakref.ref(tr))
            with pytest.raises(ssl.SSLCertVerificationError):
                await loop.start_tls(tr, proto, _untrusting_client_context(),
                                     server_hostname="localhost")
            del tr
            with pytest.raises(ssl.SSLCertVerificationError):
                await loop.create_connection(asyncio.Protocol, "127.0.0.1", port,
                                             ssl=_untrusting_client_context(),
                                             server_hostname="localhost")
        finally:
            server.close()
            await server.wait_closed()
        return refs

    refs = run(loop, main())
    loop.run_until_complete(asyncio.sleep(0))
    assert [r() for r in refs] == [None]


def test_failed_connect_error_is_referenced_by_its_handler_only(loop, nogc):
    # test_streams test_open_connection_happy_eyeball_refcycles: the frames of the
    # failed wait (the sock_connect future's, Future.result's) hold no reference to
    # the future, which holds the error.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed

    async def main():
        error = None
        try:
            await asyncio.open_connection("127.0.0.1", port)
        except OSError as exc:
            error = exc
        here = sys._getframe()
        # What is left may only be this coroutine (its locals: 3.13+) or its frame.
        return [r for r in gc.get_referrers(error)
                if r is not here and type(r).__name__ != "coroutine"]

    assert run(loop, main()) == []


def test_start_tls_on_server_uses_bytes_already_buffered(loop):
    # test_streams test_start_tls_buffered_data (gh-142352): the ClientHello arrived
    # (and sat in the StreamReader's buffer) before the server called start_tls().
    async def handler(reader, writer):
        await reader._wait_for_data("test")  # the ClientHello is in the buffer now
        await writer.start_tls(server_context())
        line = await reader.readline()
        writer.write(line.upper())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main():
        server = await coroloop.start_server(handler, "127.0.0.1", 0)
        try:
            reader, writer = await coroloop.open_connection(*server.sockets[0].getsockname())
            await writer.start_tls(client_context(), server_hostname="localhost")
            writer.write(b"ping\n")
            line = await reader.readline()
            writer.close()
            await writer.wait_closed()
            return line
        finally:
            server.close()
            await server.wait_closed()

    assert run(loop, main()) == b"PING\n"


def test_plain_function_client_callback_failure_is_reported_and_closes(loop):
    # test_streams test_unhandled_exception_sync_callback (asyncio 3.14): reported as a
    # coroutine callback's failure is, and the client sees the connection close.
    contexts = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))

    def handler(reader, writer):
        raise RuntimeError("handler failed")

    async def main():
        server = await coroloop.start_server(handler, "127.0.0.1", 0)
        try:
            reader, writer = await coroloop.open_connection(*server.sockets[0].getsockname())
            data = await reader.read()
            writer.close()
            await writer.wait_closed()
            return data
        finally:
            server.close()
            await server.wait_closed()

    assert run(loop, main()) == b""
    assert [c["message"] for c in contexts] == ["Unhandled exception in client_connected_cb"]
    assert isinstance(contexts[0]["exception"], RuntimeError)


@pytest.mark.parametrize("make_loop", [
    pytest.param(asyncio.new_event_loop, id="asyncio", marks=pytest.mark.skipif(
        sys.version_info < (3, 12), reason="3.11's wait_closed() returns at once after "
        "close() (gh-79033); coroloop's waits for the connections on every version")),
    pytest.param(coroloop.new_event_loop, id="coroloop")])
def test_serve_forever_cancelled_with_a_hanging_client_as_asyncio(make_loop):
    # test_server test_close_with_hanging_client: 3.14 closes the connections when
    # serve_forever() is cancelled; up to 3.13 it waits for them to end.
    async def main():
        connected = asyncio.Event()

        class Quiet(asyncio.Protocol):
            def connection_made(self, transport):
                connected.set()

        server = await asyncio.get_running_loop().create_server(Quiet, "127.0.0.1", 0)
        serving = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        client = socket.create_connection(server.sockets[0].getsockname())
        try:
            await connected.wait()
            serving.cancel()
            if not coroloop._bridge.SERVE_FOREVER_CANCEL_CLOSES_CLIENTS:
                await asyncio.sleep(0.3)
                assert not serving.done()  # still waiting for the client
                client.close()
            with pytest.raises(asyncio.CancelledError):
                await serving
            await server.wait_closed()
            return server.is_serving()
        finally:
            client.close()

    the_loop = make_loop()
    try:
        assert run(the_loop, main()) is False
    finally:
        the_loop.close()


@pytest.mark.skipif(not coroloop._bridge.TLS_SHUTDOWN_TIMEOUT_COVERS_FLUSH,
                    reason="3.14+: up to 3.13 asyncio waits for the flush for ever")
@pytest.mark.parametrize("close_first", [True, False])
def test_tls_shutdown_timeout_bounds_the_flush_to_a_peer_that_stopped_reading(
        loop, close_first):
    # test_ssl test_shutdown_timeout_after_eof_from_not_reading_peer: the peer sends
    # EOF and never reads what is queued; ssl_shutdown_timeout ends the connection.
    listener = socket.socket()
    filled, done = threading.Event(), threading.Event()

    def peer():
        conn, _ = listener.accept()
        tls = server_context().wrap_socket(conn, server_side=True)
        filled.wait(10)
        tls.shutdown(socket.SHUT_WR)  # EOF, without close_notify; never reads
        done.wait(10)
        tls.close()

    class Writer(asyncio.Protocol):
        paused = False

        def __init__(self):
            self.lost = loop.create_future()

        def pause_writing(self):
            self.paused = True

        def connection_lost(self, exc):
            self.lost.set_result(exc)

    async def main():
        tr, pr = await loop.create_connection(
            Writer, *listener.getsockname(), ssl=client_context(),
            server_hostname="localhost", ssl_shutdown_timeout=0.1)
        try:
            chunk = bytes(1 << 20)
            while not pr.paused:
                tr.write(chunk)
                await asyncio.sleep(0)
            if close_first:
                tr.close()
            filled.set()
            return await pr.lost
        finally:
            filled.set()
            done.set()
            tr.abort()

    with listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        thread = threading.Thread(target=peer)
        thread.start()
        try:
            exc = run(loop, main())
        finally:
            thread.join()
    assert isinstance(exc, TimeoutError)

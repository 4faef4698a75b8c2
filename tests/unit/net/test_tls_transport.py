"""TLSProtocol/TLSTransport over real localhost sockets.

Every test runs on the standard library's loop (plain create_connection/create_server,
with coroloop's TLS layer put on top by hand) and on coroloop's loop: the layer uses
only public transport APIs, so both must behave the same.
"""

from __future__ import annotations

import asyncio
import ssl

import pytest
import coroloop

from coroloop._net import tls_transport
from coroloop._net.tls_transport import TLSProtocol, TLSTransport, check_ssl_arguments

from net_helpers import CA, client_context, server_context




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


class App(asyncio.Protocol):
    """An application protocol that records what happens to it."""

    def __init__(self, loop, *, echo=False, on_made=None):
        self.loop = loop
        self.echo = echo
        self.on_made = on_made
        self.events = []
        self.data = bytearray()
        self.transport = None
        self.made = loop.create_future()
        self.lost = loop.create_future()
        self.got_eof = loop.create_future()

    def connection_made(self, transport):
        self.events.append("made")
        self.transport = transport
        self.made.set_result(transport)
        if self.on_made is not None:
            self.on_made(self, transport)

    def data_received(self, data):
        if not self.events or self.events[-1] != "data":
            self.events.append("data")
        self.data += data
        if self.echo:
            self.transport.write(data)

    def eof_received(self):
        self.events.append("eof")
        self.got_eof.set_result(None)

    def pause_writing(self):
        self.events.append("pause_writing")

    def resume_writing(self):
        self.events.append("resume_writing")

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost.set_result(exc)

    async def wait_for_data(self, n):
        while len(self.data) < n:
            await asyncio.sleep(0.001)


class Servers:
    """TLS servers and clients built from coroloop's layer over plain sockets."""

    def __init__(self, loop):
        self.loop = loop
        self.apps = []
        self.server = None

    async def serve(self, app_factory=None, ctx=None, **kwargs):
        loop = self.loop
        ctx = ctx or server_context()

        def factory():
            app = (app_factory or (lambda: App(loop, echo=True)))()
            self.apps.append(app)
            return TLSProtocol(loop, app, ctx, None, True, **kwargs)

        self.server = await loop.create_server(factory, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def connect(self, port, app=None, ctx=None, server_hostname="localhost", **kw):
        loop = self.loop
        app = app or App(loop)
        waiter = loop.create_future()
        raw, tls = await loop.create_connection(
            lambda: TLSProtocol(loop, app, ctx or client_context(), waiter, False,
                                server_hostname, **kw),
            "127.0.0.1", port)
        try:
            await waiter
        except BaseException:
            raw.close()
            raise
        return tls.app_transport, app

    async def close(self):
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


# -- argument validation ---------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"server_hostname": "x"}, "server_hostname is only meaningful with ssl"),
    ({"ssl_handshake_timeout": 1}, "ssl_handshake_timeout is only meaningful with ssl"),
    ({"ssl_shutdown_timeout": 1}, "ssl_shutdown_timeout is only meaningful with ssl"),
])
def test_ssl_arguments_without_ssl_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_ssl_arguments(None, **kwargs)


@pytest.mark.parametrize("name", ["ssl_handshake_timeout", "ssl_shutdown_timeout"])
@pytest.mark.parametrize("value", [0, -1])
def test_timeouts_must_be_positive(name, value):
    with pytest.raises(ValueError, match=f"{name} should be a positive number, got {value}"):
        check_ssl_arguments(True, **{name: value})
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match=f"{name} should be a positive number"):
            TLSProtocol(loop, App(loop), client_context(), None, False, "localhost",
                        **{name: value})
    finally:
        loop.close()


def test_server_side_needs_a_context():
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="Server side SSL needs a valid SSLContext"):
            TLSProtocol(loop, App(loop), True, None, True)
    finally:
        loop.close()


def test_ssl_true_is_the_default_secure_context():
    ctx = tls_transport.make_client_context(True, False, "example.com")
    assert ctx.verify_mode is ssl.CERT_REQUIRED
    assert ctx.check_hostname
    # The documented opt-out: an empty server_hostname disables hostname matching only.
    ctx = tls_transport.make_client_context(True, False, "")
    assert ctx.verify_mode is ssl.CERT_REQUIRED
    assert not ctx.check_hostname


# -- handshake and data ----------------------------------------------------------------------

def test_handshake_echo_large_data_and_extra_info(run):
    async def main():
        loop = asyncio.get_running_loop()
        servers = Servers(loop)
        port = await servers.serve()
        transport, app = await servers.connect(port)
        assert isinstance(transport, TLSTransport)
        assert app.events == ["made"]
        payload = bytes(range(256)) * 8192  # 2 MiB
        transport.write(payload[:1000])
        transport.writelines([payload[1000:5000], bytearray(payload[5000:])])
        await asyncio.wait_for(app.wait_for_data(len(payload)), 10)
        assert app.data == payload

        ssl_object = transport.get_extra_info("ssl_object")
        assert isinstance(ssl_object, ssl.SSLObject)
        assert transport.get_extra_info("peercert")["subject"][-1] == (("commonName", "localhost"),)
        assert transport.get_extra_info("cipher") == ssl_object.cipher()
        assert transport.get_extra_info("compression") == ssl_object.compression()
        assert isinstance(transport.get_extra_info("sslcontext"), ssl.SSLContext)
        assert transport.get_extra_info("peername") == ("127.0.0.1", port)
        assert transport.get_extra_info("sockname")[0] == "127.0.0.1"
        assert transport.get_extra_info("socket") is not None
        assert transport.get_extra_info("no such thing", 42) == 42
        assert not transport.can_write_eof()
        with pytest.raises(NotImplementedError):
            transport.write_eof()
        with pytest.raises(TypeError, match="expecting a bytes-like instance, got str"):
            transport.write("text")

        transport.close()
        assert transport.is_closing()
        assert await asyncio.wait_for(app.lost, 10) is None
        await servers.close()
        assert servers.apps[0].events == ["made", "data", "eof", "lost"]

    run(main)


def test_buffered_application_protocol(run):
    class Buffered(asyncio.BufferedProtocol):
        def __init__(self, loop):
            self.buf = bytearray(100)  # smaller than a record: filled in pieces
            self.data = bytearray()
            self.lost = loop.create_future()

        def connection_made(self, transport):
            self.transport = transport

        def get_buffer(self, sizehint):
            return self.buf

        def buffer_updated(self, nbytes):
            self.data += self.buf[:nbytes]

        def connection_lost(self, exc):
            self.lost.set_result(exc)

    async def main():
        loop = asyncio.get_running_loop()
        servers = Servers(loop)
        port = await servers.serve()
        app = Buffered(loop)
        transport, _ = await servers.connect(port, app=app)
        transport.write(b"z" * 50_000)
        while len(app.data) < 50_000:
            await asyncio.sleep(0.001)
        assert app.data == b"z" * 50_000
        transport.close()
        assert await asyncio.wait_for(app.lost, 10) is None
        await servers.close()

    run(main)


def test_client_certificates_mutual_tls(run):
    async def main():
        loop = asyncio.get_running_loop()
        sctx = server_context()
        sctx.verify_mode = ssl.CERT_REQUIRED
        sctx.load_verify_locations(CA)
        cctx = client_context()
        from net_helpers import CLIENT_CERT, CLIENT_KEY
        cctx.load_cert_chain(CLIENT_CERT, CLIENT_KEY)
        servers = Servers(loop)
        port = await servers.serve(ctx=sctx)
        transport, app = await servers.connect(port, ctx=cctx)
        transport.write(b"ping")
        await asyncio.wait_for(app.wait_for_data(4), 10)
        server_transport = servers.apps[0].transport
        subject = dict(x[0] for x in server_transport.get_extra_info("peercert")["subject"])
        assert subject["commonName"] == "coroloop test client"
        transport.close()
        await asyncio.wait_for(app.lost, 10)
        await servers.close()

    run(main)


@pytest.mark.parametrize("case", ["unknown CA", "wrong hostname"])
def test_verification_failure_raises_from_the_waiter(run, case):
    async def main():
        loop = asyncio.get_running_loop()
        servers = Servers(loop)
        port = await servers.serve(app_factory=lambda: App(loop))
        if case == "unknown CA":
            ctx, hostname = ssl.create_default_context(), "localhost"
        else:
            ctx, hostname = client_context(), "example.com"
        app = App(loop)
        with pytest.raises(ssl.SSLCertVerificationError) as info:
            await servers.connect(port, app=app, ctx=ctx, server_hostname=hostname)
        reason = info.value.verify_message
        if case == "unknown CA":
            assert "unable to get local issuer certificate" in reason
        else:
            assert "Hostname mismatch" in reason or "hostname" in reason.lower()
        # Neither application protocol ever saw a connection.
        assert app.events == []
        for _ in range(20):
            await asyncio.sleep(0.005)
        assert all(a.events == [] for a in servers.apps)
        await servers.close()

    run(main)


def test_create_connection_with_ssl_on_coroloop_loop(loop_factory):
    """loop.create_connection(ssl=...) goes through this layer on coroloop's loop."""
    if loop_factory is asyncio.new_event_loop:
        pytest.skip("the stdlib loop uses its own SSL transport")

    async def main():
        loop = asyncio.get_running_loop()
        servers = Servers(loop)
        port = await servers.serve()
        with pytest.raises(ssl.SSLCertVerificationError):
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", port,
                                         ssl=client_context(), server_hostname="example.com")
        app = App(loop)
        transport, _ = await loop.create_connection(
            lambda: app, "127.0.0.1", port, ssl=client_context(), server_hostname="localhost")
        assert transport.get_extra_info("ssl_object") is not None
        transport.write(b"abc")
        await asyncio.wait_for(app.wait_for_data(3), 10)
        transport.close()
        await asyncio.wait_for(app.lost, 10)
        await servers.close()

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())


# -- interoperability with the standard library's TLS ----------------------------------------

def test_interop_with_stdlib_ssl_both_directions():
    async def main():
        loop = asyncio.get_running_loop()
        # Standard library client, coroloop server.
        servers = Servers(loop)
        port = await servers.serve()
        app = App(loop)
        transport, _ = await loop.create_connection(
            lambda: app, "127.0.0.1", port, ssl=client_context(), server_hostname="localhost")
        transport.write(b"hello stdlib")
        await asyncio.wait_for(app.wait_for_data(12), 10)
        assert app.data == b"hello stdlib"
        transport.close()
        await asyncio.wait_for(app.lost, 10)
        await servers.close()
        # coroloop client, standard library server.
        server = await loop.create_server(lambda: App(loop, echo=True), "127.0.0.1", 0,
                                          ssl=server_context())
        port = server.sockets[0].getsockname()[1]
        transport, app = await Servers(loop).connect(port)
        transport.write(b"hello coroloop")
        await asyncio.wait_for(app.wait_for_data(14), 10)
        assert app.data == b"hello coroloop"
        transport.close()
        assert await asyncio.wait_for(app.lost, 10) is None
        server.close()
        await server.wait_closed()

    asyncio.run(main())


# -- closing ---------------------------------------------------------------------------------

def test_server_close_sends_close_notify(run):
    async def main():
        loop = asyncio.get_running_loop()
        servers = Servers(loop)
        port = await servers.serve(app_factory=lambda: App(
            loop, on_made=lambda app, t: (t.write(b"bye"), t.close())))
        transport, app = await servers.connect(port)
        assert await asyncio.wait_for(app.lost, 10) is None
        # The data, then the peer's close_notify as an EOF, then the end.
        assert app.events == ["made", "data", "eof", "lost"]
        assert app.data == b"bye"
        assert transport.is_closing()
        transport.write(b"dropped")  # after the end: silently ignored, like asyncio
        server_app = servers.apps[0]
        assert await asyncio.wait_for(server_app.lost, 10) is None
        await servers.close()

    run(main)


def test_ragged_eof_is_an_eof(run):
    async def main():
        loop = asyncio.get_running_loop()
        servers = Servers(loop)
        # The server drops TCP without a close_notify once the handshake is done.
        port = await servers.serve(app_factory=lambda: App(
            loop, on_made=lambda app, t: loop.call_soon(t.abort)))
        transport, app = await servers.connect(port)
        assert await asyncio.wait_for(app.lost, 10) is None
        assert app.events == ["made", "eof", "lost"]
        await servers.close()

    run(main)


def test_shutdown_timeout_aborts(run):
    async def main():
        loop = asyncio.get_running_loop()
        servers = Servers(loop)
        # A server that stops reading: our close_notify is never answered.
        port = await servers.serve(app_factory=lambda: App(
            loop, on_made=lambda app, t: t.pause_reading()))
        transport, app = await servers.connect(port, ssl_shutdown_timeout=0.05)
        transport.close()
        exc = await asyncio.wait_for(app.lost, 10)
        assert isinstance(exc, TimeoutError)
        assert str(exc) == "SSL shutdown timed out"
        servers.apps[0].transport.abort()
        await asyncio.wait_for(servers.apps[0].lost, 10)
        await servers.close()

    run(main)


def test_abort_skips_close_notify(run):
    async def main():
        loop = asyncio.get_running_loop()
        servers = Servers(loop)
        port = await servers.serve()
        transport, app = await servers.connect(port)
        transport.abort()
        assert transport.is_closing()
        assert await asyncio.wait_for(app.lost, 10) is None
        # The server saw the TCP connection end without close_notify: an EOF, or a
        # reset if the kernel had unread bytes (TLS 1.3 session tickets) at close.
        server_app = servers.apps[0]
        exc = await asyncio.wait_for(server_app.lost, 10)
        assert exc is None or isinstance(exc, ConnectionResetError)
        await servers.close()

    run(main)


# -- handshake timeout -----------------------------------------------------------------------

def test_handshake_timeout_with_a_silent_peer(run):
    async def main():
        loop = asyncio.get_running_loop()
        silent = []
        server = await loop.create_server(
            lambda: silent.append(None) or asyncio.Protocol(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        app = App(loop)
        with pytest.raises(ConnectionAbortedError) as info:
            await Servers(loop).connect(port, app=app, ssl_handshake_timeout=0.05)
        assert str(info.value) == (
            "SSL handshake is taking longer than 0.05 seconds: aborting the connection")
        assert app.events == []
        assert silent  # the TCP connection was made; only TLS stalled
        server.close()
        await server.wait_closed()

    run(main)


def test_server_side_handshake_failure_never_connects_the_app(run):
    async def main():
        loop = asyncio.get_running_loop()
        servers = Servers(loop)
        port = await servers.serve(app_factory=lambda: App(loop))
        # A plain-text client: the server's handshake fails on garbage.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.0\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 10) is not None  # closed by server
        writer.close()
        await writer.wait_closed()
        assert servers.apps[0].events == []
        await servers.close()

    run(main)


# -- flow control ----------------------------------------------------------------------------

def test_write_backpressure_and_pause_reading(run):
    async def main():
        loop = asyncio.get_running_loop()
        servers = Servers(loop)
        port = await servers.serve(app_factory=lambda: App(
            loop, on_made=lambda app, t: t.pause_reading()))
        transport, app = await servers.connect(port)
        transport.set_write_buffer_limits(high=64 * 1024)
        assert transport.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        chunk = b"x" * 65536
        sent = 0
        while "pause_writing" not in app.events and sent < 64 * 2**20:
            transport.write(chunk)
            sent += len(chunk)
            await asyncio.sleep(0)
        assert "pause_writing" in app.events
        assert transport.get_write_buffer_size() > 64 * 1024
        server_app = servers.apps[0]
        assert not server_app.transport.is_reading()
        await asyncio.sleep(0.01)
        assert len(server_app.data) < sent  # paused: not everything was delivered
        server_app.transport.resume_reading()
        await asyncio.wait_for(server_app.wait_for_data(sent), 20)
        assert server_app.data == b"x" * sent
        for _ in range(100):
            if "resume_writing" in app.events:
                break
            await asyncio.sleep(0.001)
        assert app.events[-2:] == ["pause_writing", "resume_writing"]
        transport.close()
        await asyncio.wait_for(app.lost, 10)
        await servers.close()

    run(main)


def test_a_failing_pause_writing_is_reported_not_raised(run):
    # The flow-control policy every transport shares (_net/flowcontrol.py): any
    # exception from the app's pause_writing(), even one that is not an Exception,
    # goes to the exception handler, and the connection goes on.
    class Refuses(App):
        def pause_writing(self):
            super().pause_writing()
            raise asyncio.CancelledError("the app refuses to pause")

    async def main():
        loop = asyncio.get_running_loop()
        reported = []
        loop.set_exception_handler(lambda _loop, context: reported.append(context))
        servers = Servers(loop)
        port = await servers.serve(app_factory=lambda: App(
            loop, on_made=lambda app, t: t.pause_reading()))
        transport, app = await servers.connect(port, app=Refuses(loop))
        transport.set_write_buffer_limits(high=16 * 1024)
        chunk = b"x" * 65536
        for _ in range(1000):
            if "pause_writing" in app.events:
                break
            transport.write(chunk)
            await asyncio.sleep(0)
        assert [c["message"] for c in reported] == ["protocol.pause_writing() failed"]
        assert isinstance(reported[0]["exception"], asyncio.CancelledError)
        assert reported[0]["protocol"] is app and reported[0]["transport"] is transport
        assert not transport.is_closing()
        transport.abort()
        servers.apps[0].transport.abort()  # it paused reading: it would not notice
        await asyncio.wait_for(app.lost, 10)
        await asyncio.wait_for(servers.apps[0].lost, 10)
        await servers.close()

    run(main)


# -- start_tls -------------------------------------------------------------------------------

def test_start_tls_upgrades_a_plain_connection(run):
    async def main():
        loop = asyncio.get_running_loop()
        server_done = loop.create_future()

        class PlainServer(asyncio.Protocol):
            def connection_made(self, transport):
                self.transport = transport

            def data_received(self, data):
                assert data == b"STARTTLS\n"
                self.transport.write(b"OK\n")
                loop.create_task(self.upgrade())

            async def upgrade(self):
                app = App(loop)
                tls = await tls_transport.start_tls(
                    loop, self.transport, app, server_context(), server_side=True)
                # No connection_made for the upgraded protocol: it already had one.
                assert "made" not in app.events
                tls.write(b"welcome")
                server_done.set_result(app)

        server = await loop.create_server(PlainServer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        app = App(loop)
        plain, _ = await loop.create_connection(lambda: app, "127.0.0.1", port)
        plain.write(b"STARTTLS\n")
        await asyncio.wait_for(app.wait_for_data(3), 10)
        assert app.data == b"OK\n"
        tls = await tls_transport.start_tls(loop, plain, app, client_context(),
                                            server_hostname="localhost")
        assert isinstance(tls, TLSTransport)
        assert tls.get_protocol() is app
        assert tls.get_extra_info("peercert") is not None
        app.data.clear()
        tls.write(b"secret")
        await asyncio.wait_for(app.wait_for_data(7), 10)
        assert app.data == b"welcome"
        assert app.events == ["made", "data"]  # connection_made only once
        server_app = await server_done
        await asyncio.wait_for(server_app.wait_for_data(6), 10)
        assert server_app.data == b"secret"
        tls.close()
        assert await asyncio.wait_for(app.lost, 10) is None
        assert await asyncio.wait_for(server_app.lost, 10) is None
        server.close()
        await server.wait_closed()

    run(main)


def test_start_tls_argument_checks(run):
    async def main():
        loop = asyncio.get_running_loop()

        class NotTLSCompatible:
            pass

        with pytest.raises(TypeError, match="sslcontext is expected to be an instance"):
            await tls_transport.start_tls(loop, NotTLSCompatible(), App(loop), True)
        with pytest.raises(TypeError, match="is not supported by start_tls()"):
            await tls_transport.start_tls(loop, NotTLSCompatible(), App(loop),
                                          client_context())

    run(main)


def test_start_tls_handshake_failure_closes_the_connection(run):
    async def main():
        loop = asyncio.get_running_loop()
        servers = Servers(loop)
        port = await servers.serve(app_factory=lambda: App(loop))

        # Connect in plain text to the TLS server, then upgrade with a bad hostname.
        app = App(loop)
        plain, _ = await loop.create_connection(lambda: app, "127.0.0.1", port)
        with pytest.raises(ssl.SSLCertVerificationError):
            await tls_transport.start_tls(loop, plain, app, client_context(),
                                          server_hostname="example.com")
        # The app protocol was connected (to the plain transport): it hears the end.
        exc = await asyncio.wait_for(app.lost, 10)
        assert isinstance(exc, ssl.SSLCertVerificationError)
        await servers.close()

    run(main)


def test_loop_start_tls_delegates_on_coroloop(loop_factory):
    if loop_factory is asyncio.new_event_loop:
        pytest.skip("the stdlib loop has its own start_tls")

    async def main():
        loop = asyncio.get_running_loop()
        servers = Servers(loop)
        port = await servers.serve()
        app = App(loop)
        plain, _ = await loop.create_connection(lambda: app, "127.0.0.1", port)
        tls = await loop.start_tls(plain, app, client_context(), server_hostname="localhost")
        assert isinstance(tls, TLSTransport)
        tls.close()
        await asyncio.wait_for(app.lost, 10)
        await servers.close()

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())


def test_repr_names_the_state():
    loop = asyncio.new_event_loop()
    try:
        proto = TLSProtocol(loop, App(loop), client_context(), None, False, "localhost")
        assert repr(proto) == "<TLSProtocol client NEW engine=UNWRAPPED>"
        transport = proto.app_transport
        transport.close()  # before the connection exists: nothing to do but mark it
        assert transport.is_closing()
        assert "closing" in repr(transport)
    finally:
        loop.close()


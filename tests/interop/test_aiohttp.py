"""aiohttp, client and server, unmodified, on coroloop's loop.

The server is an ``aiohttp.web`` application served with AppRunner/TCPSite on the same
loop as the client; every exchange goes through real sockets on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import pathlib

import pytest

aiohttp = pytest.importorskip("aiohttp")
from aiohttp import web  # noqa: E402

from interop_helpers import raw_http_request, split_http_response  # noqa: E402

CHUNK = b"0123456789abcdef" * 4096          # 64 KiB
BIG_CHUNKS = 64                              # 4 MiB in all
BIG_SHA256 = hashlib.sha256(CHUNK * BIG_CHUNKS).hexdigest()
SLOW_CANCELLED = web.AppKey("slow_cancelled", asyncio.Event)
FILE_PATH = web.AppKey("file_path", pathlib.Path)


# --- the application ------------------------------------------------------------------------
async def hello(request: web.Request) -> web.Response:
    return web.Response(text=f"hello {request.query.get('name', 'world')}",
                        headers={"X-Loop": type(asyncio.get_running_loop()).__name__})


async def echo_json(request: web.Request) -> web.Response:
    data = await request.json()
    return web.json_response({"received": data, "sum": sum(data["numbers"])})


async def big_download(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.content_length = len(CHUNK) * BIG_CHUNKS
    await response.prepare(request)
    for _ in range(BIG_CHUNKS):
        await response.write(CHUNK)
    await response.write_eof()
    return response


async def hash_upload(request: web.Request) -> web.Response:
    digest = hashlib.sha256()
    size = 0
    async for piece in request.content.iter_chunked(32768):
        digest.update(piece)
        size += len(piece)
    return web.json_response({"size": size, "sha256": digest.hexdigest()})


async def slow(request: web.Request) -> web.Response:
    try:
        await asyncio.sleep(float(request.query.get("delay", "5")))
    except asyncio.CancelledError:
        # handler_cancellation=True: aiohttp cancels the handler when the peer goes away.
        request.app[SLOW_CANCELLED].set()
        raise
    return web.Response(text="late")


async def ws_echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            if msg.data == "bye":
                await ws.close(code=4000, message=b"server says bye")
                break
            await ws.send_str(msg.data.upper())
        elif msg.type == aiohttp.WSMsgType.BINARY:
            await ws.send_bytes(msg.data[::-1])
    return ws


async def truncated(request: web.Request) -> web.StreamResponse:
    """Promise 1 MiB, send 64 KiB, then drop the connection."""
    response = web.StreamResponse()
    response.content_length = 1024 * 1024
    await response.prepare(request)
    await response.write(CHUNK)
    request.transport.abort()
    return response


async def file_download(request: web.Request) -> web.FileResponse:
    # FileResponse sends with loop.sendfile() when the transport supports it.
    return web.FileResponse(request.app[FILE_PATH])


def make_app(file_path=None) -> web.Application:
    app = web.Application()
    if file_path is not None:
        app[FILE_PATH] = file_path
    app[SLOW_CANCELLED] = asyncio.Event()
    app.add_routes([
        web.get("/hello", hello),
        web.post("/json", echo_json),
        web.get("/big", big_download),
        web.post("/upload", hash_upload),
        web.get("/slow", slow),
        web.get("/ws", ws_echo),
        web.get("/file", file_download),
        web.get("/truncated", truncated),
    ])
    return app


@contextlib.asynccontextmanager
async def serve(app: web.Application, *, ssl_context=None):
    """Serve *app* on 127.0.0.1, port 0; yield the base URL."""
    runner = web.AppRunner(app, shutdown_timeout=1.0, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    host, port = runner.addresses[0][:2]
    assert host == "127.0.0.1" and port != 0
    scheme = "https" if ssl_context else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


# --- tests ----------------------------------------------------------------------------------
def test_get_text_headers_and_404(run):
    async def main():
        async with serve(make_app()) as base, aiohttp.ClientSession() as session:
            async with session.get(f"{base}/hello", params={"name": "coroloop"}) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/plain")
                loop_name = resp.headers["X-Loop"]
                assert await resp.text() == "hello coroloop"
            async with session.get(f"{base}/nowhere") as resp:
                assert resp.status == 404
                await resp.read()
            return loop_name

    loop_name = run(main)
    expected = "_UnixSelectorEventLoop" if run.mode == "asyncio" else "EventLoop"
    assert loop_name == expected


def test_post_json_round_trip(run):
    async def main():
        async with serve(make_app()) as base, aiohttp.ClientSession() as session:
            payload = {"numbers": list(range(100)), "name": "ünïcode ✓"}
            async with session.post(f"{base}/json", json=payload) as resp:
                assert resp.status == 200
                assert resp.content_type == "application/json"
                body = await resp.json()
        assert body == {"received": payload, "sum": 4950}

    run(main)


def test_streamed_download_large_body(run):
    async def main():
        async with serve(make_app()) as base, aiohttp.ClientSession() as session:
            async with session.get(f"{base}/big") as resp:
                assert resp.status == 200
                assert resp.content_length == len(CHUNK) * BIG_CHUNKS
                digest = hashlib.sha256()
                size = pieces = 0
                async for piece in resp.content.iter_chunked(10_000):
                    digest.update(piece)
                    size += len(piece)
                    pieces += 1
        assert size == len(CHUNK) * BIG_CHUNKS
        assert digest.hexdigest() == BIG_SHA256
        assert pieces > 1

    run(main)


def test_streamed_upload_large_body(run):
    async def body():
        for _ in range(BIG_CHUNKS):
            yield CHUNK
            await asyncio.sleep(0)

    async def main():
        async with serve(make_app()) as base, aiohttp.ClientSession() as session:
            async with session.post(f"{base}/upload", data=body()) as resp:
                assert resp.status == 200
                return await resp.json()

    assert run(main) == {"size": len(CHUNK) * BIG_CHUNKS, "sha256": BIG_SHA256}


def test_many_concurrent_requests_on_one_session(run):
    async def main():
        connector = aiohttp.TCPConnector(limit=10)
        async with serve(make_app()) as base, \
                aiohttp.ClientSession(connector=connector) as session:
            async def one(i):
                async with session.get(f"{base}/hello", params={"name": str(i)}) as resp:
                    return resp.status, await resp.text()

            results = await asyncio.gather(*(one(i) for i in range(100)))
        assert results == [(200, f"hello {i}") for i in range(100)]

    run(main)


def test_client_timeout_cancels_server_handler_then_server_still_serves(run):
    async def main():
        app = make_app()
        async with serve(app) as base, aiohttp.ClientSession() as session:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(asyncio.TimeoutError):
                async with session.get(f"{base}/slow", params={"delay": "5"},
                                       timeout=aiohttp.ClientTimeout(total=0.2)):
                    pass
            assert loop.time() - started < 2
            # The client closed the connection; the server noticed and cancelled the handler.
            await asyncio.wait_for(app[SLOW_CANCELLED].wait(), 5)
            async with session.get(f"{base}/slow", params={"delay": "0.01"}) as resp:
                assert resp.status == 200
                assert await resp.text() == "late"

    run(main)


def test_websocket_echo(run):
    async def main():
        async with serve(make_app()) as base, aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{base}/ws") as ws:
                await ws.send_str("hello")
                assert await ws.receive_str(timeout=5) == "HELLO"
                await ws.send_bytes(b"\x00\x01\x02" * 50_000)
                assert await ws.receive_bytes(timeout=5) == b"\x02\x01\x00" * 50_000
                await ws.send_str("bye")
                msg = await ws.receive(timeout=5)
                assert msg.type == aiohttp.WSMsgType.CLOSE
                assert msg.data == 4000
                assert msg.extra == "server says bye"
            assert ws.closed
            assert ws.close_code == 4000

    run(main)


def test_raw_stream_client_against_aiohttp_server(run):
    async def main():
        async with serve(make_app()) as base:
            port = int(base.rsplit(":", 1)[1])
            response = await raw_http_request(
                "127.0.0.1", port,
                b"GET /hello?name=raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status, headers, body = split_http_response(response)
        assert status == 200
        assert body == b"hello raw"
        assert headers["content-length"] == "9"

    run(main)


def test_tls_client_and_server(run, server_ssl_context, client_ssl_context):
    async def main():
        async with serve(make_app(), ssl_context=server_ssl_context) as base, \
                aiohttp.ClientSession() as session:
            assert base.startswith("https://")
            async with session.get(f"{base}/hello", ssl=client_ssl_context) as resp:
                assert resp.status == 200
                assert await resp.text() == "hello world"
            async with session.get(f"{base}/big", ssl=client_ssl_context) as resp:
                # 4 MiB: the connection is still held while the body streams in.
                peercert = resp.connection.transport.get_extra_info("peercert")
                assert ("DNS", "localhost") in peercert["subjectAltName"]
                data = await resp.read()
            assert hashlib.sha256(data).hexdigest() == BIG_SHA256
            # Without the test CA the certificate is rejected.
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                async with session.get(f"{base}/hello"):
                    pass

    run(main)


def test_tls_websocket(run, server_ssl_context, client_ssl_context):
    async def main():
        async with serve(make_app(), ssl_context=server_ssl_context) as base, \
                aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{base}/ws", ssl=client_ssl_context) as ws:
                for i in range(20):
                    await ws.send_str(f"msg {i}")
                    assert await ws.receive_str(timeout=5) == f"MSG {i}"

    run(main)


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_file_response_sendfile_and_range(run, tmp_path, tls, request):
    """Plain: os.sendfile through loop.sendfile; TLS: loop.sendfile's write fallback."""
    path = tmp_path / "payload.bin"
    data = bytes(range(256)) * 20_000            # ~5 MiB
    path.write_bytes(data)
    server_ctx = request.getfixturevalue("server_ssl_context") if tls else None
    client_ctx = request.getfixturevalue("client_ssl_context") if tls else None

    async def main():
        async with serve(make_app(path), ssl_context=server_ctx) as base, \
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ctx or True)) as session:
            async with session.get(f"{base}/file") as resp:
                assert resp.status == 200
                assert resp.content_length == len(data)
                body = await resp.read()
            assert body == data
            async with session.get(f"{base}/file",
                                   headers={"Range": "bytes=1000-1999"}) as resp:
                assert resp.status == 206
                assert resp.headers["Content-Range"] == f"bytes 1000-1999/{len(data)}"
                assert await resp.read() == data[1000:2000]

    run(main)


def test_client_resolves_localhost(run):
    """'localhost' goes through loop.getaddrinfo and happy eyeballs (::1 may be refused:
    the server listens on 127.0.0.1 only)."""
    async def main():
        async with serve(make_app()) as base, aiohttp.ClientSession() as session:
            url = base.replace("127.0.0.1", "localhost")
            async with session.get(f"{url}/hello") as resp:
                assert resp.status == 200
                assert await resp.text() == "hello world"

    run(main)


def test_unix_socket_site_and_connector(run, tmp_path):
    path = str(tmp_path / "aiohttp.sock")

    async def main():
        runner = web.AppRunner(make_app(), shutdown_timeout=1.0)
        await runner.setup()
        await web.UnixSite(runner, path).start()
        try:
            connector = aiohttp.UnixConnector(path=path)
            async with aiohttp.ClientSession(connector=connector) as session:
                async with session.post("http://unix/json", json={"numbers": [1, 2]}) as resp:
                    assert resp.status == 200
                    assert (await resp.json())["sum"] == 3
        finally:
            await runner.cleanup()

    run(main)


def test_server_drops_connection_mid_body(run):
    async def main():
        async with serve(make_app()) as base, aiohttp.ClientSession() as session:
            async with session.get(f"{base}/truncated") as resp:
                assert resp.status == 200
                with pytest.raises(aiohttp.ClientPayloadError):
                    await resp.read()
            async with session.get(f"{base}/hello") as resp:     # a new connection works
                assert await resp.text() == "hello world"

    run(main)

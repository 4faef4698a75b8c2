"""httpx.AsyncClient (httpcore over anyio's asyncio backend), unmodified, on coroloop's loop,
against a real aiohttp.web server on 127.0.0.1 in the same loop.

(test_uvicorn_starlette.py also drives uvicorn with httpx.)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib

import pytest

httpx = pytest.importorskip("httpx")
aiohttp = pytest.importorskip("aiohttp")
from aiohttp import web  # noqa: E402

BLOCK = bytes(range(256)) * 256          # 64 KiB
BLOCKS = 48                              # 3 MiB
BLOCKS_SHA256 = hashlib.sha256(BLOCK * BLOCKS).hexdigest()


async def index(request: web.Request) -> web.Response:
    return web.json_response({"method": request.method, "path": request.path,
                              "query": dict(request.query),
                              "ua": request.headers.get("User-Agent", "")})


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.Response(body=body[::-1], content_type="application/octet-stream",
                        headers={"X-Length": str(len(body))})


async def stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()          # no length: chunked transfer encoding
    await response.prepare(request)
    for _ in range(BLOCKS):
        await response.write(BLOCK)
    await response.write_eof()
    return response


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(5)
    return web.Response(text="late")


async def redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/?redirected=1")


def make_app() -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.add_routes([web.get("/", index), web.post("/echo", echo), web.get("/stream", stream),
                    web.get("/slow", slow), web.get("/redirect", redirect)])
    return app


@contextlib.asynccontextmanager
async def serve(*, ssl_context=None):
    runner = web.AppRunner(make_app(), shutdown_timeout=1.0, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def client(**kwargs) -> "httpx.AsyncClient":
    # trust_env=False: no proxy from the environment between us and 127.0.0.1.
    return httpx.AsyncClient(trust_env=False, **kwargs)


def test_get_post_redirect(run):
    async def main():
        async with serve() as base, client(base_url=base) as http:
            resp = await http.get("/", params={"a": "1"}, headers={"User-Agent": "interop"})
            assert resp.status_code == 200
            assert resp.json() == {"method": "GET", "path": "/", "query": {"a": "1"},
                                   "ua": "interop"}
            resp = await http.post("/echo", content=b"coroloop")
            assert resp.status_code == 200
            assert resp.content == b"coroloop"[::-1]
            assert resp.headers["x-length"] == "8"
            resp = await http.get("/redirect", follow_redirects=True)
            assert resp.status_code == 200
            assert resp.json()["query"] == {"redirected": "1"}
            assert [r.status_code for r in resp.history] == [302]
            resp = await http.get("/missing")
            assert resp.status_code == 404

    run(main)


def test_streaming_download_and_upload(run):
    async def upload():
        for _ in range(BLOCKS):
            yield BLOCK

    async def main():
        async with serve() as base, client(base_url=base) as http:
            digest, size = hashlib.sha256(), 0
            async with http.stream("GET", "/stream") as resp:
                assert resp.status_code == 200
                assert resp.headers["transfer-encoding"] == "chunked"
                async for piece in resp.aiter_bytes():
                    digest.update(piece)
                    size += len(piece)
            assert size == len(BLOCK) * BLOCKS
            assert digest.hexdigest() == BLOCKS_SHA256

            resp = await http.post("/echo", content=upload())
            assert resp.status_code == 200
            assert resp.headers["x-length"] == str(len(BLOCK) * BLOCKS)
            assert resp.content == (BLOCK * BLOCKS)[::-1]

    run(main)


def test_concurrent_requests(run):
    async def main():
        limits = httpx.Limits(max_connections=8)
        async with serve() as base, client(base_url=base, limits=limits) as http:
            responses = await asyncio.gather(
                *(http.get("/", params={"i": str(i)}) for i in range(60)))
        assert [r.json()["query"]["i"] for r in responses] == [str(i) for i in range(60)]

    run(main)


def test_read_timeout(run):
    async def main():
        async with serve() as base, client(base_url=base) as http:
            loop = asyncio.get_running_loop()
            started = loop.time()
            with pytest.raises(httpx.ReadTimeout):
                await http.get("/slow", timeout=httpx.Timeout(5, read=0.2))
            assert loop.time() - started < 2
            # The pool recovers: the next request works.
            assert (await http.get("/")).status_code == 200

    run(main)


def test_cancel_request_with_wait_for_then_reuse_client(run):
    async def main():
        async with serve() as base, client(base_url=base) as http:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(http.get("/slow"), 0.2)
            assert (await http.get("/")).status_code == 200

    run(main)


def test_connect_error_on_closed_port(run):
    async def main():
        # Bind a port, then close it, so nothing listens there.
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        async with client() as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(f"http://127.0.0.1:{port}/")

    run(main)


def test_tls(run, server_ssl_context, client_ssl_context):
    async def main():
        async with serve(ssl_context=server_ssl_context) as base:
            async with client(base_url=base, verify=client_ssl_context) as http:
                resp = await http.get("/")
                assert resp.status_code == 200
                assert resp.json()["path"] == "/"
                async with http.stream("GET", "/stream") as resp:
                    data = await resp.aread()
                assert hashlib.sha256(data).hexdigest() == BLOCKS_SHA256
            async with client(base_url=base) as http:   # system CAs only: rejected
                with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    await http.get("/")

    run(main)

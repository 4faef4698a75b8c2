"""uvicorn serving a Starlette app, unmodified, inside coroloop's loop.

``uvicorn.Server(config).serve()`` runs as a task on the test's loop; the test waits for
``server.started``, reads the bound port back, talks to it (raw asyncio streams, httpx,
websockets), then sets ``server.should_exit`` and awaits the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import pathlib
import threading

import pytest

uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")
pytest.importorskip("starlette")
from starlette.applications import Starlette  # noqa: E402
from starlette.background import BackgroundTask  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import (FileResponse, JSONResponse, PlainTextResponse,  # noqa: E402
                                 StreamingResponse)
from starlette.routing import Route, WebSocketRoute  # noqa: E402
from starlette.websockets import WebSocket  # noqa: E402

from interop_helpers import raw_http_request, split_http_response  # noqa: E402

LINES = 2000
CERTS = pathlib.Path(__file__).parent.parent / "unit" / "net" / "certs"


def make_app(events: list[str]) -> Starlette:
    """A Starlette app; *events* records lifespan and background-task events."""

    @contextlib.asynccontextmanager
    async def lifespan(app):
        events.append("startup")
        app.state.loop_type = type(asyncio.get_running_loop()).__name__
        yield
        events.append("shutdown")

    async def index(request: Request):
        return PlainTextResponse(f"hello from {request.app.state.loop_type}")

    async def echo_json(request: Request):
        data = await request.json()
        return JSONResponse({"got": data, "len": len(data["items"])},
                            background=BackgroundTask(_record, events, "background ran"))

    async def lines(request: Request):
        async def generate():
            for i in range(LINES):
                yield f"line {i}\n".encode()
                if i % 100 == 0:
                    await asyncio.sleep(0)
        return StreamingResponse(generate(), media_type="text/plain")

    async def forever(request: Request):
        async def generate():
            while True:
                yield b"tick\n"
                await asyncio.sleep(0.005)
        return StreamingResponse(generate(), media_type="text/plain")

    def sync_endpoint(request: Request):
        # Starlette runs plain functions in anyio's worker threads.
        return JSONResponse({"main_thread": threading.current_thread() is threading.main_thread()})

    async def ws_echo(websocket: WebSocket):
        await websocket.accept()
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("text") is not None:
                if message["text"] == "close":
                    await websocket.close(code=4001)
                    return
                await websocket.send_text(message["text"][::-1])
            else:
                await websocket.send_bytes(message["bytes"] * 2)

    return Starlette(routes=[Route("/", index), Route("/json", echo_json, methods=["POST"]),
                             Route("/lines", lines), Route("/forever", forever), Route("/sync", sync_endpoint),
                             WebSocketRoute("/ws", ws_echo)],
                     lifespan=lifespan)


async def _record(events, what):
    events.append(what)


@contextlib.asynccontextmanager
async def serve(app, **options):
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, log_level="warning",
                            lifespan="on", http="h11", ws="websockets-sansio", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            pytest.fail("uvicorn stopped before it started")
        await asyncio.sleep(0.01)
    (sock,) = server.servers[0].sockets
    host, port = sock.getsockname()[:2]
    assert host == "127.0.0.1" and port != 0
    try:
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def test_raw_stream_requests(run):
    events = []

    async def main():
        async with serve(make_app(events)) as port:
            response = await raw_http_request(
                "127.0.0.1", port, b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            status, headers, body = split_http_response(response)
            assert status == 200
            assert headers["server"] == "uvicorn"
            payload = json.dumps({"items": [1, 2, 3]}).encode()
            response = await raw_http_request(
                "127.0.0.1", port,
                b"POST /json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                b"Content-Type: application/json\r\n"
                b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)
            status2, _, body2 = split_http_response(response)
            assert status2 == 200
            assert json.loads(body2) == {"got": {"items": [1, 2, 3]}, "len": 3}
            assert "background ran" in events
            return body

    body = run(main)
    expected = "_UnixSelectorEventLoop" if run.mode == "asyncio" else "EventLoop"
    assert body == f"hello from {expected}".encode()
    assert events == ["startup", "background ran", "shutdown"]


def test_httpx_client(run):
    events = []

    async def main():
        async with serve(make_app(events)) as port, \
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as http:
            resp = await http.get("/")
            assert resp.status_code == 200
            assert resp.text.startswith("hello from ")

            resp = await http.post("/json", json={"items": list(range(1000))})
            assert resp.status_code == 200
            assert resp.json()["len"] == 1000

            received = []
            async with http.stream("GET", "/lines") as resp:
                assert resp.headers["transfer-encoding"] == "chunked"
                async for line in resp.aiter_lines():
                    received.append(line)
            assert received == [f"line {i}" for i in range(LINES)]


            # Keep-alive: several requests, then shut down with the connection still open.
            responses = await asyncio.gather(*(http.get("/") for _ in range(20)))
            assert {r.status_code for r in responses} == {200}
            assert (await http.get("/nowhere")).status_code == 404

    run(main)
    assert events[0] == "startup" and events[-1] == "shutdown"


def test_sync_endpoint_runs_in_anyio_worker_thread(run):
    """Starlette runs a plain-function endpoint with anyio.to_thread.run_sync."""
    async def main():
        async with serve(make_app([])) as port, \
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as http:
            resp = await http.get("/sync")
            assert resp.status_code == 200
            assert resp.json() == {"main_thread": False}

    run(main)


def test_file_response(run, tmp_path):
    """Starlette's FileResponse stats and reads the file through anyio's worker threads."""
    path = tmp_path / "page.html"
    path.write_bytes(b"<h1>coroloop</h1>" * 10_000)

    async def main():
        app = Starlette(routes=[Route("/page", lambda request: FileResponse(path))])
        async with serve(app) as port, \
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False) as http:
            resp = await http.get("/page")
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/html")
            assert resp.content == path.read_bytes()

    run(main)


def test_websocket_with_websockets_client(run):
    ws_client = pytest.importorskip("websockets.asyncio.client")
    from websockets.exceptions import ConnectionClosedError

    async def main():
        async with serve(make_app([])) as port:
            async with ws_client.connect(f"ws://127.0.0.1:{port}/ws", proxy=None) as ws:
                await ws.send("stressed")
                assert await ws.recv() == "desserts"
                await ws.send(b"ab" * 100_000)
                assert await ws.recv() == b"ab" * 200_000
                await ws.send("close")
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.rcvd.code == 4001

    run(main)


def test_tls_with_httpx_and_websockets(run, client_ssl_context):
    ws_client = pytest.importorskip("websockets.asyncio.client")

    async def main():
        async with serve(make_app([]), ssl_certfile=str(CERTS / "server.pem"),
                         ssl_keyfile=str(CERTS / "server.key")) as port:
            async with httpx.AsyncClient(base_url=f"https://127.0.0.1:{port}",
                                         verify=client_ssl_context, trust_env=False) as http:
                resp = await http.get("/")
                assert resp.status_code == 200
                assert resp.text.startswith("hello from ")
                async with http.stream("GET", "/lines") as resp:
                    lines = [line async for line in resp.aiter_lines()]
                assert len(lines) == LINES
            async with ws_client.connect(f"wss://127.0.0.1:{port}/ws", ssl=client_ssl_context,
                                         proxy=None) as ws:
                await ws.send("secure")
                assert await ws.recv() == "eruces"

    run(main)


def test_shutdown_with_a_response_in_flight(run):
    """should_exit while a response streams forever: after timeout_graceful_shutdown,
    uvicorn cancels the request task and closes the connection; the client sees the end."""
    async def main():
        async with serve(make_app([]), timeout_graceful_shutdown=0.2) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /forever HTTP/1.1\r\nHost: t\r\n\r\n")
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200")
            assert b"tick" in await reader.readuntil(b"tick\n")
            # Leaving the context sets should_exit and awaits the server task.
        await asyncio.wait_for(reader.read(), 5)   # the rest of the ticks, then EOF
        assert reader.at_eof()
        writer.close()
        await writer.wait_closed()

    run(main)


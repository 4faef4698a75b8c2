"""Production servers on coroloop's loop, each in its own process, over loopback.

* uvicorn: ``uvicorn app:app --loop coroloop:new_event_loop`` (uvicorn >= 0.36 takes
  a loop factory as an import string there), alone and with ``--workers 2``;
* aiohttp: ``web.run_app`` in an unmodified program under ``python -m coroloop run``,
  and with ``loop=coroloop.new_event_loop()``;
* hypercorn: its asyncio worker under ``python -m coroloop run -m hypercorn``
  (``--workers 0``: the worker runs in that process; hypercorn's own worker processes
  are fresh interpreters that would make stdlib's loop), and ``hypercorn.asyncio.serve``
  awaited from code.

Each server answers which loop serves it, then shuts down gracefully on SIGTERM (to
the process, as a process manager sends it) and on SIGINT (to the process group, as
Ctrl-C in a terminal): a request in flight when the signal arrives completes, then
the server exits with status 0 (a single uvicorn process re-raises SIGTERM once it
has shut down, on any loop: its status is then "killed by SIGTERM").  The in-flight request is held by the app until the
test has seen the shutdown begin (the listener closed, or the server saying so), so
the order of events is forced, not timed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import pathlib
import signal
import sys

import pytest

from server_process import ServerProcess, http_get, wait_until_refused

HERE = pathlib.Path(__file__).resolve().parent
APPS = HERE / "apps"
SRC = HERE.parents[1] / "src"
COROLOOP_LOOP = "coroloop._event_loop.EventLoop"

pytestmark = pytest.mark.timeout(120)

SIGNALS = ["SIGTERM", "SIGINT"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(APPS)])
    env.pop("PYTHONASYNCIODEBUG", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def serve(tmp_path):
    started = []

    def start(*argv: str) -> ServerProcess:
        server = ServerProcess([sys.executable, *argv], _env(), cwd=tmp_path)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def _graceful_shutdown(server: ServerProcess, port: int, how: str, tmp_path,
                       shutdown_began, status: int = 0) -> None:
    """A request in flight, the signal, then: the request completes, the server exits
    with *status* (0 unless the server deliberately ends otherwise)."""
    release = tmp_path / "release"
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(http_get, port, f"/slow?release={release}")
        server.expect("slow request started")
        server.terminate() if how == "SIGTERM" else server.interrupt()
        shutdown_began()
        assert not in_flight.done()
        release.touch()
        assert in_flight.result(timeout=60) == (200, "slow done")
    assert server.wait() == status, server.output()
    assert "Traceback" not in server.output(), server.output()


# --- uvicorn ------------------------------------------------------------------------------
@pytest.mark.parametrize("how", SIGNALS)
def test_uvicorn_loop_option(serve, tmp_path, how):
    server = serve("-m", "uvicorn", "asgi_app:app", "--loop", "coroloop:new_event_loop",
                   "--host", "127.0.0.1", "--port", "0", "--no-access-log")
    server.expect(f"startup {COROLOOP_LOOP} pid=")
    port = int(server.expect(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")[1])
    status, body = http_get(port, "/loop")
    assert status == 200 and body.startswith(COROLOOP_LOOP)
    # A single uvicorn process re-raises the signal it caught once it has shut down
    # (uvicorn.Server.capture_signals), so SIGTERM ends it with the conventional
    # "killed by SIGTERM" status, as on stdlib's loop; SIGINT ends it with 0.
    _graceful_shutdown(server, port, how, tmp_path,
                       lambda: server.expect("Waiting for connections to close"),
                       status=-signal.SIGTERM if how == "SIGTERM" else 0)


@pytest.mark.parametrize("how", SIGNALS)
def test_uvicorn_two_workers(serve, tmp_path, how):
    server = serve("-m", "uvicorn", "asgi_app:app", "--loop", "coroloop:new_event_loop",
                   "--host", "127.0.0.1", "--port", "0", "--workers", "2",
                   "--no-access-log")
    port = int(server.expect(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")[1])
    # Each worker process runs the lifespan startup on its own coroloop loop.
    pids = {server.expect(f"startup {COROLOOP_LOOP} pid=(\\d+)")[1] for _ in range(2)}
    assert len(pids) == 2 and str(server.proc.pid) not in pids
    for _ in range(4):
        status, body = http_get(port, "/loop")
        assert status == 200 and body.startswith(COROLOOP_LOOP)
        assert body.rsplit("pid=", 1)[1] in pids

    def both_workers_shutting_down():
        server.expect("Shutting down")
        server.expect("Shutting down")

    _graceful_shutdown(server, port, how, tmp_path, both_workers_shutting_down)
    assert server.output().count("Finished server process") == 2


# --- aiohttp --------------------------------------------------------------------------------
@pytest.mark.parametrize("how", SIGNALS)
@pytest.mark.parametrize("mode", ["coroloop-run", "explicit-loop"])
def test_aiohttp_run_app(serve, tmp_path, how, mode):
    script = str(APPS / "aiohttp_server.py")
    if mode == "coroloop-run":
        server = serve("-m", "coroloop", "run", script)
    else:
        server = serve(script, "--explicit-loop")
    port = int(server.expect(r"listening on http://127\.0\.0\.1:(\d+)")[1])
    status, body = http_get(port, "/loop")
    assert status == 200 and body.startswith(COROLOOP_LOOP), body
    _graceful_shutdown(server, port, how, tmp_path, lambda: wait_until_refused(port))


# --- hypercorn ------------------------------------------------------------------------------
@pytest.mark.parametrize("how", SIGNALS)
def test_hypercorn_asyncio_worker(serve, tmp_path, how):
    server = serve("-m", "coroloop", "run", "-m", "hypercorn", "--worker-class", "asyncio",
                   "--workers", "0", "--graceful-timeout", "60", "--bind", "127.0.0.1:0",
                   "asgi_app:app")
    server.expect(f"startup {COROLOOP_LOOP} pid=")
    port = int(server.expect(r"Running on http://127\.0\.0\.1:(\d+)")[1])
    status, body = http_get(port, "/loop")
    assert status == 200 and body.startswith(COROLOOP_LOOP), body
    _graceful_shutdown(server, port, how, tmp_path, lambda: wait_until_refused(port))


# --- hypercorn from code, in this process ---------------------------------------------------
def test_hypercorn_serve_from_code(run):
    """``hypercorn.asyncio.serve(app, config)`` awaited on the loop (servers.md's "from
    code"), in each of the ``run`` fixture's modes, with hypercorn's shutdown trigger."""
    import socket

    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from interop_helpers import raw_http_request, split_http_response

    sys.path.insert(0, str(APPS))
    try:
        import asgi_app
    finally:
        sys.path.remove(str(APPS))

    async def body():
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        config = Config()
        # hypercorn serves (and closes) a copy of our bound socket
        config.bind = [f"fd://{os.dup(listener.fileno())}"]
        config.accesslog = config.errorlog = None
        stop = asyncio.Event()
        server = asyncio.ensure_future(serve(asgi_app.app, config, shutdown_trigger=stop.wait))
        try:
            async with asyncio.timeout(30):
                while True:  # until hypercorn listens on it
                    try:
                        response = await raw_http_request(
                            "127.0.0.1", port,
                            b"GET /loop HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                        break
                    except ConnectionRefusedError:
                        await asyncio.sleep(0.01)
            status, _, text = split_http_response(response)
            loop = asyncio.get_running_loop()
            assert status == 200
            assert text.decode().startswith(f"{type(loop).__module__}.{type(loop).__name__}")
        finally:
            stop.set()
            await server
            listener.close()

    run(body)

"""A plain ASGI application for the server tests (uvicorn, hypercorn), no framework.

``GET /loop``          the running loop's class and the worker's pid
``GET /slow?release=PATH``  prints ``slow request started`` and answers once PATH
                        exists: the test holds a request in flight while the server
                        shuts down, then lets it finish
Lifespan startup prints ``startup <loop class> pid=<pid>`` (once per worker process).
"""

import asyncio
import os
import sys
import urllib.parse


def _loop_name() -> str:
    loop = asyncio.get_running_loop()
    return f"{type(loop).__module__}.{type(loop).__name__}"


async def _text(send, body: str, status: int = 200) -> None:
    data = body.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain"),
                            (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                print(f"startup {_loop_name()} pid={os.getpid()}", flush=True)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert scope["type"] == "http"
    if scope["path"] == "/loop":
        await _text(send, f"{_loop_name()} pid={os.getpid()}")
    elif scope["path"] == "/slow":
        query = urllib.parse.parse_qs(scope["query_string"].decode())
        release = query["release"][0]
        print("slow request started", flush=True)
        while not os.path.exists(release):
            await asyncio.sleep(0.01)
        await _text(send, "slow done")
    else:
        await _text(send, "not found", 404)

"""An aiohttp application served by ``web.run_app``, for the server tests.

Run unmodified under ``python -m coroloop run aiohttp_server.py`` (coroloop's policy
gives run_app its loop), or with ``--explicit-loop`` as ``python aiohttp_server.py``,
where run_app gets ``loop=coroloop.new_event_loop()``.  It binds 127.0.0.1 port 0
itself and prints ``listening on http://127.0.0.1:PORT``; ``/loop`` and ``/slow``
behave as in ``asgi_app.py``.
"""

import asyncio
import os
import socket
import sys

from aiohttp import web


async def loop_name(request):
    loop = asyncio.get_running_loop()
    return web.Response(text=f"{type(loop).__module__}.{type(loop).__name__} pid={os.getpid()}")


async def slow(request):
    release = request.query["release"]
    print("slow request started", flush=True)
    while not os.path.exists(release):
        await asyncio.sleep(0.01)
    return web.Response(text="slow done")


def main():
    app = web.Application()
    app.router.add_get("/loop", loop_name)
    app.router.add_get("/slow", slow)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections queue from now on, before run_app accepts them
    print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    loop = None
    if "--explicit-loop" in sys.argv:
        import coroloop
        loop = coroloop.new_event_loop()
    web.run_app(app, sock=sock, loop=loop, print=None, shutdown_timeout=30)


if __name__ == "__main__":
    main()

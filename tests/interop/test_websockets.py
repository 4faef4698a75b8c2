"""websockets (the asyncio implementation, ``websockets.asyncio``, websockets >= 13),
client and server, unmodified, on coroloop's loop."""

from __future__ import annotations

import asyncio

import pytest

websockets = pytest.importorskip("websockets")
ws_server = pytest.importorskip("websockets.asyncio.server")
ws_client = pytest.importorskip("websockets.asyncio.client")
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus  # noqa: E402


async def echo(connection):
    """Echo text reversed and bytes as they are; 'close' ends with code 4002."""
    async for message in connection:
        if message == "close":
            await connection.close(4002, "asked to")
            return
        await connection.send(message[::-1] if isinstance(message, str) else message)


def serve(handler=echo, **kwargs):
    return ws_server.serve(handler, "127.0.0.1", 0, **kwargs)


def url_of(server, scheme="ws") -> str:
    port = server.sockets[0].getsockname()[1]
    return f"{scheme}://127.0.0.1:{port}"


def connect(uri, **kwargs):
    return ws_client.connect(uri, proxy=None, **kwargs)


def test_echo_text_binary_and_large_messages(run):
    async def main():
        async with serve(max_size=2**24) as server:
            async with connect(url_of(server), max_size=2**24) as ws:
                await ws.send("hello")
                assert await ws.recv() == "olleh"
                await ws.send(b"\x00\xff" * 10)
                assert await ws.recv() == b"\x00\xff" * 10
                big = bytes(range(256)) * 40_000           # ~10 MiB, many frames' worth
                await ws.send(big)
                assert await ws.recv() == big
                # A fragmented message sent from an async iterator.
                async def fragments():
                    for part in ("ab", "cd", "ef"):
                        yield part
                await ws.send(fragments())
                assert await ws.recv() == "fedcba"
                latency = await ws.ping()
                assert await asyncio.wait_for(latency, 5) >= 0
            assert ws.close_code == 1000

    run(main)


def test_server_closes_with_code(run):
    async def main():
        async with serve() as server:
            async with connect(url_of(server)) as ws:
                await ws.send("close")
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.rcvd.code == 4002
                assert info.value.rcvd.reason == "asked to"

    run(main)


def test_many_clients_and_broadcast(run):
    async def main():
        connected = set()
        all_in = asyncio.Event()
        n = 20

        async def handler(connection):
            connected.add(connection)
            if len(connected) == n:
                all_in.set()
            try:
                await connection.wait_closed()
            finally:
                connected.discard(connection)

        async with serve(handler) as server:
            clients = [await connect(url_of(server)) for _ in range(n)]
            await asyncio.wait_for(all_in.wait(), 5)
            ws_server.broadcast(connected, "news")
            received = await asyncio.gather(*(c.recv() for c in clients))
            assert received == ["news"] * n
            await asyncio.gather(*(c.close() for c in clients))
            assert all(isinstance(c.close_code, int) for c in clients)

    run(main)


def test_iterate_until_server_shutdown(run):
    async def main():
        async def handler(connection):
            for i in range(5):
                await connection.send(f"tick {i}")
            await connection.close()

        async with serve(handler) as server:
            async with connect(url_of(server)) as ws:
                got = [message async for message in ws]   # ends on a normal close
            assert got == [f"tick {i}" for i in range(5)]
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()

    run(main)


def test_process_request_rejects_with_http_status(run):
    async def main():
        def process_request(connection, request):
            if request.path == "/forbidden":
                return connection.respond(403, "no\n")
            return None

        async with serve(process_request=process_request) as server:
            with pytest.raises(InvalidStatus) as info:
                async with connect(url_of(server) + "/forbidden"):
                    pass
            assert info.value.response.status_code == 403
            async with connect(url_of(server) + "/ok") as ws:
                await ws.send("ok")
                assert await ws.recv() == "ko"

    run(main)


def test_server_close_disconnects_clients(run):
    async def main():
        server = await serve()
        async with connect(url_of(server)) as ws:
            await ws.send("ping")
            assert await ws.recv() == "gnip"
            server.close()                     # closes connections with 1001 going away
            await asyncio.wait_for(server.wait_closed(), 5)
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
            assert ws.close_code == 1001

    run(main)


def test_tls(run, server_ssl_context, client_ssl_context):
    async def main():
        async with serve(ssl=server_ssl_context) as server:
            async with connect(url_of(server, "wss"), ssl=client_ssl_context) as ws:
                for i in range(10):
                    await ws.send(f"secure {i}")
                    assert await ws.recv() == f"secure {i}"[::-1]
                await ws.send(b"x" * 500_000)
                assert await ws.recv() == b"x" * 500_000

    run(main)


def test_client_transport_abort_seen_by_server(run):
    async def main():
        outcome = asyncio.get_running_loop().create_future()

        async def handler(connection):
            try:
                await connection.recv()
            except ConnectionClosedError as exc:
                outcome.set_result((exc.rcvd, connection.close_code))

        async with serve(handler) as server:
            ws = await connect(url_of(server))
            ws.transport.abort()                  # no closing handshake
            rcvd, code = await asyncio.wait_for(outcome, 5)
            assert rcvd is None
            assert code == 1006
            with pytest.raises(ConnectionClosedError):
                await ws.recv()

    run(main)

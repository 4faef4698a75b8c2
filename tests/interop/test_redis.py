"""redis-py's asyncio client against a real Redis server (private, on loopback).

Bodies run in each of the ``run`` fixture's modes.  Keys are namespaced per test and
mode, so the session's one server is shared safely.
"""

from __future__ import annotations

import asyncio
import re

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError


@pytest.fixture
def key(request):
    """A key prefix unique to this test and mode (no glob characters: it is used in
    PSUBSCRIBE patterns too)."""
    return "coroloop:" + re.sub(r"[^A-Za-z0-9_-]", "_", request.node.name) + ":"


def test_pipelines(run, redis_server, key):
    async def body():
        client = aioredis.from_url(redis_server.url)
        try:
            async with client.pipeline(transaction=True) as pipe:
                pipe.set(key + "a", 1).incr(key + "a").incrby(key + "a", 40).get(key + "a")
                assert await pipe.execute() == [True, 2, 42, b"42"]
            # A non-transactional pipeline of 1000 commands in one round trip.
            async with client.pipeline(transaction=False) as pipe:
                for i in range(1000):
                    pipe.rpush(key + "list", i)
                results = await pipe.execute()
            assert results[-1] == 1000
            assert await client.lrange(key + "list", 0, 2) == [b"0", b"1", b"2"]
            # WATCH: a concurrent change makes the transaction fail, as it must.
            other = aioredis.from_url(redis_server.url)
            try:
                async with client.pipeline(transaction=True) as pipe:
                    await pipe.watch(key + "a")
                    await other.set(key + "a", "changed")
                    pipe.multi()
                    pipe.set(key + "a", "mine")
                    with pytest.raises(aioredis.WatchError):
                        await pipe.execute()
                assert await client.get(key + "a") == b"changed"
            finally:
                await other.aclose()
        finally:
            await client.aclose()
    run(body)


def test_pubsub(run, redis_server, key):
    async def body():
        client = aioredis.from_url(redis_server.url)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(key + "news")
            await pubsub.psubscribe(key + "alerts.*")
            confirmations = [await pubsub.get_message(timeout=10) for _ in range(2)]
            assert [m["type"] for m in confirmations] == ["subscribe", "psubscribe"]
            assert await client.publish(key + "news", "hello") == 1
            assert await client.publish(key + "alerts.disk", "full") == 1

            async def next_message():
                while True:  # get_message(timeout) may return None on a quiet socket
                    message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                       timeout=10)
                    if message is not None:
                        return message

            first = await asyncio.wait_for(next_message(), 10)
            second = await asyncio.wait_for(next_message(), 10)
            assert (first["channel"], first["data"]) == ((key + "news").encode(), b"hello")
            assert (second["type"], second["data"]) == ("pmessage", b"full")
            # Nothing more: a timeout, not a hang.
            assert await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05) is None
            await pubsub.unsubscribe()
            await pubsub.punsubscribe()
        finally:
            await pubsub.aclose()
            await client.aclose()
    run(body)


def test_blocking_pop_with_timeout(run, redis_server, key):
    async def body():
        client = aioredis.from_url(redis_server.url)
        pusher = aioredis.from_url(redis_server.url)
        try:
            # Empty list: the server answers nil after its timeout.
            assert await client.blpop([key + "queue"], timeout=0.1) is None
            # A pop waiting while another connection pushes: woken by the push.
            waiting = asyncio.ensure_future(client.blpop([key + "queue"], timeout=30))
            await _until_blocked(pusher, 1)
            assert not waiting.done()
            await pusher.rpush(key + "queue", "job")
            assert tuple(await asyncio.wait_for(waiting, 10)) == ((key + "queue").encode(), b"job")
            # A client-side timeout around a long BLPOP cancels it cleanly.
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.05):
                    await client.blpop([key + "queue"], timeout=30)
            assert await client.ping() is True
        finally:
            await client.aclose()
            await pusher.aclose()
    run(body)


async def _until_blocked(client, count: int) -> None:
    """Wait until the server reports *count* clients blocked (in BLPOP & co)."""
    async with asyncio.timeout(30):
        while (await client.info("clients"))["blocked_clients"] < count:
            await asyncio.sleep(0.01)


def test_connection_pool_under_concurrency(run, redis_server, key):
    async def body():
        pool = aioredis.BlockingConnectionPool.from_url(
            redis_server.url, max_connections=10, timeout=30, client_name=key + "pool")
        client = aioredis.Redis(connection_pool=pool)
        try:
            async def work(i):
                await client.incr(key + "counter")
                await client.sadd(key + "seen", i)
                return await client.get(key + "counter")

            results = await asyncio.gather(*(work(i) for i in range(300)))
            assert len(results) == 300
            assert await client.get(key + "counter") == b"300"
            assert await client.scard(key + "seen") == 300
            # 300 concurrent users shared at most 10 connections (as the server sees them:
            # each of the pool's connections carries the pool's client name).
            ours = [c for c in await client.client_list() if c["name"] == key + "pool"]
            assert 1 < len(ours) <= 10, ours
        finally:
            await client.aclose()
            await pool.aclose()
    run(body)


def test_server_killed_mid_command_then_back(run, private_redis_server, key):
    server = private_redis_server

    async def body():
        # No retries: the error must reach the caller, not be retried into a hang.
        pool = aioredis.ConnectionPool.from_url(server.url, max_connections=4)
        client = aioredis.Redis(connection_pool=pool, retry_on_error=[], retry=None)
        watcher = aioredis.from_url(server.url)
        try:
            await client.set(key + "x", "1")
            in_flight = asyncio.ensure_future(client.blpop([key + "never"], timeout=30))
            await _until_blocked(watcher, 1)
            await watcher.aclose()
            server.kill()
            with pytest.raises(RedisConnectionError) as caught:
                await asyncio.wait_for(in_flight, 10)
            assert "Connection closed by server" in str(caught.value) or \
                "Connection reset" in str(caught.value), caught.value
            # While it is down: a clear connection error, promptly.
            with pytest.raises(RedisConnectionError) as down:
                await asyncio.wait_for(client.ping(), 10)
            assert str(server.port) in str(down.value), down.value
            # Back on the same port: the same pool reconnects by itself.
            server.start()
            assert await asyncio.wait_for(client.ping(), 10) is True
            assert await client.get(key + "x") is None  # a new, empty server
        finally:
            await client.aclose()
            await pool.aclose()
    run(body)

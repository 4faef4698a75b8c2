"""asyncpg against a real PostgreSQL server (private, on loopback: ``db_servers``).

Every body runs in each of the ``run`` fixture's modes (coroloop's loop under stdlib's
runner, coroloop's runner, stdlib asyncio for comparison).  The server is the judge
where it matters: a cancelled query must be gone from ``pg_stat_activity``, not just
abandoned by the client.
"""

from __future__ import annotations

import asyncio
import io

import asyncpg
import pytest


async def _connect(postgres, **kwargs):
    return await asyncpg.connect(postgres.dsn, **kwargs)


async def _active_queries(monitor, marker: str) -> list:
    """Backends other than the monitor's own running a query that contains *marker*."""
    return await monitor.fetch(
        "SELECT pid, state FROM pg_stat_activity "
        "WHERE query LIKE '%' || $1 || '%' AND state = 'active' AND pid <> pg_backend_pid()",
        marker)


async def _until(predicate, what: str, timeout: float = 30.0):
    """Poll the server (every 10 ms) until predicate() is true."""
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.01)


def test_pool_under_200_concurrent_queries(run, postgres):
    async def body():
        async with asyncpg.create_pool(postgres.dsn, min_size=2, max_size=20) as pool:
            async def query(i):
                return await pool.fetchrow(
                    "SELECT $1::int * 2 AS doubled, pg_backend_pid() AS pid, pg_sleep(0.01)", i)

            rows = await asyncio.gather(*(query(i) for i in range(200)))
            assert [row["doubled"] for row in rows] == [2 * i for i in range(200)]
            # 200 waiters for 20 connections: the pool grew to its maximum.
            assert len({row["pid"] for row in rows}) == 20
            assert pool.get_size() == 20
    run(body)


def test_transactions_commit_and_roll_back(run, postgres):
    async def body():
        conn = await _connect(postgres)
        try:
            await conn.execute("CREATE TEMP TABLE accounts (name text PRIMARY KEY, balance int)")
            async with conn.transaction():
                await conn.execute("INSERT INTO accounts VALUES ('a', 100), ('b', 0)")
            with pytest.raises(ZeroDivisionError):
                async with conn.transaction():
                    await conn.execute("UPDATE accounts SET balance = balance - 50 WHERE name = 'a'")
                    1 / 0
            assert await conn.fetchval("SELECT balance FROM accounts WHERE name = 'a'") == 100
            # A savepoint rolls back alone; the outer transaction commits.
            async with conn.transaction():
                await conn.execute("UPDATE accounts SET balance = 70 WHERE name = 'a'")
                with pytest.raises(asyncpg.UniqueViolationError):
                    async with conn.transaction():
                        await conn.execute("UPDATE accounts SET balance = 30 WHERE name = 'b'")
                        await conn.execute("INSERT INTO accounts VALUES ('a', 1)")
            balances = dict(await conn.fetch("SELECT name, balance FROM accounts ORDER BY name"))
            assert balances == {"a": 70, "b": 0}
            # Explicit start/rollback, and the connection is idle afterwards.
            tx = conn.transaction()
            await tx.start()
            await conn.execute("DELETE FROM accounts")
            await tx.rollback()
            assert await conn.fetchval("SELECT count(*) FROM accounts") == 2
            assert not conn.is_in_transaction()
        finally:
            await conn.close()
    run(body)


@pytest.mark.parametrize("how", ["timeout-argument", "asyncio.timeout", "task.cancel"])
def test_cancelled_query_stops_on_the_server(run, postgres, how):
    async def body():
        conn = await _connect(postgres)
        monitor = await _connect(postgres)
        marker = f"cancel_me_{how.replace('.', '_').replace('-', '_')}"
        sql = f"SELECT pg_sleep(60) AS {marker}"
        try:
            if how == "timeout-argument":
                with pytest.raises(asyncio.TimeoutError):
                    await conn.fetch(sql, timeout=0.5)
            else:
                task = asyncio.ensure_future(conn.fetch(sql))
                # Wait until the server runs it: the cancel then has something to stop.
                await _until(lambda: _active_queries(monitor, marker), "query running")
                if how == "asyncio.timeout":
                    with pytest.raises(TimeoutError):
                        async with asyncio.timeout(0.05):
                            await task
                else:
                    task.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await task

            async def stopped():
                return not await _active_queries(monitor, marker)

            await _until(stopped, "the server to cancel the query")
            # The connection is usable again, at once.
            assert await conn.fetchval("SELECT 41 + 1") == 42
        finally:
            await conn.close()
            await monitor.close()
    run(body)


def test_listen_notify(run, postgres):
    async def body():
        listener = await _connect(postgres)
        sender = await _connect(postgres)
        received: asyncio.Queue = asyncio.Queue()
        try:
            await listener.add_listener(
                "jobs", lambda conn, pid, channel, payload: received.put_nowait((channel, payload)))
            for n in range(3):
                await sender.execute("SELECT pg_notify('jobs', $1)", f"job-{n}")
            got = [await asyncio.wait_for(received.get(), 10) for _ in range(3)]
            assert got == [("jobs", "job-0"), ("jobs", "job-1"), ("jobs", "job-2")]
            # NOTIFY inside a transaction is delivered at commit only.
            async with sender.transaction():
                await sender.execute("NOTIFY jobs, 'on-commit'")
                await sender.fetchval("SELECT 1")
                assert received.empty()
            assert await asyncio.wait_for(received.get(), 10) == ("jobs", "on-commit")
        finally:
            await listener.close()
            await sender.close()
    run(body)


def test_copy_in_and_out(run, postgres):
    async def body():
        conn = await _connect(postgres)
        try:
            await conn.execute("CREATE TEMP TABLE items (id int, label text)")
            rows = [(i, f"item {i}") for i in range(20000)]
            assert await conn.copy_records_to_table("items", records=rows) == "COPY 20000"
            text = "".join(f"{i}\tcsv {i}\n" for i in range(20000, 20010)).encode()
            assert await conn.copy_to_table("items", source=io.BytesIO(text)) == "COPY 10"
            assert await conn.fetchval("SELECT count(*) FROM items") == 20010

            out = io.BytesIO()
            await conn.copy_from_query("SELECT id, label FROM items WHERE id % 1000 = 0 "
                                       "ORDER BY id", output=out, format="csv")
            assert out.getvalue().decode().splitlines()[:3] == [
                "0,item 0", "1000,item 1000", "2000,item 2000"]

            chunks = []

            async def sink(chunk):  # COPY OUT streamed to an async callback
                chunks.append(bytes(chunk))

            await conn.copy_from_table("items", output=sink)
            assert b"".join(chunks).count(b"\n") == 20010
        finally:
            await conn.close()
    run(body)


def test_prepared_statements(run, postgres):
    async def body():
        conn = await _connect(postgres)
        try:
            stmt = await conn.prepare("SELECT $1::int * $2::int AS product")
            assert [t.name for t in stmt.get_parameters()] == ["int4", "int4"]
            assert [a.name for a in stmt.get_attributes()] == ["product"]
            assert await stmt.fetchval(6, 7) == 42
            many = [await stmt.fetchval(i, i) for i in range(1, 6)]
            assert many == [1, 4, 9, 16, 25]
            # A server-side cursor over a prepared statement, inside a transaction.
            series = await conn.prepare("SELECT g FROM generate_series(1, $1::int) AS g")
            async with conn.transaction():
                seen = [record["g"] async for record in series.cursor(1000, prefetch=64)]
            assert seen == list(range(1, 1001))
            # Bad parameters: asyncpg's own error, before the server is asked.
            with pytest.raises(asyncpg.DataError):
                await stmt.fetchval("six", 7)
            assert await stmt.fetchval(2, 3) == 6
        finally:
            await conn.close()
    run(body)

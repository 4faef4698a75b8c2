"""wait_for(), timeout() and cancellation with cleanup.

    python examples/wait_for_cancellation.py

* ``await wait_for(aw, seconds)`` returns the result, or cancels ``aw``, waits for it
  to finish cancelling (its ``finally`` blocks run) and raises ``TimeoutError``.
* ``async with timeout(seconds):`` does the same for a whole block.
* ``task.cancel()`` throws ``CancelledError`` into the task at its current ``await``;
  ``try/finally`` (or ``except CancelledError: ...; raise``) runs the cleanup.  Re-raise
  it: swallowing a cancellation breaks timeouts and TaskGroups.
* coroloop resolves one race better than asyncio: when the awaited operation
  completes in the same loop iteration as the deadline passes, its result is
  returned instead of being thrown away (CPython issues #81917, #86296).  The last
  section shows it; with ``import asyncio`` it ends in TimeoutError instead.
"""

import coroloop as asyncio


class Connection:
    def __init__(self, name):
        self.name = name
        self.open = True

    async def close(self):
        await asyncio.sleep(0)           # closing may itself need to await
        self.open = False
        print(f"  {self.name}: closed")


async def query(conn, seconds):
    try:
        await asyncio.sleep(seconds)
        return f"{conn.name}: 42 rows"
    except asyncio.CancelledError:
        print(f"  {conn.name}: query cancelled, cleaning up")
        raise
    finally:
        await conn.close()


async def main():
    print("wait_for in time:")
    print(" ", await asyncio.wait_for(query(Connection("db1"), 0.01), timeout=1))

    print("wait_for too slow:")
    conn = Connection("db2")
    try:
        await asyncio.wait_for(query(conn, 10), timeout=0.05)
    except TimeoutError:
        print(f"  TimeoutError; cleanup already done: open={conn.open}")

    print("timeout() around a block:")
    try:
        async with asyncio.timeout(0.05) as cm:
            await query(Connection("db3"), 0.01)
            await query(Connection("db4"), 10)
    except TimeoutError:
        print(f"  TimeoutError; expired={cm.expired()}")

    print("cancelling a task:")
    conn = Connection("db5")
    task = asyncio.create_task(query(conn, 10))
    await asyncio.sleep(0)               # let it start
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        print(f"  task cancelled={task.cancelled()}, connection open={conn.open}")

    print("a result that arrives with the deadline is kept:")
    loop = asyncio.get_running_loop()
    reply = loop.create_future()
    async with asyncio.timeout(None) as cm:
        loop.call_soon(reply.set_result, "reply")  # completes first...
        cm.reschedule(loop.time())                 # ...deadline in the same iteration
        print(f"  got {await reply!r}, expired={cm.expired()}")


if __name__ == "__main__":
    asyncio.run(main())

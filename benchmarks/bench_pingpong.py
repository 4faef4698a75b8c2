"""Two tasks bouncing a value through two ``aio.Queue``s.

Measures a full context switch between two tasks: each round trip is a put
that wakes a blocked getter, a task switch, and the same back.  One operation
is one round trip.
"""

ORDER = 70
DESCRIPTION = "two tasks ping-pong a counter through two aio.Queue"
SIZE = 40_000
QUICK_SIZE = 4_000
REQUIRES = ("Queue",)


def run(aio, loop, size):
    async def pinger(out_q, in_q):
        value = 0
        for _ in range(size):
            await out_q.put(value)
            value = await in_q.get()
        await out_q.put(None)
        return value

    async def ponger(in_q, out_q):
        while True:
            value = await in_q.get()
            if value is None:
                return
            await out_q.put(value + 1)

    async def main():
        ping_q = aio.Queue()
        pong_q = aio.Queue()
        pong_task = aio.create_task(ponger(ping_q, pong_q))
        result = await pinger(ping_q, pong_q)
        await pong_task
        return result

    result = loop.run_until_complete(main())
    if result != size:
        raise RuntimeError(f"ping-pong counted {result} round trips, expected {size}")
    return size

"""Bounded ``aio.Queue``: 4 producers and 4 consumers through a queue of 64.

Measures put/get on a queue that is often full and often empty, so both the
fast path and the waiter path (blocked putters and getters woken up) run.
One operation is one item passed from a producer to a consumer.
"""

ORDER = 60
DESCRIPTION = "bounded aio.Queue(64), 4 producers -> 4 consumers"
SIZE = 400_000
QUICK_SIZE = 40_000
REQUIRES = ("Queue",)

PRODUCERS = 4
CONSUMERS = 4
MAXSIZE = 64


def run(aio, loop, size):
    per_producer = size // PRODUCERS
    n_items = per_producer * PRODUCERS

    async def producer(queue, base):
        for i in range(base, base + per_producer):
            await queue.put(i)

    async def consumer(queue):
        total = 0
        count = 0
        while True:
            item = await queue.get()
            if item is None:
                return total, count
            total += item
            count += 1

    async def main():
        queue = aio.Queue(MAXSIZE)
        consumers = [aio.create_task(consumer(queue)) for _ in range(CONSUMERS)]
        producers = [aio.create_task(producer(queue, p * per_producer)) for p in range(PRODUCERS)]
        for task in producers:
            await task
        for _ in range(CONSUMERS):
            await queue.put(None)
        total = count = 0
        for task in consumers:
            t, c = await task
            total += t
            count += c
        return total, count

    total, count = loop.run_until_complete(main())
    if count != n_items or total != n_items * (n_items - 1) // 2:
        raise RuntimeError(f"queue delivered {count} items (sum {total}), expected {n_items}")
    return n_items

"""``aio.gather`` of many coroutines.

Measures gather itself: wrapping each coroutine in a task, the per-child done
callback and collecting results in order.  Each gather takes 1000 coroutines
that yield once (``await aio.sleep(0)``) so they are all pending together.
"""

ORDER = 40
DESCRIPTION = "aio.gather of 1000 coroutines (each sleeps 0 once), repeated"
SIZE = 80_000
QUICK_SIZE = 8_000
REQUIRES = ("gather",)

BATCH = 1000


def run(aio, loop, size):
    async def child(i):
        await aio.sleep(0)
        return i

    async def main():
        total = 0
        for start in range(0, size, BATCH):
            results = await aio.gather(*[child(i) for i in range(start, min(start + BATCH, size))])
            if results != list(range(start, min(start + BATCH, size))):
                raise RuntimeError("gather returned results out of order")
            total += len(results)
        return total

    result = loop.run_until_complete(main())
    if result != size:
        raise RuntimeError(f"gather collected {result} results, expected {size}")
    return size

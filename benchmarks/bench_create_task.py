"""Create many tasks with ``aio.create_task``, then await each one in turn.

Measures task creation, scheduling the first step, running a coroutine to
completion and awaiting an already-finished task.  Tasks are made in batches
so memory stays bounded.
"""

ORDER = 30
DESCRIPTION = "create_task for a batch of 1000 coroutines, then await each"
SIZE = 150_000
QUICK_SIZE = 15_000
REQUIRES = ()

BATCH = 1000


async def _child(i):
    return i


def run(aio, loop, size):
    async def main():
        total = 0
        for start in range(0, size, BATCH):
            tasks = [aio.create_task(_child(i)) for i in range(start, min(start + BATCH, size))]
            for task in tasks:
                total += await task
        return total

    result = loop.run_until_complete(main())
    expected = size * (size - 1) // 2
    if result != expected:
        raise RuntimeError(f"create_task sum {result}, expected {expected}")
    return size

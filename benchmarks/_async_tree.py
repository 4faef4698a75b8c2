"""Shared code of the async_tree benchmarks (not a benchmark: no ``bench_`` prefix).

A tree of coroutines: every inner node starts BRANCHES children concurrently and
waits for them; every leaf does ``await aio.sleep(0)``.  ``size`` is the depth;
the tree has sum(BRANCHES**k for k in 0..depth) nodes, and one operation is one
node (a coroutine run to completion; all but the root run as tasks).
"""

BRANCHES = 6
DEPTH = 6
QUICK_DEPTH = 5


def node_count(depth):
    return sum(BRANCHES ** k for k in range(depth + 1))


def run_gather(aio, loop, depth):
    async def node(level):
        if level == 0:
            await aio.sleep(0)
            return 1
        counts = await aio.gather(*[node(level - 1) for _ in range(BRANCHES)])
        return 1 + sum(counts)

    return _check(loop.run_until_complete(node(depth)), depth)


def run_taskgroup(aio, loop, depth):
    async def node(level):
        if level == 0:
            await aio.sleep(0)
            return 1
        async with aio.TaskGroup() as group:
            children = [group.create_task(node(level - 1)) for _ in range(BRANCHES)]
        return 1 + sum(child.result() for child in children)

    return _check(loop.run_until_complete(node(depth)), depth)


def run_eager(aio, loop, depth):
    loop.set_task_factory(aio.eager_task_factory)
    try:
        return run_gather(aio, loop, depth)
    finally:
        loop.set_task_factory(None)


def _check(count, depth):
    expected = node_count(depth)
    if count != expected:
        raise RuntimeError(f"async tree visited {count} nodes, expected {expected}")
    return count

"""Same seed, same schedule: simulate a busy program RUNS times (default 100) per seed
and count the distinct trace hashes (the docs quote `1000 3`).

    python examples/simulation_determinism.py [RUNS] [SEEDS]
"""

import asyncio
import sys
import time

from coroloop.testing import simulate


async def busy():
    """Producers, consumers, a lock, timers with equal deadlines, gather."""
    queue = asyncio.Queue(maxsize=3)
    lock = asyncio.Lock()
    log = []

    async def producer(i):
        for k in range(6):
            await asyncio.sleep(0.5 * (k % 2))
            await queue.put((i, k))

    async def consumer(i):
        while True:
            item = await queue.get()
            async with lock:
                log.append((i, item))
                await asyncio.sleep(0)
            queue.task_done()

    consumers = [asyncio.create_task(consumer(i)) for i in range(3)]
    await asyncio.gather(*(producer(i) for i in range(4)))
    await queue.join()
    for task in consumers:
        task.cancel()
    return log


if __name__ == "__main__":
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    started = time.perf_counter()
    for policy in ("random", "pct"):
        for seed in range(seeds):
            results = [simulate(busy, seed=seed, policy=policy) for _ in range(runs)]
            hashes = {r.trace_hash for r in results}
            outcomes = {repr(r.result) for r in results}
            print(f"{policy:6} seed {seed}: {runs} runs, {len(hashes)} trace hash(es), "
                  f"{len(outcomes)} outcome(s), {results[0].steps} steps, "
                  f"{len(results[0].decisions)} decisions")
    print(f"{time.perf_counter() - started:.1f} s")

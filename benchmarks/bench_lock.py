"""``aio.Lock`` contention among 100 tasks.

Each task repeatedly acquires the lock, yields once while holding it (so the
other tasks pile up as waiters), and releases it.  Measures acquire/release
with a long waiter queue and the hand-off to the next waiter.  One operation is
one acquisition.
"""

ORDER = 80
DESCRIPTION = "100 tasks contend for one aio.Lock, sleep(0) while holding it"
SIZE = 60_000
QUICK_SIZE = 6_000
REQUIRES = ("Lock",)

TASKS = 100


def run(aio, loop, size):
    per_task = size // TASKS
    n_ops = per_task * TASKS
    state = {"counter": 0, "inside": 0}

    async def worker(lock):
        for _ in range(per_task):
            async with lock:
                state["inside"] += 1
                if state["inside"] != 1:
                    raise RuntimeError("two tasks inside the lock at once")
                await aio.sleep(0)
                state["counter"] += 1
                state["inside"] -= 1

    async def main():
        lock = aio.Lock()
        tasks = [aio.create_task(worker(lock)) for _ in range(TASKS)]
        for task in tasks:
            await task

    loop.run_until_complete(main())
    if state["counter"] != n_ops:
        raise RuntimeError(f"lock counter {state['counter']}, expected {n_ops}")
    return n_ops

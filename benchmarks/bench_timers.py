"""Many concurrent timers: tasks in ``aio.sleep(delay)`` plus ``loop.call_later``.

Measures the timer heap: each wave starts 5000 tasks that each sleep a random
delay in [0, 10 ms) and schedules 5000 ``loop.call_later`` callbacks with random
delays in the same range, then waits for all of them.  Delays come from a
seeded RNG so every implementation sees the same schedule.  One operation is
one timer (a sleep or a call_later).  The wall-clock floor is 10 ms per wave,
so the number mostly reflects timer bookkeeping, not the delays.
"""

import random

ORDER = 50
DESCRIPTION = "waves of 5000 tasks in aio.sleep(random delay) + 5000 loop.call_later"
SIZE = 60_000
QUICK_SIZE = 10_000
REQUIRES = ()

WAVE = 10_000  # timers per wave: half sleeping tasks, half call_later callbacks
MAX_DELAY = 0.010


def run(aio, loop, size):
    rng = random.Random(12345)

    async def sleeper(delay):
        await aio.sleep(delay)

    async def wave(n):
        fired = 0
        all_fired = loop.create_future()
        n_later = n // 2

        def on_timer():
            nonlocal fired
            fired += 1
            if fired == n_later:
                all_fired.set_result(None)

        tasks = []
        for _ in range(n - n_later):
            tasks.append(aio.create_task(sleeper(rng.random() * MAX_DELAY)))
        for _ in range(n_later):
            loop.call_later(rng.random() * MAX_DELAY, on_timer)
        for task in tasks:
            await task
        await all_fired
        return len(tasks) + fired

    async def main():
        total = 0
        for start in range(0, size, WAVE):
            total += await wave(min(WAVE, size - start))
        return total

    result = loop.run_until_complete(main())
    if result != size:
        raise RuntimeError(f"{result} timers fired, expected {size}")
    return size

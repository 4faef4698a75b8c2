"""Running blocking code without blocking the loop: threads and processes.

    python examples/executors.py

* ``await asyncio.to_thread(func, *args)`` runs a blocking function in the loop's
  default thread pool (context variables included) -- for blocking I/O and for C
  code that releases the GIL.
* ``await loop.run_in_executor(executor, func, *args)`` runs it in the executor you
  give: a ``ThreadPoolExecutor``, or a ``ProcessPoolExecutor`` for CPU-bound pure-Python
  work (the function and its arguments must be picklable: define it at module level,
  and keep the ``if __name__ == "__main__"`` guard).
* Meanwhile the loop keeps running other tasks.
"""

import concurrent.futures
import contextvars
import time

import coroloop as asyncio

request_id = contextvars.ContextVar("request_id", default="-")


def blocking_read(name):
    time.sleep(0.05)                     # stands for a blocking call (file, DNS, ...)
    return f"{name} read in request {request_id.get()}"


def count_primes(limit):
    """CPU-bound: runs in another process, so it does not hold our GIL."""
    sieve = bytearray([1]) * (limit + 1)
    sieve[0:2] = b"\0\0"
    for i in range(2, int(limit ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytes(len(range(i * i, limit + 1, i)))
    return sum(sieve)


async def heartbeat(stop):
    beats = 0
    while not stop.is_set():
        beats += 1
        await asyncio.sleep(0.01)
    return beats


async def main():
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    beating = asyncio.create_task(heartbeat(stop))

    request_id.set("r-17")
    print(await asyncio.to_thread(blocking_read, "settings.toml"))

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = await asyncio.gather(
            loop.run_in_executor(pool, blocking_read, "a.txt"),
            loop.run_in_executor(pool, blocking_read, "b.txt"))
    print(results)                       # no request id: run_in_executor copies no context

    with concurrent.futures.ProcessPoolExecutor(max_workers=2) as pool:
        counts = await asyncio.gather(*(loop.run_in_executor(pool, count_primes, n)
                                        for n in (10_000, 100_000)))
    print(f"primes below 10k and 100k: {counts}")

    stop.set()
    print(f"the loop kept running meanwhile: {await beating > 1}")


if __name__ == "__main__":
    asyncio.run(main())

"""A small pipeline to look at on a timeline.

A producer fills a bounded queue, two workers take items and share a lock for
their "database" writes, a gather waits for the workers, and a watchdog that is
no longer needed is cancelled.  Record it and draw it::

    python -m coroloop trace -o trace.json examples/timeline.py
    python -m coroloop timeline trace.json -o timeline.html

or in code, as ``python examples/timeline.py --trace trace.json`` does below with
``coroloop.debug.record_trace``.  Open trace.json in https://ui.perfetto.dev, or
timeline.html in any browser (it needs no network).
"""

import sys

import coroloop
import coroloop.debug


async def producer(queue, items):
    for item in range(items):
        await queue.put(item)          # waits (queue_put) while the queue is full
        await coroloop.sleep(0.002)
    for _ in range(2):
        await queue.put(None)          # one "stop" per worker


async def worker(queue, lock):
    handled = 0
    while (item := await queue.get()) is not None:   # waits: queue_get
        async with lock:                              # waits: lock
            await coroloop.sleep(0.003)               # the "write", holding the lock
        handled += 1
    return handled


async def watchdog():
    await coroloop.sleep(60)           # cancelled long before this


async def main():
    queue = coroloop.Queue(maxsize=2)
    lock = coroloop.Lock()
    guard = coroloop.create_task(watchdog(), name="watchdog")
    workers = [coroloop.create_task(worker(queue, lock), name=f"worker-{n}") for n in (1, 2)]
    await coroloop.create_task(producer(queue, 6), name="producer")
    counts = await coroloop.gather(*workers)
    print(f"{sum(counts)} items handled by {len(workers)} workers")
    guard.cancel("pipeline finished")
    try:
        await guard
    except coroloop.CancelledError:
        print("watchdog cancelled")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--trace"]:
        with coroloop.debug.record_trace(sys.argv[2]):
            coroloop.run(main())
        print(f"trace written to {sys.argv[2]}")
    else:
        coroloop.run(main())

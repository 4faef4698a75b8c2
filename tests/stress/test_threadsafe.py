"""call_soon_threadsafe from many threads: every call runs exactly once, each
thread's calls in the order it made them, and a sleeping loop wakes for them."""

from __future__ import annotations

import threading
import time

import pytest

import coroloop
from stress_helpers import size

THREADS = size(4, 8)
CALLS = size(10_000, 50_000)


@pytest.mark.timeout(size(120, 600))
def test_call_soon_threadsafe_from_many_threads(figure):
    loop = coroloop.new_event_loop()
    seen = [[] for _ in range(THREADS)]
    remaining = [THREADS * CALLS]
    done = loop.create_future()

    def record(thread, n):
        seen[thread].append(n)
        remaining[0] -= 1
        if not remaining[0]:
            done.set_result(None)

    start = threading.Barrier(THREADS + 1)

    def producer(thread):
        start.wait()
        call = loop.call_soon_threadsafe
        for n in range(CALLS):
            call(record, thread, n)
            if n % 1000 == 999:
                time.sleep(0)  # let the others interleave (and the loop fall asleep)

    threads = [threading.Thread(target=producer, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()

    async def main():
        # The loop sleeps in the poller (a timer an hour away): only the wake-ups
        # of call_soon_threadsafe can make it run the callbacks.
        loop.call_later(3600, lambda: None)
        began = time.perf_counter()
        start.wait()
        await coroloop.wait_for(done, size(100, 550))
        return time.perf_counter() - began

    try:
        elapsed = loop.run_until_complete(main())
    finally:
        for t in threads:
            t.join(60)
        loop.close()
    total = THREADS * CALLS
    figure(f"{total / elapsed:,.0f} calls/s ({THREADS} threads x {CALLS:,} calls, "
           "each run exactly once, per-thread FIFO)", calls_per_s=total / elapsed)
    for thread in range(THREADS):
        assert seen[thread] == list(range(CALLS)), f"thread {thread}: lost, repeated or reordered"

"""A cancellation storm over streams, queues, locks, conditions, events and sleeps.

Thousands of tasks block in every kind of wait coroloop has, then are cancelled in
random order over a few loop iterations, some while their wait is being satisfied.
Afterwards nothing may be left behind: no task pending, no descriptor open that was
not open before, every primitive usable again with its state intact.
"""

from __future__ import annotations

import asyncio
import gc
import random
import time

import pytest

import coroloop
from stress_helpers import open_fds, size

TASKS = size(2_000, 16_000)  # about two in three are still waiting when cancelled
STREAMS = size(50, 200)
SEED = 1412


@pytest.mark.timeout(size(180, 900))
def test_cancellation_storm_leaves_nothing_behind(figure):
    rng = random.Random(SEED)
    fds_before = open_fds()

    async def main():
        lock = coroloop.Lock()
        sem = coroloop.Semaphore(3)
        cond = coroloop.Condition()
        event = coroloop.Event()
        empty = coroloop.Queue()
        full = coroloop.Queue(maxsize=1)
        full.put_nowait("kept")

        held = coroloop.Event()

        async def silent(reader, writer):  # a server that never answers
            held_writers.append(writer)
            try:
                await reader.read()
            except (ConnectionError, coroloop.CancelledError):
                pass
            finally:
                writer.close()

        held_writers = []
        server = await coroloop.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        streams = [await coroloop.open_connection("127.0.0.1", port) for _ in range(STREAMS)]

        async def hold_lock():
            async with lock:
                held.set()
                await coroloop.sleep(3600)

        async def condition_wait():
            async with cond:
                await cond.wait()

        async def in_timeout():
            async with coroloop.timeout(3600):
                await event.wait()

        async def gathered():
            await coroloop.gather(coroloop.sleep(3600), empty.get())

        async def shielded():
            await coroloop.shield(coroloop.sleep(rng.random() / 100))

        async def stream_read(reader):
            await reader.readexactly(1 << 20)

        waits = [
            lambda: lock.acquire(), lambda: sem.acquire(), condition_wait,
            lambda: event.wait(), lambda: empty.get(), lambda: full.put("extra"),
            lambda: coroloop.sleep(rng.random() * 3600), lambda: coroloop.sleep(0),
            lambda: coroloop.wait_for(empty.get(), 3600), in_timeout, gathered, shielded,
        ]
        holder = coroloop.ensure_future(hold_lock())
        await held.wait()
        for _ in range(3):
            await sem.acquire()  # the semaphore is exhausted: acquirers wait

        tasks = [coroloop.ensure_future(stream_read(reader)) for reader, _ in streams]
        tasks += [coroloop.ensure_future(rng.choice(waits)()) for _ in range(TASKS)]
        await coroloop.sleep(0)
        await coroloop.sleep(0)
        order = list(tasks)
        rng.shuffle(order)
        started = time.perf_counter()
        cancelled = 0
        # Waves of cancellations, with wake-ups racing them: items and releases
        # handed to waiters that are being cancelled in the same iteration.
        for wave in range(0, len(order), max(1, len(order) // 20)):
            for task in order[wave:wave + max(1, len(order) // 20)]:
                cancelled += task.cancel()
            empty.put_nowait(wave)
            sem.release()
            event.set()
            event.clear()
            async with cond:
                cond.notify(2)
            await coroloop.sleep(0)
        results = await coroloop.gather(*tasks, return_exceptions=True)
        elapsed = time.perf_counter() - started
        holder.cancel()
        await coroloop.gather(holder, return_exceptions=True)

        # Every primitive still works, and kept its state.
        assert not lock.locked()
        await coroloop.wait_for(lock.acquire(), 10)
        lock.release()
        while not sem.locked():  # the releases above went to waiters or stayed
            await coroloop.wait_for(sem.acquire(), 10)
        assert full.qsize() == 1 and full.get_nowait() == "kept"  # no putter got in
        while not empty.empty():
            empty.get_nowait()
        empty.put_nowait("after")
        assert await coroloop.wait_for(empty.get(), 10) == "after"
        waiter = coroloop.ensure_future(condition_wait())
        await coroloop.sleep(0)
        async with cond:
            cond.notify_all()
        await coroloop.wait_for(waiter, 10)

        for _, writer in streams:
            writer.close()
            await writer.wait_closed()
        server.close()
        await server.wait_closed()
        await coroloop.sleep(0)
        pending = [t for t in coroloop.all_tasks() if t is not coroloop.current_task()]
        errors = [r for r in results if isinstance(r, BaseException)
                  and not isinstance(r, coroloop.CancelledError)]
        return cancelled, elapsed, pending, errors

    cancelled, elapsed, pending, errors = coroloop.run(main())
    gc.collect()
    leaked = open_fds() - fds_before
    figure(f"{cancelled:,} cancellations in {elapsed:.2f} s ({cancelled / elapsed:,.0f}/s), "
           f"{len(pending)} tasks pending, {len(leaked)} fds leaked afterwards",
           cancellations=cancelled, per_s=cancelled / elapsed, pending=len(pending),
           fds_leaked=len(leaked))
    assert not pending, pending
    assert not errors, errors[:5]
    assert not leaked, leaked
    assert cancelled > TASKS // 2

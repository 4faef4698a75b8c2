"""wait_all_tasks_blocked and Sequencer (coroloop.testing)."""

from __future__ import annotations

import asyncio

import pytest

from coroloop.testing import RandomOrder, Sequencer, simulate, wait_all_tasks_blocked


def test_wait_all_tasks_blocked_returns_once_the_others_wait(virtual_loop):
    async def main():
        log = []
        lock = asyncio.Lock()
        event = asyncio.Event()

        async def chain(n):
            for _ in range(n):
                await asyncio.sleep(0)
            log.append(f"chain{n}")
            async with lock:
                await event.wait()

        async def sleeper():
            await asyncio.sleep(10)
            log.append("slept")

        tasks = [asyncio.create_task(chain(n)) for n in (1, 5, 20)]
        tasks.append(asyncio.create_task(sleeper()))
        started = asyncio.get_running_loop().time()
        await wait_all_tasks_blocked()
        assert log == ["chain1", "chain5", "chain20"]  # all ran until blocked
        assert asyncio.get_running_loop().time() == started  # time stood still
        event.set()
        await asyncio.gather(*tasks)
        assert log[-1] == "slept"

    virtual_loop.run_until_complete(main())


def test_wait_all_tasks_blocked_cushion_is_loop_time(virtual_loop):
    async def main():
        loop = asyncio.get_running_loop()
        woke = []

        async def later():
            await asyncio.sleep(0.5)
            woke.append(loop.time())
            await asyncio.sleep(0)

        task = asyncio.create_task(later())
        await wait_all_tasks_blocked(cushion=1.0)
        # The sleeper woke during the first cushion, so a second one was waited.
        assert woke == [0.5] and loop.time() == 2.0
        await task

    virtual_loop.run_until_complete(main())


def test_wait_all_tasks_blocked_under_a_random_schedule():
    async def main():
        flags = []

        async def worker(i):
            for _ in range(i):
                await asyncio.sleep(0)
            flags.append(i)
            await asyncio.Event().wait()

        tasks = [asyncio.create_task(worker(i)) for i in range(6)]
        await wait_all_tasks_blocked()
        for task in tasks:
            task.cancel()
        return sorted(flags)

    for seed in range(5):
        assert simulate(main, seed=seed).result == list(range(6))


def test_wait_all_tasks_blocked_checks_its_argument_and_loop(loop):
    with pytest.raises(ValueError, match="cushion"):
        loop.run_until_complete(wait_all_tasks_blocked(-1))
    with pytest.raises(TypeError, match="coroloop's event loop"):
        asyncio.run(wait_all_tasks_blocked())


def test_sequencer_forces_the_order_under_every_schedule():
    async def main():
        seq = Sequencer()
        log = []

        async def a():
            async with seq(0):
                log.append("a0")
            async with seq(3):
                log.append("a3")

        async def b():
            async with seq(1):
                await asyncio.sleep(0)
                log.append("b1")

        async def c():
            async with seq(2):
                log.append("c2")

        await asyncio.gather(c(), b(), a())
        return log

    for seed in range(10):
        assert simulate(main, seed=seed, policy=RandomOrder(seed)).result == \
            ["a0", "b1", "c2", "a3"]


def test_sequencer_errors(virtual_loop):
    async def main():
        seq = Sequencer()
        async with seq(0):
            pass
        with pytest.raises(RuntimeError, match="already used"):
            async with seq(0):
                pass
        with pytest.raises(KeyError):
            async with seq(1):
                raise KeyError("boom")
        with pytest.raises(RuntimeError, match="earlier block failed"):
            async with seq(2):
                pass
        with pytest.raises(ValueError, match="position"):
            async with seq(-1):
                pass

    virtual_loop.run_until_complete(main())


def test_sequencer_cancelled_waiter_does_not_hang_later_positions(virtual_loop):
    async def main():
        seq = Sequencer()

        async def wait_at(n):
            async with seq(n):
                pass

        one = asyncio.create_task(wait_at(1))
        two = asyncio.create_task(wait_at(2))
        await asyncio.sleep(0)
        one.cancel()
        with pytest.raises(RuntimeError, match="earlier block failed"):
            await two
        with pytest.raises(asyncio.CancelledError):
            await one

    virtual_loop.run_until_complete(main())

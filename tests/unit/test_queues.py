"""Tests of coroloop's queues (coroloop._api.queues).

Every test body runs on stdlib asyncio's loop and on coroloop's loop.  Tests step the
scheduler with ``sleep(0)``; there are no real sleeps.
"""

from __future__ import annotations

import asyncio
import re
import sys
import types

import pytest

import coroloop
from coroloop._api.queues import (LifoQueue, PriorityQueue, Queue, QueueEmpty, QueueFull,
                                  QueueShutDown)

pytestmark = pytest.mark.timeout(10)

LOOP_FACTORIES = [
    pytest.param(asyncio.new_event_loop, id="asyncio-loop"),
    pytest.param(coroloop.new_event_loop, id="coroloop-loop"),
]


@pytest.fixture(params=LOOP_FACTORIES)
def run(request):
    """``run(async_fn)``: run ``async_fn()`` to completion on a fresh loop, then close it."""
    factory = request.param

    def runner(async_fn):
        loop = factory()
        try:
            return loop.run_until_complete(async_fn())
        finally:
            loop.close()

    return runner


async def step(n=1):
    for _ in range(n):
        await asyncio.sleep(0)


def spawn(coro):
    return asyncio.get_running_loop().create_task(coro)


async def finish(*tasks):
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


# -- no loop needed --------------------------------------------------------------------------


def test_exceptions_are_shared_with_asyncio():
    assert QueueEmpty is asyncio.QueueEmpty
    assert QueueFull is asyncio.QueueFull
    if sys.version_info >= (3, 13):
        assert QueueShutDown is asyncio.QueueShutDown
    else:
        assert issubclass(QueueShutDown, Exception)


def test_loop_argument_is_rejected():
    for cls in (Queue, PriorityQueue, LifoQueue):
        with pytest.raises(TypeError):
            cls(loop=object())


def test_generic_alias():
    alias = Queue[int]
    assert isinstance(alias, types.GenericAlias)
    assert alias.__origin__ is Queue and alias.__args__ == (int,)
    assert PriorityQueue[tuple[int, str]].__origin__ is PriorityQueue


def test_nowait_fifo_and_sizes():
    q = Queue(maxsize=2)
    assert q.maxsize == 2 and q.empty() and not q.full() and q.qsize() == 0
    q.put_nowait("a")
    q.put_nowait("b")
    assert q.full() and q.qsize() == 2
    with pytest.raises(QueueFull):
        q.put_nowait("c")
    assert [q.get_nowait(), q.get_nowait()] == ["a", "b"]
    with pytest.raises(QueueEmpty):
        q.get_nowait()


@pytest.mark.parametrize("maxsize", [0, -1])
def test_unbounded(maxsize):
    q = Queue(maxsize)
    for i in range(1000):
        q.put_nowait(i)
    assert not q.full() and q.qsize() == 1000


def test_priority_and_lifo_order():
    pq, lq = PriorityQueue(), LifoQueue()
    for item in [3, 1, 2]:
        pq.put_nowait(item)
        lq.put_nowait(item)
    assert [pq.get_nowait() for _ in range(3)] == [1, 2, 3]
    assert [lq.get_nowait() for _ in range(3)] == [2, 1, 3]


def test_repr_and_str():
    q = Queue()
    assert re.fullmatch(r"<Queue at 0x[0-9a-f]+ maxsize=0>", repr(q))
    assert str(q) == "<Queue maxsize=0>"
    q.put_nowait(1)
    q.put_nowait("x")
    assert str(q) == "<Queue maxsize=0 _queue=[1, 'x'] tasks=2>"
    q.get_nowait()
    q.task_done()
    q.shutdown()
    assert str(q) == "<Queue maxsize=0 _queue=['x'] tasks=1 shutdown>"
    assert str(LifoQueue(3)) == "<LifoQueue maxsize=3>"


def test_repr_matches_asyncio():
    # Same format as asyncio's, so logs and doctests read the same.
    ours, theirs = Queue(5), asyncio.Queue(5)
    for q in (ours, theirs):
        q.put_nowait((1, "a"))
    assert str(ours) == str(theirs)


def test_task_done_too_many_times():
    q = Queue()
    with pytest.raises(ValueError, match=r"^task_done\(\) called too many times$"):
        q.task_done()
    q.put_nowait(1)
    q.get_nowait()
    q.task_done()
    with pytest.raises(ValueError):
        q.task_done()


# -- blocking get / put ----------------------------------------------------------------------


def test_get_waits_for_put_fifo(run):
    async def main():
        q = Queue()
        getters = [spawn(q.get()) for _ in range(3)]
        await step()
        assert str(q) == "<Queue maxsize=0 _getters[3]>"
        for item in "abc":
            await q.put(item)
        assert await asyncio.gather(*getters) == ["a", "b", "c"]
        assert str(q) == "<Queue maxsize=0 tasks=3>"

    run(main)


def test_put_waits_for_room_fifo(run):
    async def main():
        q = Queue(1)
        await q.put(0)
        putters = [spawn(q.put(i)) for i in (1, 2, 3)]
        await step()
        assert str(q) == "<Queue maxsize=1 _queue=[0] _putters[3] tasks=1>"
        got = [await q.get() for _ in range(4)]
        assert got == [0, 1, 2, 3]
        await asyncio.gather(*putters)

    run(main)


def test_producer_consumer(run):
    async def main():
        q = Queue(3)
        received = []

        async def producer():
            for i in range(50):
                await q.put(i)
            await q.put(None)

        async def consumer():
            while (item := await q.get()) is not None:
                received.append(item)
                q.task_done()
            q.task_done()

        await asyncio.gather(producer(), consumer())
        await q.join()
        assert received == list(range(50))

    run(main)


def test_priority_queue_blocking(run):
    async def main():
        q = PriorityQueue()
        g = spawn(q.get())
        await step()
        q.put_nowait((2, "b"))
        q.put_nowait((1, "a"))
        # g was woken by the first put, but takes the smallest item when it runs.
        assert await g == (1, "a")

    run(main)


# -- cancellation races ----------------------------------------------------------------------


def test_cancel_getter_at_wakeup_passes_item_on(run):
    async def main():
        q = Queue()
        a, b = spawn(q.get()), spawn(q.get())
        await step()
        q.put_nowait("item")  # wakes a ...
        a.cancel()            # ... which is cancelled before it runs
        await step(2)
        assert a.cancelled()
        assert b.result() == "item"
        assert str(q) == "<Queue maxsize=0 tasks=1>"

    run(main)


def test_cancel_waiting_getter_is_forgotten(run):
    async def main():
        q = Queue()
        a, b = spawn(q.get()), spawn(q.get())
        await step()
        a.cancel()
        await step()
        assert str(q) == "<Queue maxsize=0 _getters[1]>"
        q.put_nowait(1)
        assert await b == 1
        assert str(q) == "<Queue maxsize=0 tasks=1>"

    run(main)


def test_cancel_putter_at_wakeup_passes_room_on(run):
    async def main():
        q = Queue(1)
        q.put_nowait("first")
        a, b = spawn(q.put("a")), spawn(q.put("b"))
        await step()
        assert q.get_nowait() == "first"  # wakes a ...
        a.cancel()                        # ... which is cancelled before it runs
        await step(2)
        assert a.cancelled() and b.done()
        assert q.get_nowait() == "b"
        assert str(q) == "<Queue maxsize=1 tasks=2>"

    run(main)


def test_cancel_waiting_putter_is_forgotten(run):
    async def main():
        q = Queue(1)
        q.put_nowait(0)
        a, b = spawn(q.put("a")), spawn(q.put("b"))
        await step()
        a.cancel()
        await step()
        assert str(q) == "<Queue maxsize=1 _queue=[0] _putters[1] tasks=1>"
        assert await q.get() == 0
        assert await q.get() == "b"

    run(main)


def test_woken_getter_can_lose_item_to_get_nowait(run):
    # asyncio semantics: a woken getter re-checks and waits again if the item is gone.
    async def main():
        q = Queue()
        g = spawn(q.get())
        await step()
        q.put_nowait(1)
        assert q.get_nowait() == 1
        await step()
        assert not g.done()
        assert str(q) == "<Queue maxsize=0 _getters[1] tasks=1>"
        q.put_nowait(2)
        assert await g == 2

    run(main)


def test_cancel_join(run):
    async def main():
        q = Queue()
        q.put_nowait(1)
        j1, j2 = spawn(q.join()), spawn(q.join())
        await step()
        j1.cancel()
        await step()
        q.get_nowait()
        q.task_done()
        await j2
        assert j1.cancelled()

    run(main)


# -- task_done / join ------------------------------------------------------------------------


def test_join(run):
    async def main():
        q = Queue()
        await q.join()  # nothing to wait for
        for i in range(3):
            q.put_nowait(i)
        joiners = [spawn(q.join()) for _ in range(2)]
        for _ in range(3):
            await step()
            assert not any(j.done() for j in joiners)
            q.get_nowait()
            q.task_done()
        await asyncio.gather(*joiners)
        assert str(q) == "<Queue maxsize=0>"

    run(main)


def test_join_released_even_if_put_follows(run):
    async def main():
        q = Queue()
        q.put_nowait(1)
        j = spawn(q.join())
        await step()
        q.get_nowait()
        q.task_done()
        q.put_nowait(2)  # a new item before the joiner runs does not un-release it
        await j

    run(main)


# -- shutdown --------------------------------------------------------------------------------


def test_shutdown_put_raises(run):
    async def main():
        q = Queue()
        q.shutdown()
        with pytest.raises(QueueShutDown):
            q.put_nowait(1)
        with pytest.raises(QueueShutDown):
            await q.put(1)
        with pytest.raises(QueueShutDown):
            q.get_nowait()
        with pytest.raises(QueueShutDown):
            await q.get()

    run(main)


def test_shutdown_gets_drain_remaining_items(run):
    async def main():
        q = Queue()
        for i in range(2):
            q.put_nowait(i)
        q.shutdown()
        assert await q.get() == 0
        assert q.get_nowait() == 1
        with pytest.raises(QueueShutDown):
            await q.get()
        with pytest.raises(QueueShutDown):
            q.get_nowait()

    run(main)


def test_shutdown_wakes_blocked_getters_and_putters(run):
    async def main():
        empty, full = Queue(), Queue(1)
        full.put_nowait("x")
        getters = [spawn(empty.get()) for _ in range(2)]
        putters = [spawn(full.put(i)) for i in range(2)]
        await step()
        empty.shutdown()
        full.shutdown()
        results = await asyncio.gather(*getters, *putters, return_exceptions=True)
        assert all(isinstance(r, QueueShutDown) for r in results), results
        assert full.get_nowait() == "x"
        assert str(empty) == "<Queue maxsize=0 shutdown>"

    run(main)


def test_shutdown_immediate_releases_join(run):
    async def main():
        q = Queue()
        for i in range(3):
            q.put_nowait(i)
        q.get_nowait()  # taken, never marked done
        joiner = spawn(q.join())
        await step()
        q.shutdown(immediate=True)
        assert q.empty()
        await step()
        # The taken item is still unfinished: join() waits for its task_done().
        assert not joiner.done()
        assert str(q) == "<Queue maxsize=0 tasks=1 shutdown>"
        q.task_done()
        await joiner
        with pytest.raises(QueueShutDown):
            q.get_nowait()
        with pytest.raises(ValueError):
            q.task_done()

    run(main)


def test_shutdown_immediate_wakes_joiners_when_all_discarded(run):
    async def main():
        q = Queue()
        q.put_nowait(1)
        joiner = spawn(q.join())
        getter_q = Queue()
        getter = spawn(getter_q.get())
        await step()
        q.shutdown(immediate=True)
        getter_q.shutdown(immediate=True)
        await joiner
        with pytest.raises(QueueShutDown):
            await getter

    run(main)


def test_shutdown_woken_getter_cancelled(run):
    async def main():
        q = Queue()
        a = spawn(q.get())
        await step()
        q.shutdown()
        a.cancel()
        await step()
        assert a.cancelled()

    run(main)


def test_shutdown_is_idempotent(run):
    async def main():
        q = Queue()
        q.shutdown()
        q.shutdown(immediate=True)
        assert str(q) == "<Queue maxsize=0 shutdown>"

    run(main)


# -- loop binding ----------------------------------------------------------------------------


def test_bound_to_first_loop_that_waits(run):
    q = Queue()

    async def wait_once():
        g = spawn(q.get())
        await step()
        q.put_nowait(1)
        await g

    run(wait_once)
    q2 = Queue()

    async def nowait_only():
        q2.put_nowait(1)
        return q2.get_nowait()

    with pytest.raises(RuntimeError, match="is bound to a different event loop"):
        run(wait_once)
    # Operations that never wait do not check the loop.
    assert run(nowait_only) == 1
    assert run(nowait_only) == 1


# -- interop: a coroloop Queue inside a stdlib asyncio program -------------------------------


def test_queue_under_asyncio_run():
    async def main():
        q = Queue(2)
        out = []

        async def consume():
            while True:
                out.append(await q.get())
                q.task_done()

        c = asyncio.create_task(consume())
        for i in range(10):
            await q.put(i)
        await q.join()
        c.cancel()
        return out

    assert asyncio.run(main()) == list(range(10))

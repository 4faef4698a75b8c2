"""Tests of coroloop's synchronization primitives (coroloop._api.locks).

Every test body runs on stdlib asyncio's loop and on coroloop's loop: the primitives
depend only on the running loop and ``loop.create_future()``, so they must behave the
same on both.  Tests step the scheduler with ``sleep(0)``; there are no real sleeps.
"""

from __future__ import annotations

import asyncio
import sys
import re

import pytest

import coroloop
from coroloop._api.locks import (Barrier, BoundedSemaphore, BrokenBarrierError, Condition,
                                 Event, Lock, Semaphore)

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
    """Let every ready task run *n* times."""
    for _ in range(n):
        await asyncio.sleep(0)


def spawn(coro):
    return asyncio.get_running_loop().create_task(coro)


async def finish(*tasks):
    """Cancel what is left of *tasks* and wait for them, so no task outlives its loop."""
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


REPR = re.compile(r"^<coroloop\.(\w+) object at 0x[0-9a-f]+ \[(.*)\]>$")


def repr_state(obj):
    match = REPR.match(repr(obj))
    assert match, repr(obj)
    assert match.group(1) == type(obj).__name__
    return match.group(2)


# -- construction and misuse (no loop needed) ----------------------------------------------


@pytest.mark.parametrize("cls", [Lock, Event, Condition, Semaphore, BoundedSemaphore])
def test_loop_argument_is_rejected(cls):
    with pytest.raises(TypeError, match=rf"{cls.__name__}.__init__\(\) got an unexpected keyword argument 'loop'"):
        cls(loop=object())


def test_barrier_loop_argument_is_rejected():
    with pytest.raises(TypeError):
        Barrier(2, loop=object())


def test_created_outside_a_loop():
    # Binding is lazy: building primitives at import time is fine.
    prims = [Lock(), Event(), Condition(), Semaphore(), BoundedSemaphore(), Barrier(1)]
    assert [p._loop for p in prims] == [None] * 6


def test_semaphore_negative_value():
    with pytest.raises(ValueError, match="Semaphore initial value must be >= 0"):
        Semaphore(-1)
    with pytest.raises(ValueError):
        BoundedSemaphore(-1)
    Semaphore(0)  # zero is allowed


@pytest.mark.parametrize("parties", [0, -1])
def test_barrier_parties_must_be_positive(parties):
    # asyncio's words: "parties must be > 0" up to 3.13, "parties must be >= 1" from 3.14.
    expected = "parties must be >= 1" if sys.version_info >= (3, 14) else "parties must be > 0"
    with pytest.raises(ValueError, match=expected):
        Barrier(parties)


def test_release_unlocked_lock():
    with pytest.raises(RuntimeError, match=r"^Lock is not acquired\.$"):
        Lock().release()


def test_bounded_semaphore_over_release():
    sem = BoundedSemaphore(2)
    with pytest.raises(ValueError, match="BoundedSemaphore released too many times"):
        sem.release()


def test_condition_requires_the_lock():
    cond = Condition()
    with pytest.raises(RuntimeError, match="cannot notify on un-acquired lock"):
        cond.notify()
    with pytest.raises(RuntimeError, match="cannot notify on un-acquired lock"):
        cond.notify_all()


def test_condition_wait_requires_the_lock(run):
    async def main():
        cond = Condition()
        with pytest.raises(RuntimeError, match="cannot wait on un-acquired lock"):
            await cond.wait()

    run(main)


# -- loop binding ----------------------------------------------------------------------------


@pytest.mark.parametrize("make", [Lock, Semaphore, Event, Condition])
def test_bound_to_the_first_loop_that_waits(run, make):
    prim = make()

    async def block_once():
        # Make a task wait on the primitive, which binds it to this loop.
        if isinstance(prim, Event):
            t = spawn(prim.wait())
            await step()
            prim.set()
            await t
            prim.clear()
        elif isinstance(prim, Condition):
            async def waiter():
                async with prim:
                    await prim.wait()

            t = spawn(waiter())
            await step()
            async with prim:
                prim.notify()
            await t
        else:
            await prim.acquire()
            t = spawn(prim.acquire())
            await step()
            prim.release()
            await t
            prim.release()

    run(block_once)
    with pytest.raises(RuntimeError, match="is bound to a different event loop"):
        run(block_once)


def test_uncontended_use_does_not_bind(run):
    lock = Lock()

    async def main():
        async with lock:
            pass

    run(main)
    run(main)  # a second loop is fine: nothing ever waited
    assert lock._loop is None


# -- Lock ------------------------------------------------------------------------------------


def test_lock_basics(run):
    async def main():
        lock = Lock()
        assert not lock.locked()
        assert await lock.acquire() is True
        assert lock.locked()
        lock.release()
        assert not lock.locked()
        async with lock as bound:
            assert bound is None
            assert lock.locked()
        assert not lock.locked()

    run(main)


def test_lock_released_on_exception_in_async_with(run):
    async def main():
        lock = Lock()
        with pytest.raises(ZeroDivisionError):
            async with lock:
                1 / 0
        assert not lock.locked()

    run(main)


def test_lock_repr(run):
    async def main():
        lock = Lock()
        assert repr_state(lock) == "unlocked"
        await lock.acquire()
        assert repr_state(lock) == "locked"
        waiters = [spawn(lock.acquire()) for _ in range(2)]
        await step()
        assert repr_state(lock) == "locked, waiters:2"
        await finish(*waiters)
        assert repr_state(lock) == "locked"

    run(main)


def test_subclass_repr_names_its_module():
    class MyLock(Lock):
        pass

    assert repr(MyLock()).startswith(f"<{__name__}.test_subclass_repr_names_its_module.<locals>.MyLock object at 0x")


def test_lock_fifo(run):
    async def main():
        lock = Lock()
        order = []

        async def worker(name):
            async with lock:
                order.append(name)
                await step()

        await lock.acquire()
        tasks = [spawn(worker(i)) for i in range(5)]
        await step()
        lock.release()
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2, 3, 4]

    run(main)


def test_lock_not_stolen_by_newcomer(run):
    # release() wakes the head waiter; until it runs, locked() is False, yet a newcomer
    # must queue behind it instead of taking the lock.
    async def main():
        lock = Lock()
        order = []

        async def waiter():
            async with lock:
                order.append("waiter")

        await lock.acquire()
        t = spawn(waiter())
        await step()
        lock.release()
        assert not lock.locked()
        await lock.acquire()  # must not succeed before the woken waiter
        order.append("newcomer")
        lock.release()
        await t
        assert order == ["waiter", "newcomer"]

    run(main)


def test_lock_cancel_at_wakeup_passes_lock_on(run):
    async def main():
        lock = Lock()
        await lock.acquire()
        a = spawn(lock.acquire())
        b = spawn(lock.acquire())
        await step()
        lock.release()  # wakes a ...
        a.cancel()      # ... which is cancelled before it runs
        await step(2)
        assert a.cancelled()
        assert b.done() and b.result() is True
        assert lock.locked()
        assert repr_state(lock) == "locked"
        lock.release()

    run(main)


def test_lock_cancel_and_release_race_takes_lock_once(run):
    async def main():
        lock = Lock()
        taken = []

        async def take(name):
            await lock.acquire()
            taken.append(name)

        await lock.acquire()
        tasks = [spawn(take(i)) for i in range(3)]
        await step()

        def trigger():
            tasks[0].cancel()
            lock.release()

        asyncio.get_running_loop().call_soon(trigger)
        with pytest.raises(asyncio.CancelledError):
            await tasks[0]
        await step(2)
        assert taken == [1]
        assert not tasks[2].done()
        await finish(tasks[2])

    run(main)


def test_lock_cancelled_waiter_not_woken(run):
    async def main():
        lock = Lock()
        await lock.acquire()
        a = spawn(lock.acquire())
        b = spawn(lock.acquire())
        await step()
        a.cancel()
        await step()
        lock.release()
        await step()
        assert a.cancelled() and b.result() is True
        lock.release()

    run(main)


def test_lock_all_waiters_cancelled_newcomer_jumps_in(run):
    async def main():
        lock = Lock()
        await lock.acquire()
        waiters = [spawn(lock.acquire()) for _ in range(2)]
        await step()
        for w in waiters:
            w.cancel()
        lock.release()
        # The cancelled waiters have not run yet; nobody is entitled to the lock.
        assert await lock.acquire() is True
        await step()
        assert all(w.cancelled() for w in waiters)
        assert repr_state(lock) == "locked"
        lock.release()

    run(main)


def test_lock_exception_thrown_into_woken_waiter_passes_lock_on(run):
    async def main():
        lock = Lock()
        await lock.acquire()
        coro = lock.acquire()
        fut_a = coro.send(None)  # a bare coroutine: we play the task
        b = spawn(lock.acquire())
        await step()
        lock.release()
        assert fut_a.done()
        with pytest.raises(KeyError):
            coro.throw(KeyError("boom"))
        await step()
        assert b.result() is True

    run(main)


# -- Event -----------------------------------------------------------------------------------


def test_event(run):
    async def main():
        ev = Event()
        assert not ev.is_set()
        assert repr_state(ev) == "unset"
        waiters = [spawn(ev.wait()) for _ in range(3)]
        await step()
        assert repr_state(ev) == "unset, waiters:3"
        waiters[1].cancel()
        await step()
        ev.set()
        ev.set()  # idempotent
        assert repr_state(ev).startswith("set")
        await step()
        assert [w.result() for w in (waiters[0], waiters[2])] == [True, True]
        assert repr_state(ev) == "set"
        assert await ev.wait() is True
        ev.clear()
        assert not ev.is_set()
        w = spawn(ev.wait())
        await step()
        assert not w.done()
        ev.set()
        assert await w is True

    run(main)


def test_event_set_then_clear_still_wakes(run):
    async def main():
        ev = Event()
        w = spawn(ev.wait())
        await step()
        ev.set()
        ev.clear()
        assert await w is True

    run(main)


# -- Condition -------------------------------------------------------------------------------


def test_condition_notify_fifo(run):
    async def main():
        cond = Condition()
        order = []

        async def waiter(name):
            async with cond:
                await cond.wait()
                order.append(name)

        tasks = [spawn(waiter(i)) for i in range(4)]
        await step()
        assert repr_state(cond) == "unlocked, waiters:4"
        async with cond:
            cond.notify(2)
        await step(2)
        assert order == [0, 1]
        async with cond:
            cond.notify_all()
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2, 3]

    run(main)


def test_condition_wait_for(run):
    async def main():
        cond = Condition()
        box = []
        calls = 0

        def predicate():
            nonlocal calls
            calls += 1
            return len(box) >= 2 and box

        async def consumer():
            async with cond:
                return await cond.wait_for(predicate)

        t = spawn(consumer())
        for item in "ab":
            await step()
            async with cond:
                box.append(item)
                cond.notify()
        assert await t == ["a", "b"]
        assert calls == 3

    run(main)


def test_condition_wait_holds_lock_after_cancel(run):
    async def main():
        cond = Condition()
        seen = []

        async def waiter():
            async with cond:
                try:
                    await cond.wait()
                except asyncio.CancelledError:
                    seen.append(cond.locked())
                    raise

        t = spawn(waiter())
        await step()
        await cond.acquire()  # hold the lock: the cancelled waiter must wait for it
        t.cancel()
        await step(3)
        assert not t.done()
        cond.release()
        with pytest.raises(asyncio.CancelledError):
            await t
        assert seen == [True]
        assert not cond.locked()

    run(main)


def test_condition_cancel_at_notify_passes_notification(run):
    async def main():
        cond = Condition()
        woke = []

        async def waiter(name):
            async with cond:
                await cond.wait()
                woke.append(name)

        a, b = spawn(waiter("a")), spawn(waiter("b"))
        await step()
        async with cond:
            cond.notify(1)  # notifies a ...
            a.cancel()      # ... which is cancelled before it runs
        await step(4)
        assert a.cancelled()
        assert woke == ["b"]
        assert b.done()

    run(main)


def test_condition_shared_lock(run):
    async def main():
        lock = Lock()
        c1, c2 = Condition(lock), Condition(lock)
        async with c1:
            assert lock.locked() and c2.locked()
            assert repr_state(c2) == "locked"
        assert not c2.locked()

    run(main)


def test_condition_wait_wrong_loop_keeps_lock(run):
    cond = Condition()

    async def waiter():
        async with cond:
            await cond.wait()

    async def bind():
        t = spawn(waiter())
        await step()  # t waits on cond: cond is bound to this loop
        async with cond:
            cond.notify()
        await t

    async def elsewhere():
        async with cond:  # uncontended: no loop check
            with pytest.raises(RuntimeError, match="is bound to a different event loop"):
                await cond.wait()
            # The check comes before the lock is released.
            return cond.locked()

    run(bind)
    assert run(elsewhere) is True
    assert not cond.locked()


# -- Semaphore -------------------------------------------------------------------------------


def test_semaphore_basics(run):
    async def main():
        sem = Semaphore(2)
        assert repr_state(sem) == "unlocked, value:2"
        assert await sem.acquire() is True
        async with sem:
            assert sem.locked()
            assert repr_state(sem) == "locked"
        assert not sem.locked()
        sem.release()
        sem.release()  # plain Semaphore may go above its initial value
        assert repr_state(sem) == "unlocked, value:3"

    run(main)


def test_semaphore_fifo_and_repr(run):
    async def main():
        sem = Semaphore(0)
        order = []

        async def worker(i):
            await sem.acquire()
            order.append(i)

        tasks = [spawn(worker(i)) for i in range(4)]
        await step()
        assert repr_state(sem) == "locked, waiters:4"
        sem.release()
        sem.release()
        await step(2)
        assert order == [0, 1]
        assert repr_state(sem) == "locked, waiters:2"
        sem.release()
        sem.release()
        sem.release()
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2, 3]
        assert repr_state(sem) == "unlocked, value:1"

    run(main)


def test_semaphore_not_stolen_by_newcomer(run):
    async def main():
        sem = Semaphore(0)
        order = []

        async def waiter():
            async with sem:
                order.append("waiter")

        t = spawn(waiter())
        await step()
        sem.release()
        assert sem.locked()  # the permit is reserved for the woken waiter
        await sem.acquire()  # queues behind it
        order.append("newcomer")
        await t
        assert order == ["waiter", "newcomer"]

    run(main)


def test_semaphore_fifo_even_with_free_permits(run):
    async def main():
        sem = Semaphore(1)
        await sem.acquire()
        a = spawn(sem.acquire())
        await step()
        sem.release()
        sem.release()  # one permit for a, one free ...
        # ... but a has not run yet; its entry still queues newcomers (FIFO).
        assert sem.locked()
        b = spawn(sem.acquire())
        await step(3)
        assert a.result() is True and b.result() is True
        assert repr_state(sem) == "locked"

    run(main)


def test_semaphore_cancel_at_wakeup_passes_permit_on(run):
    async def main():
        sem = Semaphore(0)
        a = spawn(sem.acquire())
        b = spawn(sem.acquire())
        c = spawn(sem.acquire())
        await step()
        sem.release()  # reserves the permit for a ...
        a.cancel()     # ... which gives it back
        await step(2)
        assert a.cancelled()
        assert b.result() is True
        assert not c.done()
        assert repr_state(sem) == "locked, waiters:1"
        await finish(c)
        assert repr_state(sem) == "locked"
        sem.release()
        assert repr_state(sem) == "unlocked, value:1"

    run(main)


def test_semaphore_many_released_some_cancelled(run):
    async def main():
        sem = Semaphore(0)
        tasks = [spawn(sem.acquire()) for _ in range(5)]
        await step()
        for _ in range(3):
            sem.release()
        tasks[0].cancel()
        tasks[2].cancel()
        await step(3)
        done = [t.result() for t in tasks if t.done() and not t.cancelled()]
        assert done == [True, True, True]
        assert sum(t.cancelled() for t in tasks) == 2
        assert repr_state(sem) == "locked"

    run(main)


def test_bounded_semaphore_release_with_waiters(run):
    async def main():
        sem = BoundedSemaphore(1)
        await sem.acquire()
        t = spawn(sem.acquire())
        await step()
        sem.release()  # handed to t
        with pytest.raises(ValueError):
            # The permit is reserved for t, so value is 0 and one more release is allowed
            # only after t releases; releasing twice now exceeds the bound once t is done.
            sem.release()
            sem.release()
        await t

    run(main)


# -- Barrier ---------------------------------------------------------------------------------


def test_barrier_rounds(run):
    async def main():
        barrier = Barrier(3)
        assert barrier.parties == 3 and barrier.n_waiting == 0 and not barrier.broken
        assert repr_state(barrier) == "filling, waiters:0/3"
        for _round in range(2):
            tasks = [spawn(barrier.wait()) for _ in range(2)]
            await step()
            assert barrier.n_waiting == 2
            assert repr_state(barrier) == "filling, waiters:2/3"
            async with barrier as index:
                assert index == 2
                assert repr_state(barrier).startswith("draining")
            assert sorted(await asyncio.gather(*tasks)) == [0, 1]
            assert repr_state(barrier) == "filling, waiters:0/3"

    run(main)


def test_barrier_next_round_waits_for_draining(run):
    async def main():
        barrier = Barrier(2)
        first = [spawn(barrier.wait()) for _ in range(2)]
        await step()  # first[1] trips the barrier; first[0] has not left yet
        late = spawn(barrier.wait())
        await step(4)
        assert sorted(t.result() for t in first) == [0, 1]
        assert not late.done() and barrier.n_waiting == 1
        assert await barrier.wait() == 1
        assert await late == 0

    run(main)


def test_barrier_abort_and_reset(run):
    async def main():
        barrier = Barrier(3)
        waiters = [spawn(barrier.wait()) for _ in range(2)]
        await step()
        await barrier.abort()
        assert barrier.broken
        assert repr_state(barrier) == "broken"
        for w in waiters:
            with pytest.raises(BrokenBarrierError):
                await w
        with pytest.raises(BrokenBarrierError):
            await barrier.wait()
        await barrier.reset()
        assert not barrier.broken
        assert repr_state(barrier) == "filling, waiters:0/3"
        tasks = [spawn(barrier.wait()) for _ in range(3)]
        assert sorted(await asyncio.gather(*tasks)) == [0, 1, 2]

    run(main)


def test_barrier_reset_while_waiting(run):
    async def main():
        barrier = Barrier(3)
        waiters = [spawn(barrier.wait()) for _ in range(2)]
        await step()
        await barrier.reset()
        assert repr_state(barrier).startswith("resetting")
        results = await asyncio.gather(*waiters, return_exceptions=True)
        assert all(isinstance(r, BrokenBarrierError) for r in results)
        assert repr_state(barrier) == "filling, waiters:0/3"
        assert not barrier.broken

    run(main)


def test_barrier_cancelled_waiter_leaves(run):
    async def main():
        barrier = Barrier(3)
        a, b = spawn(barrier.wait()), spawn(barrier.wait())
        await step()
        a.cancel()
        await step()
        assert a.cancelled()
        assert barrier.n_waiting == 1
        c, d = spawn(barrier.wait()), spawn(barrier.wait())
        # Indexes are arrival positions among the tasks inside: b arrived second.
        assert await asyncio.gather(b, c, d) == [1, 1, 2]

    run(main)


def test_brokenbarriererror_is_asyncios():
    assert BrokenBarrierError is asyncio.BrokenBarrierError


# -- interop: a coroloop primitive inside a stdlib asyncio program ---------------------------


def test_lock_under_asyncio_run():
    async def main():
        lock = Lock()
        total = 0

        async def add():
            nonlocal total
            async with lock:
                value = total
                await asyncio.sleep(0)
                total = value + 1

        await asyncio.gather(*(add() for _ in range(20)))
        return total

    assert asyncio.run(main()) == 20


@pytest.mark.parametrize("base", [Lock, Semaphore, BoundedSemaphore])
def test_subclass_overriding_acquire_is_used_by_async_with(run, base):
    calls = []

    class Counting(base):
        async def acquire(self):
            calls.append(1)
            return await super().acquire()

    async def main():
        prim = Counting()
        async with prim:
            pass
        async with prim:
            pass

    run(main)
    assert len(calls) == 2

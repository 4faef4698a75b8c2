"""Scheduling policies (coroloop.testing: FIFO, RandomOrder, PCT, ReplayOrder) and the
loop's scheduler seam: what a policy may reorder, and what it may not."""

from __future__ import annotations

import asyncio

import pytest

import coroloop
from coroloop.testing import FIFO, PCT, RandomOrder, ReplayOrder, VirtualClock


async def _workers(n=4, rounds=3):
    order = []

    async def worker(i):
        for k in range(rounds):
            order.append((i, k))
            await asyncio.sleep(0)

    await asyncio.gather(*(worker(i) for i in range(n)))
    return order


def _run(policy, main, clock=True):
    loop = coroloop.new_event_loop(scheduler=policy, clock=VirtualClock() if clock else None)
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def _rounds(order, rounds=3):
    """The worker numbers of each round, in the order they ran."""
    return [[i for i, k in order if k == r] for r in range(rounds)]


def test_fifo_is_asyncio_order_and_takes_the_fast_path():
    loop = coroloop.new_event_loop(scheduler=FIFO())
    try:
        assert loop._scheduler is None  # the loop never consults FIFO
        assert loop.run_until_complete(_workers()) == asyncio.run(_workers())
    finally:
        loop.close()


def test_random_order_is_a_function_of_the_seed():
    first = _run(RandomOrder(7), _workers)
    assert _run(RandomOrder(7), _workers) == first
    assert any(_run(RandomOrder(seed), _workers) != first for seed in range(8, 20))
    # Reordered within rounds only: every round still has each worker once.
    for round_ in _rounds(first):
        assert sorted(round_) == [0, 1, 2, 3]
    assert first != asyncio.run(_workers())


def test_pct_keeps_priorities_between_change_points():
    # depth=1: no change point, so one lane order holds in every round.
    rounds = _rounds(_run(PCT(3, depth=1), _workers))
    assert rounds[0] == rounds[1] == rounds[2]
    assert _rounds(_run(PCT(3, depth=1), _workers)) == rounds


def test_pct_change_point_demotes_the_running_lane():
    policy = PCT(5, depth=2, steps=4)  # one change point among the first 4 steps
    rounds = _rounds(_run(policy, _workers, clock=True))
    assert rounds[0] != rounds[2]  # the lane running at the change point went last
    assert rounds[2][-1] in rounds[0][:4]


def test_call_soon_callbacks_of_one_function_keep_their_order():
    async def main():
        loop = asyncio.get_running_loop()
        seen = []
        for i in range(20):
            loop.call_soon(seen.append, i)  # one lane: the list's bound method
        others = []
        for i in range(20):
            loop.call_soon(lambda i=i: others.append(i))  # twenty lanes
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return seen, others

    for seed in range(5):
        seen, others = _run(RandomOrder(seed), main)
        assert seen == list(range(20))
        assert sorted(others) == list(range(20))
    assert any(_run(RandomOrder(s), main)[1] != list(range(20)) for s in range(5))


def test_timers_with_different_deadlines_keep_deadline_order():
    async def main():
        loop = asyncio.get_running_loop()
        fired = []
        now = loop.time()
        for when in (3, 1, 2, 1, 3, 2):
            loop.call_at(now + when, fired.append, when)
        await asyncio.sleep(5)
        return fired

    for seed in range(10):
        assert _run(RandomOrder(seed), main) == [1, 1, 2, 2, 3, 3]


def test_timers_with_equal_deadlines_are_reordered():
    async def main():
        loop = asyncio.get_running_loop()
        fired = []
        for i in range(6):
            loop.call_later(1, lambda i=i: fired.append(i))
        await asyncio.sleep(2)
        return fired

    orders = {tuple(_run(RandomOrder(seed), main)) for seed in range(10)}
    assert len(orders) > 1 and all(sorted(o) == list(range(6)) for o in orders)


def test_io_events_of_one_poll_are_reordered():
    import socket

    async def main():
        loop = asyncio.get_running_loop()
        pairs = [socket.socketpair() for _ in range(5)]
        seen = []
        done = loop.create_future()
        try:
            for i, (a, b) in enumerate(pairs):
                a.setblocking(False)

                def on_readable(i=i, a=a):
                    a.recv(10)
                    loop.remove_reader(a)
                    seen.append(i)
                    if len(seen) == len(pairs):
                        done.set_result(None)

                loop.add_reader(a, on_readable)
            for _, b in pairs:
                b.send(b"x")
            await done
            return seen
        finally:
            for a, b in pairs:
                a.close()
                b.close()

    orders = {tuple(_run(RandomOrder(seed), main)) for seed in range(10)}
    assert len(orders) > 1


def test_replay_order_plays_decisions_back():
    policy = RandomOrder(11)
    first = _run(policy, _workers)
    replayed = ReplayOrder(policy.decisions)
    assert _run(replayed, _workers) == first
    assert replayed.trace_hash() == policy.trace_hash()
    assert not replayed.diverged


def test_bad_scheduler_is_refused_with_a_clear_error():
    with pytest.raises(TypeError, match="scheduling policy"):
        coroloop.new_event_loop(scheduler=object())


def test_bad_policy_order_fails_loudly():
    class Broken(RandomOrder):
        def order(self, lanes, counts, now):
            return [0] * sum(counts)

    policy = Broken(0)
    loop = coroloop.new_event_loop(scheduler=policy)
    main = loop.create_task(_workers())
    try:
        with pytest.raises(RuntimeError, match="not a permutation"):
            loop.run_until_complete(main)
    finally:
        policy.order = RandomOrder.order.__get__(policy)  # let the tasks finish
        loop.run_until_complete(main)
        loop.close()


def test_policy_arguments_are_checked():
    with pytest.raises(TypeError, match="seed must be an int"):
        RandomOrder("1")
    with pytest.raises(ValueError, match="depth"):
        PCT(0, depth=0)

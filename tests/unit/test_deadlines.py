"""Deadlines no float can break: NaN is due at once, inf and far-away ones never crash the poll.

The rule lives in ``coroloop/_core/loop.py`` ("Deadlines"); these are its regression
tests.  They run on a real clock, so they exercise the poll timeout itself -- except
the heap-order test, which is about order only and runs on virtual time.
"""

from __future__ import annotations

import asyncio
import math
import sys
import threading

import pytest

import coroloop

NAN = float("nan")


def run(coro_fn):
    return coroloop.run(coro_fn())


def run_idle_loop_with(schedule, seconds=0.2):
    """Run a loop whose only timer is the one *schedule(loop)* adds, until another
    thread stops it: the poll gets exactly that timer's timeout."""
    loop = coroloop.new_event_loop()
    try:
        schedule(loop)
        stopper = threading.Timer(seconds, loop.call_soon_threadsafe, (loop.stop,))
        stopper.start()
        try:
            loop.run_forever()
        finally:
            stopper.cancel()
    finally:
        loop.close()


@pytest.mark.parametrize("schedule", [
    lambda loop: loop.call_later(NAN, lambda: None),
    lambda loop: loop.call_at(loop.time() + NAN, lambda: None),
], ids=["call_later", "call_at"])
def test_nan_timer_runs_at_once_and_does_not_wedge_later_timers(schedule):
    async def main():
        loop = asyncio.get_running_loop()
        fired = []
        loop.call_later(0.01, fired.append, "before")
        nan_timer = schedule(loop)
        nan_timer._callback = lambda: fired.append("nan")
        loop.call_later(0.02, fired.append, "after")
        await asyncio.sleep(0.05)  # a timer after the NaN one must still fire
        assert math.isnan(nan_timer.when())  # when() keeps the NaN, as asyncio's
        return fired

    fired = run(main)
    assert fired[0] == "nan" and fired[1:] == ["before", "after"]


# On virtual time: on the real clock a loaded machine can take the 1 ms the first
# deadline is away just to schedule the timers, making it due with the NaN ones.
@pytest.mark.coroloop(virtual_time=True)
async def test_many_nan_timers_keep_the_heap_ordered():
    loop = asyncio.get_running_loop()
    fired = []
    base = loop.time()
    for i in range(20):
        loop.call_at(base + 0.001 * (20 - i), fired.append, 20 - i)
        loop.call_later(NAN, fired.append, "nan")
    await asyncio.sleep(0.05)
    numbers = [f for f in fired if f != "nan"]
    assert fired[:20] == ["nan"] * 20
    assert numbers == sorted(numbers)


def test_wait_for_nan_times_out_at_once():
    async def main():
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.sleep(3600), NAN)

    run(main)


def test_timeout_nan_expires_at_once():
    async def main():
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(NAN):
                await asyncio.sleep(3600)
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(10) as cm:
                cm.reschedule(NAN)
                await asyncio.sleep(3600)

    run(main)


@pytest.mark.skipif(sys.version_info < (3, 13), reason="3.13+: gh-105331")
def test_sleep_nan_raises_as_asyncio_313():
    async def main():
        with pytest.raises(ValueError, match=r"^Invalid delay: NaN \(not a number\)$"):
            await asyncio.sleep(NAN)

    run(main)


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="before 3.13 only")
def test_sleep_nan_returns_at_once_before_313():
    async def main():
        return await asyncio.sleep(NAN, "woke")

    assert run(main) == "woke"


@pytest.mark.parametrize("schedule", [
    lambda loop: loop.call_at(math.inf, lambda: None),
    lambda loop: loop.call_later(math.inf, lambda: None),
    lambda loop: loop.call_later(1e18, lambda: None),
    lambda loop: loop.call_at(1e300, lambda: None),
], ids=["call_at-inf", "call_later-inf", "call_later-1e18", "call_at-1e300"])
def test_far_away_timer_alone_does_not_overflow_the_poll(schedule):
    run_idle_loop_with(schedule)  # raised OverflowError from epoll.poll before


def test_far_away_sleep_timeout_and_wait_for_alone():
    async def sleeper(coro_fn):
        task = asyncio.ensure_future(coro_fn())
        await asyncio.get_running_loop().run_in_executor(None, threading.Event().wait, 0.2)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async def in_timeout():
        async with asyncio.timeout(1e18):
            await asyncio.Event().wait()

    async def in_wait_for():
        await asyncio.wait_for(asyncio.Event().wait(), 1e300)

    async def forever():
        await asyncio.sleep(math.inf)

    async def main():
        for coro_fn in (in_timeout, in_wait_for, forever):
            await sleeper(coro_fn)

    run(main)


def test_max_poll_timeout_is_asyncios():
    from coroloop._core import loop as core_loop
    from asyncio import base_events
    assert core_loop.MAX_POLL_TIMEOUT == base_events.MAXIMUM_SELECT_TIMEOUT


def test_negative_and_minus_inf_deadlines_run_at_once():
    async def main():
        loop = asyncio.get_running_loop()
        fired = []
        loop.call_later(-1, fired.append, "-1")
        loop.call_at(-math.inf, fired.append, "-inf")
        loop.call_later(-1e300, fired.append, "-1e300")
        await asyncio.sleep(0.01)
        return fired

    assert sorted(run(main)) == ["-1", "-1e300", "-inf"]


if sys.platform == "linux":
    def test_selector_poller_is_clamped_too():
        from coroloop._core.poller import SelectorPoller
        loop = coroloop.new_event_loop(poller=SelectorPoller())
        try:
            loop.call_at(math.inf, lambda: None)
            threading.Timer(0.2, loop.call_soon_threadsafe, (loop.stop,)).start()
            loop.run_forever()
        finally:
            loop.close()


# -- virtual time ----------------------------------------------------------------------
def test_virtual_clock_never_jumps_to_an_infinite_deadline():
    # An inf timer never fires: autojump must not move time to inf (which would fire
    # it, and every later timer at once, since inf + d == inf).
    from coroloop.testing import new_virtual_loop

    loop = new_virtual_loop()
    try:
        fired = []
        loop.call_at(math.inf, fired.append, "inf")
        loop.call_later(5, fired.append, "five")
        threading.Timer(0.2, loop.call_soon_threadsafe, (loop.stop,)).start()
        loop.run_forever()  # only the other thread's stop() ends it now
        assert fired == ["five"]
        assert loop.time() == 5
    finally:
        loop.close()

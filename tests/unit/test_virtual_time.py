"""coroloop.testing.VirtualClock: time that jumps instead of passing."""

from __future__ import annotations

import asyncio
import math
import socket
import threading
import time

import pytest

import coroloop
from coroloop.testing import VirtualClock, new_virtual_loop


# -- the clock on its own ----------------------------------------------------------------
def test_clock_starts_where_told_and_never_moves_by_itself():
    clock = VirtualClock(5.0)
    assert isinstance(clock, coroloop.Clock)
    assert clock.now == clock.time() == 5.0
    time.sleep(0.001)
    assert clock.time() == 5.0
    assert "5.0" in repr(clock)


def test_sleep_time_autojumps_to_the_deadline():
    clock = VirtualClock()
    assert clock.sleep_time(10.0) == 0
    assert clock.now == 10.0
    # A deadline already passed: no wait, and time never goes backwards.
    assert clock.sleep_time(3.0) == 0
    assert clock.now == 10.0


def test_sleep_time_without_deadline_blocks_on_io():
    clock = VirtualClock()
    assert clock.sleep_time(None) is None
    assert clock.now == 0


def test_manual_clock_does_not_jump():
    clock = VirtualClock(autojump=False)
    assert clock.sleep_time(10.0) is None
    assert clock.now == 0
    assert clock.advance(10.0) == 10.0
    assert clock.sleep_time(10.0) == 0


def test_advance():
    clock = VirtualClock()
    assert clock.advance(1.5) == 1.5
    assert clock.advance(0) == 1.5
    assert clock.now == 1.5
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="NaN"):
        clock.advance(math.nan)
    assert clock.now == 1.5


def test_new_virtual_loop_rejects_other_clocks():
    with pytest.raises(TypeError, match="VirtualClock"):
        new_virtual_loop(coroloop.MonotonicClock())


# -- on a loop ---------------------------------------------------------------------------
def test_sleeping_an_hour_takes_no_real_time(virtual_loop):
    loop = virtual_loop
    start = loop.time()
    real_start = time.monotonic()
    assert loop.run_until_complete(coroloop.sleep(3600, result="woke")) == "woke"
    assert loop.time() - start == 3600
    assert loop.clock.now == loop.time()
    assert time.monotonic() - real_start < 1.0


def test_asyncio_sleep_is_virtual_too(virtual_loop):
    loop = virtual_loop
    loop.run_until_complete(asyncio.sleep(86400))
    assert loop.time() == 86400


# Tests marked coroloop run through the pytest plugin: each on a fresh loop with a
# VirtualClock of its own (``virtual_time=True``).
@pytest.mark.coroloop(virtual_time=True)
async def test_sleeps_wake_in_deadline_order():
    loop = asyncio.get_running_loop()
    assert isinstance(loop.clock, VirtualClock)
    woke = []

    async def sleeper(name, delay):
        await coroloop.sleep(delay)
        woke.append((name, loop.time()))

    await asyncio.gather(sleeper("c", 3), sleeper("a", 1), sleeper("b", 2),
                         sleeper("a2", 1))
    assert woke == [("a", 1), ("a2", 1), ("b", 2), ("c", 3)]


@pytest.mark.coroloop(virtual_time=True)
async def test_timers_and_sleeps_interleave_by_deadline():
    loop = asyncio.get_running_loop()
    events = []
    loop.call_later(1.5, lambda: events.append(("timer", loop.time())))
    loop.call_at(2.5, lambda: events.append(("call_at", loop.time())))
    for _ in range(3):
        await coroloop.sleep(1)
        events.append(("sleep", loop.time()))
    assert events == [("sleep", 1), ("timer", 1.5), ("sleep", 2), ("call_at", 2.5),
                      ("sleep", 3)]


@pytest.mark.coroloop(virtual_time=True)
async def test_call_later_is_relative_to_current_virtual_time():
    loop = asyncio.get_running_loop()
    fired = []
    await coroloop.sleep(100)
    handle = loop.call_later(5, lambda: fired.append(loop.time()))
    assert handle.when() == 105
    await coroloop.sleep(10)
    assert fired == [105]


def test_ready_callbacks_run_before_time_jumps(virtual_loop):
    loop = virtual_loop
    events = []

    def chain(n):
        events.append(("soon", loop.time()))
        if n:
            loop.call_soon(chain, n - 1)

    loop.call_later(10, lambda: events.append(("timer", loop.time())))
    loop.call_soon(chain, 3)
    loop.call_later(11, loop.stop)
    loop.run_forever()
    assert events == [("soon", 0)] * 4 + [("timer", 10)]


def test_cancelled_timer_does_not_move_time(virtual_loop):
    loop = virtual_loop
    handle = loop.call_later(1000, print)
    handle.cancel()
    loop.call_later(1, loop.stop)
    loop.run_forever()
    assert loop.time() == 1


@pytest.mark.coroloop(virtual_time=True)
async def test_cancelled_sleep_does_not_move_time():
    loop = asyncio.get_running_loop()
    task = loop.create_task(coroloop.sleep(1000))
    await coroloop.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await coroloop.sleep(1)
    assert loop.time() == 1


@pytest.mark.coroloop(virtual_time=True)
async def test_timeouts_fire_in_virtual_time():
    loop = asyncio.get_running_loop()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(loop.create_future(), timeout=30)
    assert loop.time() == 30


def test_advance_by_hand_makes_timers_due(virtual_loop):
    loop = virtual_loop
    fired = []
    loop.call_later(50, lambda: fired.append(loop.time()))
    loop.clock.advance(60)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert fired == [60]  # due at once, seen at the (advanced) current time


def test_manual_clock_driven_from_a_task():
    loop = new_virtual_loop(VirtualClock(autojump=False))
    try:
        fired = []
        loop.call_later(5, fired.append, "fired")

        async def drive():
            seen = []
            for _ in range(8):
                await coroloop.sleep(0)
                seen.append((loop.time(), len(fired)))
                loop.clock.advance(1)
            return seen

        # The timer fires in the first iteration that starts at time >= 5.
        assert loop.run_until_complete(drive()) == [
            (0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 0), (6, 1), (7, 1)]
        assert loop.time() == 8
    finally:
        loop.close()


def test_io_still_works_on_virtual_time(virtual_loop):
    loop = virtual_loop
    a, b = socket.socketpair()
    try:
        a.setblocking(False)

        async def main():
            fut = loop.create_future()
            loop.add_reader(a, lambda: fut.set_result(a.recv(10)))
            try:
                # A thread writes after a real delay; no timer is pending, so the
                # loop really waits for I/O instead of jumping.
                threading.Timer(0.02, b.send, (b"data",)).start()
                return await fut
            finally:
                loop.remove_reader(a)

        assert loop.run_until_complete(main()) == b"data"
        assert loop.time() == 0
    finally:
        a.close()
        b.close()


def test_thread_wakeup_on_virtual_time(virtual_loop):
    loop = virtual_loop

    async def main():
        return await loop.run_in_executor(None, lambda: "from thread")

    assert loop.run_until_complete(main()) == "from thread"
    loop.run_until_complete(loop.shutdown_default_executor())


def test_virtual_time_with_coroloop_run():
    async def main():
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(7 * 86400)
        return loop.time() - start

    assert coroloop.run(main(), loop_factory=new_virtual_loop) == 7 * 86400


# -- autojump threshold: threads in flight ------------------------------------------------
def test_threshold_must_not_be_negative():
    with pytest.raises(ValueError, match="autojump_threshold"):
        VirtualClock(autojump_threshold=-1)


def test_threshold_waits_real_time_then_jumps():
    clock = VirtualClock(autojump_threshold=0.02)
    assert clock.sleep_time(100.0) == 0.02  # the poller blocks this long, for real
    assert clock.now == 0                    # no jump before the idle wait is over
    time.sleep(0.03)
    assert clock.time() == 100.0


def test_threshold_wait_cut_short_does_not_jump():
    clock = VirtualClock(autojump_threshold=5.0)
    clock.sleep_time(100.0)
    assert clock.time() == 0  # woken right away (I/O, a thread): time stays
    assert "autojump after 5.0s idle" in repr(clock)


def test_threshold_lets_thread_work_beat_a_virtual_timeout():
    """A zero threshold would expire this timeout at once: the clock cannot see
    the worker thread.  With a threshold the thread's wake-up arrives first."""
    release = threading.Event()

    async def main():
        loop = asyncio.get_running_loop()
        threading.Timer(0.01, release.set).start()
        value = await asyncio.wait_for(
            loop.run_in_executor(None, lambda: release.wait(5) and "thread"), 60)
        start = loop.time()
        await asyncio.sleep(3600)  # still virtual: one idle threshold, then a jump
        return value, start, loop.time() - start

    value, start, slept = coroloop.run(
        main(), loop_factory=lambda: new_virtual_loop(VirtualClock(autojump_threshold=0.3)))
    assert value == "thread"
    assert start == 0
    assert slept == 3600

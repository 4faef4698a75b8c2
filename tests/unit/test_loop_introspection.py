"""The loop's introspection for the detectors: wake_sources(), running_callback(),
main_future(), thread_id, Task.interrupt(), and the debug-mode tools seam."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest

import coroloop
from coroloop._core.instrument import Instruments
from coroloop._core.loop import WakeSources


def test_wake_sources_of_an_idle_loop(loop):
    sources = loop.wake_sources()
    assert sources == WakeSources(0, 0, None, (), 0) and not sources.can_wake


def test_wake_sources_count_ready_timers_and_descriptors(loop):
    handle = loop.call_soon(lambda: None)
    assert loop.wake_sources().ready == 1 and loop.wake_sources().can_wake
    handle.cancel()
    timer = loop.call_at(loop.time() + 100, lambda: None)
    sources = loop.wake_sources()
    assert sources.timers == 1 and sources.next_deadline == timer.when()
    timer.cancel()
    assert loop.wake_sources().timers == 0
    a, b = socket.socketpair()
    try:
        loop.add_reader(a, lambda: None)
        assert loop.wake_sources().fds == (a.fileno(),)
        loop.remove_reader(a)
    finally:
        a.close()
        b.close()
    loop.run_until_complete(asyncio.sleep(0))  # let the cancelled handle go
    assert not loop.wake_sources().can_wake


def test_wake_sources_count_executor_jobs_until_they_finish(loop):
    go = threading.Event()

    async def main():
        job = loop.run_in_executor(None, go.wait, 30)
        assert loop.wake_sources().thread_wakers == 1
        go.set()
        assert await job is True
        return loop.wake_sources().thread_wakers

    assert loop.run_until_complete(main()) == 0


def test_running_callback_names_the_item_and_its_iteration(loop):
    assert loop.running_callback() is None
    loop.track_running_callback(True)
    seen = []

    def callback():
        seen.append(loop.running_callback())

    async def main():
        handle = loop.call_soon(callback)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        seen.append(loop.running_callback())
        return handle

    task = loop.create_task(main())
    handle = loop.run_until_complete(task)
    (first_iteration, item), (later_iteration, stepping) = seen
    assert item is handle and stepping is task and later_iteration > first_iteration
    assert loop.running_callback() is None
    loop.track_running_callback(False)
    seen.clear()
    loop.run_until_complete(loop.create_task(main()))
    assert seen == [None, None]  # not tracked: nothing asked for it


def test_running_callback_is_kept_on_the_watched_path(loop):
    loop.set_debug(True)

    async def main():
        return loop.running_callback()

    task = loop.create_task(main())
    assert loop.run_until_complete(task)[1] is task


def test_running_callback_from_another_thread(loop):
    loop.track_running_callback(True)
    seen = []

    async def main():
        thread = threading.Thread(target=lambda: seen.append(loop.running_callback()))
        thread.start()
        thread.join()  # blocks the loop on purpose while the thread looks

    task = loop.create_task(main())
    loop.run_until_complete(task)
    assert seen[0][1] is task


def test_main_future_and_thread_id(loop):
    async def main():
        return loop.main_future(), loop.thread_id

    task = loop.create_task(main())
    assert loop.run_until_complete(task) == (task, threading.get_ident())
    assert loop.main_future() is None and loop.thread_id is None


def test_interrupt_raises_at_the_await_and_leaves_the_awaited_alone(loop):
    async def child():
        await asyncio.sleep(3600)

    async def parent(inner):
        try:
            await inner
        except LookupError as exc:
            return f"interrupted: {exc}"

    async def main():
        inner = loop.create_task(child())
        outer = loop.create_task(parent(inner))
        await asyncio.sleep(0)
        assert outer.interrupt(LookupError("stop"))
        result = await outer
        assert not inner.done()
        inner.cancel()
        return result

    assert loop.run_until_complete(main()) == "interrupted: stop"


def test_interrupt_on_a_foreign_future(loop):
    async def waiter(fut):
        try:
            await fut
        except KeyError:
            return "interrupted"

    async def main():
        fut = asyncio.Future(loop=loop)  # stdlib future: the task uses add_done_callback
        task = loop.create_task(waiter(fut))
        await asyncio.sleep(0)
        assert task.interrupt(KeyError("x"))
        result = await task
        fut.set_result(1)  # nobody waits any more: nothing runs
        await asyncio.sleep(0)
        return result

    assert loop.run_until_complete(main()) == "interrupted"


def test_interrupt_refuses_what_it_cannot_do(loop):
    async def main():
        done = loop.create_task(asyncio.sleep(0))
        await done
        assert done.interrupt(KeyError()) is False
        me = coroloop.current_task()
        assert me.interrupt(KeyError()) is False  # running, not suspended
        with pytest.raises(TypeError, match="needs an exception instance"):
            me.interrupt(KeyError)

    loop.run_until_complete(main())


def test_poller_hooks_only_keep_the_fast_path(loop):
    class PollOnly:
        def io_wait_started(self, timeout):
            pass

    class Steps:
        def task_stepped(self, task, started, ended):
            pass

    instruments = Instruments(loop)
    instruments.add(PollOnly())
    assert instruments.watch_ready is False
    instruments.add(Steps())
    assert instruments.watch_ready is True

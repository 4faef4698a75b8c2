"""The bridge to asyncio's bookkeeping (coroloop._bridge), on each Python version.

asyncio.current_task() / all_tasks() must see coroloop's tasks wherever CPython keeps
that state (a {loop: task} dict and a module-level WeakSet up to 3.13; the thread
state and a WeakSet in the C module's state from 3.14).
"""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import warnings

import pytest

import coroloop
from coroloop import _bridge


def test_asyncio_sees_coroloop_tasks_and_forgets_finished_ones(loop):
    seen = {}

    async def child():
        seen["current"] = asyncio.current_task()
        seen["listed"] = seen["current"] in asyncio.all_tasks()
        await coroloop.sleep(0)

    async def main():
        task = coroloop.create_task(child())
        await task
        return task

    task = loop.run_until_complete(coroloop.Task(main(), loop=loop))
    assert seen == {"current": task, "listed": True}
    assert asyncio.current_task(loop) is None
    assert task not in asyncio.all_tasks(loop)  # done: never listed


def test_tasks_of_a_loop_in_another_thread():
    # 3.14 keeps tasks per thread: asking from here about another thread's loop must
    # still list its coroloop tasks.
    inside = threading.Event()
    release = threading.Event()
    found = {}

    async def worker():
        found["task"] = asyncio.current_task()
        inside.set()
        while not release.is_set():
            await coroloop.sleep(0.001)

    def run_other_loop():
        other = coroloop.new_event_loop()
        found["loop"] = other
        try:
            other.run_until_complete(worker())
        finally:
            other.close()

    thread = threading.Thread(target=run_other_loop)
    thread.start()
    try:
        assert inside.wait(10)
        assert found["task"] in asyncio.all_tasks(found["loop"])
    finally:
        release.set()
        thread.join()


@pytest.mark.skipif(sys.version_info < (3, 14),
                    reason="up to 3.13, asyncio.all_tasks() retries its copy of the set")
def test_a_task_dying_while_all_tasks_copies_the_registry(loop):
    # 3.14's C all_tasks() copies the registry once, without retrying; a task freed
    # meanwhile (by another thread, or the GC) must not make it raise "Set changed
    # size during iteration".  The copy is what iterating the WeakSet does (3.14's
    # iterates over a snapshot of its set); here a task dies between two steps.
    registry = _bridge._weak_registry
    assert registry is not None, "the bridge did not find asyncio's registry"

    async def nothing():
        pass

    tasks = [loop.create_task(nothing()) for _ in range(3)]
    loop.run_until_complete(asyncio.gather(*tasks))
    assert all(task in registry for task in tasks)  # finished, not collected yet
    copy = iter(registry)
    first = next(copy)
    victim = next(task for task in tasks if task is not first)
    tasks.remove(victim)
    del victim  # freed now, by reference counting
    rest = list(copy)  # must not raise
    assert first not in rest
    del first, rest
    gc.collect()
    assert all(task in registry for task in tasks)


def test_policy_accessors_of_coroloop_s_own_code_are_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        before = _bridge.policy()
        try:
            installed = coroloop.install()
            assert _bridge.policy() is installed
            loop = asyncio.new_event_loop()
            assert isinstance(loop, coroloop.EventLoop)
            loop.close()
        finally:
            _bridge.install_policy(before)


def test_public_policy_functions_warn_as_asyncio_s():
    # They are asyncio's: 3.14+ deprecates them (removal planned for 3.16).
    assert coroloop.get_event_loop_policy is asyncio.get_event_loop_policy
    assert coroloop.set_event_loop_policy is asyncio.set_event_loop_policy
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        coroloop.get_event_loop_policy()
    assert [w.category for w in caught] == (
        [DeprecationWarning] if _bridge.POLICIES_DEPRECATED else [])

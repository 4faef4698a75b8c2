"""isinstance(x, asyncio.Future / asyncio.Task) for coroloop's futures and tasks.

coroloop's classes set ``__class__`` to an *asyncio twin* (see ``_core/futures.py``):
isinstance() against asyncio's classes is True, type() is still coroloop's class.
The second half checks that the C parts of asyncio never take a coroloop object for
one of their own futures: every stdlib helper that accepts futures, on coroloop's
loop and on stdlib's, with coroloop futures and tasks mixed with stdlib ones.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import functools
import pickle
import threading

import pytest

import coroloop
from coroloop._api.combinators import _GatheringFuture
from coroloop._core.sleep import SleepFuture


class UserFuture(coroloop.Future):
    def set_result(self, result):
        super().set_result(("wrapped", result))


class UserTask(coroloop.Task):
    pass


@pytest.fixture(params=["coroloop", "stdlib"])
def any_loop(request):
    """coroloop's loop, then stdlib's: coroloop objects must behave on both."""
    loop = coroloop.new_event_loop() if request.param == "coroloop" else asyncio.new_event_loop()
    yield loop
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    asyncio.set_event_loop(None)


def _run(loop, coro):
    return loop.run_until_complete(coroloop.Task(coro, loop=loop))


# -- isinstance and what __class__ is ------------------------------------------------
def test_every_future_class_is_an_asyncio_future(any_loop):
    loop = any_loop

    async def main():
        futures = {
            "Future": coroloop.Future(loop=loop),
            "create_future": loop.create_future() if isinstance(loop, coroloop.EventLoop)
            else coroloop.Future(loop=loop),
            "UserFuture": UserFuture(loop=loop),
            "gather": coroloop.gather(coroloop.sleep(0)),
        }
        sleeper = coroloop.Task(coroloop.sleep(10), loop=loop)
        await coroloop.sleep(0)
        if isinstance(loop, coroloop.EventLoop):
            futures["SleepFuture"] = sleeper.waiting_on()
            assert type(futures["SleepFuture"]) is SleepFuture
        for name, fut in futures.items():
            assert isinstance(fut, asyncio.Future), name
            assert isinstance(fut, coroloop.Future), name
            assert not isinstance(fut, asyncio.Task), name
            assert not isinstance(fut, coroloop.Task), name
            assert asyncio.isfuture(fut), name
            assert issubclass(fut.__class__, asyncio.Future), name
        assert type(futures["gather"]) is _GatheringFuture
        await futures["gather"]
        sleeper.cancel()
        for fut in futures.values():
            fut.cancel()

    _run(loop, main())


def test_every_task_class_is_an_asyncio_task(any_loop):
    loop = any_loop

    async def main():
        tasks = {
            "Task": coroloop.Task(coroloop.sleep(0), loop=loop),
            "UserTask": UserTask(coroloop.sleep(0), loop=loop),
            "current": coroloop.current_task(),
            "asyncio.current_task": asyncio.current_task(),
        }
        if isinstance(loop, coroloop.EventLoop):
            tasks["create_task"] = loop.create_task(coroloop.sleep(0))
            tasks["asyncio.create_task"] = asyncio.create_task(coroloop.sleep(0))
        for name, task in tasks.items():
            assert type(task).__module__.startswith("coroloop") or type(task) is UserTask, name
            assert isinstance(task, asyncio.Task), name
            assert isinstance(task, asyncio.Future), name
            assert isinstance(task, coroloop.Task), name
            assert asyncio.isfuture(task), name
        for name, task in tasks.items():
            if task is not coroloop.current_task():
                await task

    _run(loop, main())


def test_class_attribute_stands_for_the_real_class(loop):
    fut = loop.create_future()
    task = loop.create_task(coroloop.sleep(0))
    for obj, real in ((fut, coroloop.Future), (task, coroloop.Task)):
        twin = obj.__class__
        assert type(obj) is real
        assert twin is not real
        assert (twin.__name__, twin.__qualname__, twin.__module__) == \
            (real.__name__, real.__qualname__, real.__module__)
        assert isinstance(obj, twin)
        # The class itself still reports its metaclass.
        assert real.__class__ is type
    # Calling the twin builds the real class.
    built = fut.__class__(loop=loop)
    assert type(built) is coroloop.Future and not built.done()
    # Subclassing the twin would build a C future: refused, with the fix.
    with pytest.raises(TypeError, match=r"subclass type\(obj\) instead"):
        type("Sub", (fut.__class__,), {})
    loop.run_until_complete(task)


def test_reprs_dir_super_and_copy(loop):
    fut = UserFuture(loop=loop)
    assert repr(fut) == "<UserFuture pending>"
    names = dir(fut)
    assert "add_done_callback" in names and "get_loop" in names
    fut.extra = 1
    assert "extra" in dir(fut)
    fut.set_result(1)            # super() in a subclass goes to coroloop's method
    assert fut.result() == ("wrapped", 1)
    task = loop.create_task(coroloop.sleep(0))
    assert "get_coro" in dir(task) and "waiting_on" in dir(task)
    assert repr(task).startswith("<Task pending name=")
    # As asyncio's: a future or task cannot be copied or pickled.
    for obj in (fut, task):
        for action in (copy.copy, copy.deepcopy, pickle.dumps):
            with pytest.raises(TypeError, match=r"^cannot pickle '(UserFuture|Task)' object$"):
                action(obj)
    loop.run_until_complete(task)


def test_singledispatch_sees_the_asyncio_class(loop):
    """functools.singledispatch dispatches on obj.__class__: asyncio's handlers apply."""
    @functools.singledispatch
    def kind(obj):
        return "other"

    @kind.register(asyncio.Future)
    def _(obj):
        return "future"

    @kind.register(asyncio.Task)
    def _(obj):
        return "task"

    task = loop.create_task(coroloop.sleep(0))
    assert kind(loop.create_future()) == "future"
    assert kind(task) == "task"
    loop.run_until_complete(task)


def test_stdlib_objects_are_not_coroloop_ones(loop):
    std = asyncio.Future(loop=loop)
    assert not isinstance(std, coroloop.Future)
    assert not isinstance(loop.create_future(), coroloop.Task)
    std.cancel()


# -- asyncio's helpers (C accelerated) given coroloop objects -----------------------------
def test_ensure_future_and_wrap_future_return_coroloop_futures_as_they_are(any_loop):
    loop = any_loop
    fut = coroloop.Future(loop=loop)
    task = coroloop.Task(coroloop.sleep(0, "t"), loop=loop)
    assert asyncio.ensure_future(fut) is fut
    assert asyncio.ensure_future(task, loop=loop) is task
    assert asyncio.wrap_future(fut) is fut
    other = asyncio.new_event_loop() if isinstance(loop, coroloop.EventLoop) else coroloop.new_event_loop()
    with pytest.raises(ValueError, match="The future belongs to a different loop"):
        asyncio.ensure_future(fut, loop=other)
    other.close()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        wrapped = asyncio.wrap_future(pool.submit(lambda: 42), loop=loop)
        assert loop.run_until_complete(wrapped) == 42
    fut.set_result("f")
    assert loop.run_until_complete(fut) == "f"
    assert loop.run_until_complete(task) == "t"


def test_stdlib_gather_shield_wait_on_coroloop_objects(any_loop):
    loop = any_loop

    async def child(value, delay=0):
        await coroloop.sleep(delay)
        return value

    async def main():
        fut = coroloop.Future(loop=loop)
        loop.call_soon(fut.set_result, "fut")
        task = coroloop.Task(child("task"), loop=loop)
        std_task = asyncio.ensure_future(child("std"), loop=loop)
        assert await asyncio.gather(fut, task, std_task, child("coro")) == ["fut", "task", "std", "coro"]

        # gather: a failing coroloop task, return_exceptions
        async def boom():
            raise KeyError("boom")
        results = await asyncio.gather(coroloop.Task(boom(), loop=loop), child(1),
                                       return_exceptions=True)
        assert isinstance(results[0], KeyError) and results[1] == 1

        # shield: the inner coroloop task survives the outer's cancellation
        inner = coroloop.Task(child("inner", 0.01), loop=loop)
        outer = asyncio.shield(inner)
        assert isinstance(outer, asyncio.Future)
        outer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await outer
        assert await inner == "inner"

        # wait: FIRST_COMPLETED and ALL_COMPLETED over coroloop objects
        slow = coroloop.Task(child("slow", 0.05), loop=loop)
        quick = coroloop.Future(loop=loop)
        loop.call_soon(quick.set_result, "quick")
        done, pending = await asyncio.wait({slow, quick}, return_when=asyncio.FIRST_COMPLETED)
        assert done == {quick} and pending == {slow}
        done, pending = await asyncio.wait({slow, quick})
        assert done == {slow, quick} and not pending

        # wait_for and as_completed (stdlib's) on coroloop objects
        assert await asyncio.wait_for(coroloop.Task(child("wf"), loop=loop), 5) == "wf"
        never = coroloop.Future(loop=loop)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(never, 0.001)
        assert never.cancelled()
        got = [await f for f in asyncio.as_completed([coroloop.Task(child(2, 0.002), loop=loop),
                                                       coroloop.Task(child(1), loop=loop)])]
        assert got == [1, 2]

        # gather cancelled: cancels the coroloop children
        kids = [coroloop.Task(child(i, 10), loop=loop) for i in range(2)]
        gathered = asyncio.gather(*kids)
        await coroloop.sleep(0)
        gathered.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gathered
        assert all(k.cancelled() for k in kids)
        return True

    assert _run(loop, main())


def test_stdlib_task_awaits_coroloop_future_and_task(any_loop):
    """A C asyncio.Task waiting on coroloop objects takes the generic (protocol) path."""
    loop = any_loop

    async def waits_on(awaitable):
        return await awaitable

    async def fails():
        await coroloop.sleep(0)
        raise ValueError("from coroloop task")

    async def main():
        fut = coroloop.Future(loop=loop)
        std = asyncio.Task(waits_on(fut), loop=loop)
        await asyncio.sleep(0)
        loop.call_soon(fut.set_result, "value")
        assert await std == "value"

        # exception and cancellation travel through
        std = asyncio.Task(waits_on(coroloop.Task(fails(), loop=loop)), loop=loop)
        with pytest.raises(ValueError, match="from coroloop task"):
            await std
        target = coroloop.Future(loop=loop)
        std = asyncio.Task(waits_on(target), loop=loop)
        await asyncio.sleep(0)
        std.cancel()
        with pytest.raises(asyncio.CancelledError):
            await std
        assert target.cancelled()       # the C task cancelled the coroloop future it awaited

        # a coroloop future cancelled under a C task
        target = coroloop.Future(loop=loop)
        std = asyncio.Task(waits_on(target), loop=loop)
        await asyncio.sleep(0)
        target.cancel()
        with pytest.raises(asyncio.CancelledError):
            await std
        return True

    assert _run(loop, main())


def test_coroloop_task_awaits_stdlib_future_and_task(any_loop):
    loop = any_loop

    async def std_child():
        await asyncio.sleep(0)
        return "std task"

    async def main():
        fut = asyncio.Future(loop=loop)
        loop.call_soon(fut.set_result, "std future")
        assert await fut == "std future"
        assert await asyncio.Task(std_child(), loop=loop) == "std task"
        fut = asyncio.Future(loop=loop)
        loop.call_soon(fut.set_exception, OSError("std error"))
        with pytest.raises(OSError, match="std error"):
            await fut

        blocked = asyncio.Future(loop=loop)
        waiter = coroloop.Task(_await(blocked), loop=loop)
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert blocked.cancelled()
        return True

    assert _run(loop, main())


async def _await(awaitable):
    return await awaitable


def test_stdlib_run_until_complete_and_threadsafe(any_loop):
    loop = any_loop
    fut = coroloop.Future(loop=loop)
    loop.call_soon(fut.set_result, 7)
    assert loop.run_until_complete(fut) == 7   # base_events checks isfuture() first

    async def later():
        await coroloop.sleep(0)
        return "ts"

    results = []

    def from_thread():
        results.append(asyncio.run_coroutine_threadsafe(later(), loop).result(5))

    async def main():
        thread = threading.Thread(target=from_thread)
        thread.start()
        while thread.is_alive():
            await coroloop.sleep(0.001)
        thread.join()

    _run(loop, main())
    assert results == ["ts"]

"""coroloop and stdlib asyncio together, both directions.

* coroloop's loop under stdlib asyncio: asyncio.run/Runner with coroloop's loop
  factory; stdlib futures, tasks and helpers running on it; asyncio's bookkeeping
  (running loop, current task, all tasks) seeing coroloop's loop and tasks.
* coroloop's Future and Task on other loops: stdlib's and uvloop's.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import re
import sys
import types
import warnings

import pytest

import coroloop
from coroloop import _bridge
from coroloop.testing import new_virtual_loop

PY312 = sys.version_info >= (3, 12)

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in the dev venv
    uvloop = None


def stdlib_run(main, *, loop_factory=coroloop.new_event_loop):
    """asyncio.run(main, loop_factory=...) on 3.12+, asyncio.Runner on 3.11."""
    if PY312:
        return asyncio.run(main, loop_factory=loop_factory)
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main)


# -- coroloop's loop under stdlib asyncio ---------------------------------------------------
def test_asyncio_run_with_coroloop_loop_factory():
    async def main():
        loop = asyncio.get_running_loop()
        await asyncio.sleep(0)
        return type(loop), loop

    loop_type, loop = stdlib_run(main())
    assert loop_type is coroloop.EventLoop
    assert loop.is_closed()


def test_asyncio_runner_with_coroloop_loop_factory():
    with asyncio.Runner(loop_factory=coroloop.new_event_loop) as runner:
        loop = runner.get_loop()
        assert isinstance(loop, coroloop.EventLoop)

        async def main():
            return asyncio.get_running_loop()

        assert runner.run(main()) is loop
    assert loop.is_closed()


def test_asyncio_bookkeeping_sees_coroloop_loop_and_tasks(loop):
    async def child():
        await asyncio.sleep(0)

    async def main():
        me = asyncio.current_task()
        assert asyncio.get_running_loop() is loop
        assert asyncio.get_event_loop() is loop
        assert isinstance(me, coroloop.Task)
        assert coroloop.current_task() is me
        kid = asyncio.create_task(child())  # asyncio's helper, coroloop's loop
        assert isinstance(kid, coroloop.Task)
        assert asyncio.all_tasks() == {me, kid}
        await kid
        return True

    assert loop.run_until_complete(main())


def test_stdlib_future_and_task_on_coroloop_loop(loop):
    async def stdlib_child(fut):
        return await fut  # a stdlib Task awaiting a coroloop Future

    async def main():
        std_fut = asyncio.Future(loop=loop)
        loop.call_soon(std_fut.set_result, "std future")
        got_std = await std_fut  # a coroloop Task awaiting a stdlib Future

        cl_fut = loop.create_future()
        std_task = asyncio.Task(stdlib_child(cl_fut), loop=loop)
        assert type(std_task) is asyncio.Task
        assert std_task in asyncio.all_tasks()
        loop.call_soon(cl_fut.set_result, "coroloop future")
        got_task = await std_task  # ... awaiting a stdlib Task
        return got_std, got_task

    assert loop.run_until_complete(main()) == ("std future", "coroloop future")


def test_stdlib_task_current_task_on_coroloop_loop(loop):
    async def who_am_i():
        await asyncio.sleep(0)
        return asyncio.current_task()

    task = asyncio.Task(who_am_i(), loop=loop)
    assert loop.run_until_complete(task) is task


def test_stdlib_task_cancellation_on_coroloop_loop(virtual_loop):
    loop = virtual_loop

    async def sleeper():
        await coroloop.sleep(100)

    async def main():
        std_task = asyncio.Task(sleeper(), loop=loop)
        await asyncio.sleep(1)
        std_task.cancel("msg")
        with pytest.raises(asyncio.CancelledError):
            await std_task
        return std_task.cancelled()

    assert loop.run_until_complete(main())
    assert loop.time() == 1


def test_ensure_future_gather_wait_for_on_coroloop_loop(virtual_loop):
    loop = virtual_loop

    async def value(v, delay):
        await asyncio.sleep(delay)
        return v

    async def main():
        fut = asyncio.ensure_future(value("ensured", 1))
        assert isinstance(fut, coroloop.Task)
        gathered = await asyncio.gather(fut, value("a", 2), value("b", 1))
        assert await asyncio.wait_for(value("in time", 1), timeout=5) == "in time"
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(value("late", 10), timeout=3)
        done, pending = await asyncio.wait([asyncio.ensure_future(value(1, 1))])
        assert len(done) == 1 and not pending
        return gathered

    assert loop.run_until_complete(main()) == ["ensured", "a", "b"]
    assert loop.time() == 2 + 1 + 3 + 1


def test_gather_with_exception_and_cancellation(loop):
    async def fails():
        raise ValueError("in gather")

    async def main():
        results = await asyncio.gather(fails(), coroloop.sleep(0, "ok"),
                                       return_exceptions=True)
        assert isinstance(results[0], ValueError) and results[1] == "ok"
        with pytest.raises(ValueError):
            await asyncio.gather(fails())
        return True

    assert loop.run_until_complete(main())


def test_asyncio_timeout_on_coroloop_loop(virtual_loop):
    loop = virtual_loop

    async def main():
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(5):
                await coroloop.sleep(60)
        assert loop.time() == 5
        async with asyncio.timeout(10) as cm:
            await asyncio.sleep(1)
        assert not cm.expired()
        return coroloop.current_task().cancelling()

    assert loop.run_until_complete(main()) == 0


def test_asyncio_queue_and_lock_on_coroloop_loop(virtual_loop):
    loop = virtual_loop

    async def main():
        queue = asyncio.Queue()
        lock = asyncio.Lock()
        log = []

        async def producer():
            for i in range(3):
                await asyncio.sleep(1)
                await queue.put(i)
            await queue.put(None)

        async def consumer():
            while (item := await queue.get()) is not None:
                async with lock:
                    log.append((item, loop.time()))

        async def contender():
            async with lock:
                await asyncio.sleep(0.5)
                log.append(("contender", loop.time()))

        await asyncio.gather(producer(), consumer(), contender())
        return log

    assert loop.run_until_complete(main()) == [
        ("contender", 0.5), (0, 1), (1, 2), (2, 3)]


def test_asyncio_taskgroup_on_coroloop_loop(loop):
    async def child(n):
        await asyncio.sleep(0)
        return n

    async def main():
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(child(n)) for n in range(3)]
        return [t.result() for t in tasks]

    assert loop.run_until_complete(main()) == [0, 1, 2]


def test_asyncio_to_thread_on_coroloop_loop(loop):
    async def main():
        return await asyncio.to_thread(lambda: "threaded")

    assert loop.run_until_complete(main()) == "threaded"
    loop.run_until_complete(loop.shutdown_default_executor())


# -- coroloop's Future and Task on other loops ----------------------------------------------
def _foreign_loops():
    loops = [pytest.param(asyncio.new_event_loop, id="stdlib")]
    if uvloop is not None:
        loops.append(pytest.param(uvloop.new_event_loop, id="uvloop"))
    return loops


@pytest.fixture(params=_foreign_loops())
def foreign_loop(request):
    the_loop = request.param()
    yield the_loop
    the_loop.close()


def test_coroloop_task_on_foreign_loop(foreign_loop):
    loop = foreign_loop

    async def child():
        await coroloop.sleep(0)
        await asyncio.sleep(0)
        return asyncio.current_task()

    async def main():
        task = coroloop.Task(child(), loop=loop, name="on-foreign")
        assert task in asyncio.all_tasks()
        me = await task
        assert me is task
        return task.get_name()

    assert loop.run_until_complete(main()) == "on-foreign"


def test_coroloop_task_drives_foreign_loop(foreign_loop):
    loop = foreign_loop

    async def main():
        fut = coroloop.Future(loop=loop)
        loop.call_later(0.001, fut.set_result, "timer fired")
        got = await fut
        await coroloop.sleep(0.001)  # call_later path on a foreign loop
        std_fut = loop.create_future()
        loop.call_soon(std_fut.set_result, "native future")
        return got, await std_fut, asyncio.current_task()

    task = coroloop.Task(main(), loop=loop)
    got, native, current = loop.run_until_complete(task)
    assert (got, native) == ("timer fired", "native future")
    assert current is task


def test_coroloop_task_cancel_on_foreign_loop(foreign_loop):
    loop = foreign_loop

    async def sleeper():
        await coroloop.sleep(3600)

    async def main():
        task = coroloop.Task(sleeper(), loop=loop)
        await asyncio.sleep(0)
        assert coroloop.isfuture(task.waiting_on())
        task.cancel("bye")
        with pytest.raises(asyncio.CancelledError) as info:
            await task
        return info.value.args

    assert loop.run_until_complete(main()) == ("bye",)


def test_coroloop_task_exception_on_foreign_loop(foreign_loop):
    loop = foreign_loop

    async def fails():
        await asyncio.sleep(0)
        raise KeyError("foreign")

    task = coroloop.Task(fails(), loop=loop)
    with pytest.raises(KeyError):
        loop.run_until_complete(task)


def test_coroloop_task_factory_on_stdlib_loop():
    loop = asyncio.new_event_loop()
    try:
        loop.set_task_factory(lambda lp, coro, **kw: coroloop.Task(coro, loop=lp, **kw))

        async def main():
            kids = [asyncio.create_task(asyncio.sleep(0, n)) for n in range(3)]
            return [type(t) for t in kids], await asyncio.gather(*kids)

        types_, results = loop.run_until_complete(main())
        assert types_ == [coroloop.Task] * 3
        assert results == [0, 1, 2]
    finally:
        loop.close()


def test_coroloop_future_with_stdlib_wrap_future(foreign_loop):
    import concurrent.futures
    loop = foreign_loop

    async def main():
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            cf = pool.submit(lambda: "cf")
            return await coroloop.wrap_future(cf, loop=loop)

    assert loop.run_until_complete(coroloop.Task(main(), loop=loop)) == "cf"


# -- install() ---------------------------------------------------------------------------
@pytest.fixture
def restore_policy():
    # The quiet accessors: asyncio's public ones warn on 3.14+.
    before = _bridge.policy()
    yield
    _bridge.install_policy(before)
    asyncio.set_event_loop(None)


def test_install_makes_asyncio_use_coroloop(restore_policy):
    policy = coroloop.install()  # no DeprecationWarning on any version
    assert _bridge.policy() is policy
    loop = asyncio.new_event_loop()
    try:
        assert isinstance(loop, coroloop.EventLoop)
    finally:
        loop.close()

    async def main():
        return type(asyncio.get_running_loop())

    assert asyncio.run(main()) is coroloop.EventLoop


# -- legacy coroutines and predicates ------------------------------------------------------
def warns_as_asyncio_iscoroutinefunction():
    """3.14 deprecates asyncio.iscoroutinefunction: expect its warning there, and none
    before (filterwarnings = error turns any other warning into a failure)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.iscoroutinefunction(len)
    if not caught:
        return contextlib.nullcontext()
    return pytest.warns(DeprecationWarning, match=re.escape(str(caught[0].message)))


def test_coroloop_s_own_checks_do_not_warn(loop):
    # call_soon refuses coroutine functions (in debug mode) through the quiet predicate.
    async def coro_fn():
        pass

    loop.set_debug(True)
    with pytest.raises(TypeError, match="coroutines cannot be used with call_soon"):
        loop.call_soon(coro_fn)


def test_legacy_generator_coroutine_runs_as_task(virtual_loop):
    loop = virtual_loop

    @coroloop.coroutine
    def legacy(delay):
        value = yield from coroloop.sleep(delay, "slept")
        return value + "!"

    assert inspect.iscoroutinefunction(legacy)
    with warns_as_asyncio_iscoroutinefunction():
        assert coroloop.iscoroutinefunction(legacy)
    with warns_as_asyncio_iscoroutinefunction():
        assert asyncio.iscoroutinefunction(legacy)

    async def main():
        direct = await legacy(1)
        task = loop.create_task(legacy(2))
        return direct, await task

    assert loop.run_until_complete(main()) == ("slept!", "slept!")
    assert loop.time() == 3


def test_legacy_coroutine_object_is_a_coroutine(loop):
    @coroloop.coroutine
    def legacy():
        yield from coroloop.sleep(0)
        return "done"

    coro = legacy()
    assert coroloop.iscoroutine(coro)
    assert asyncio.iscoroutine(coro)
    assert loop.run_until_complete(coro) == "done"


def test_legacy_coroutine_on_stdlib_loop():
    @coroloop.coroutine
    def legacy():
        yield from asyncio.sleep(0)
        return "std"

    assert stdlib_run(legacy(), loop_factory=asyncio.new_event_loop) == "std"


def test_coroutine_decorator_on_plain_function(loop):
    @coroloop.coroutine
    def plain(x):
        return x * 2

    async def main():
        return await plain(21)

    assert loop.run_until_complete(main()) == 42


def test_coroutine_decorator_keeps_async_functions():
    async def native():
        pass

    assert coroloop.coroutine(native) is native
    with pytest.raises(TypeError):
        coroloop.coroutine(42)


def test_predicates_agree_with_asyncio(loop):
    async def native():
        pass

    @types.coroutine
    def gen_based():
        yield

    coro = native()
    try:
        assert coroloop.iscoroutine(coro) and asyncio.iscoroutine(coro)
        with warns_as_asyncio_iscoroutinefunction():
            assert coroloop.iscoroutinefunction(native)
        with warns_as_asyncio_iscoroutinefunction():
            assert not coroloop.iscoroutinefunction(lambda: None)
        assert not coroloop.iscoroutine(gen_based)
        assert not coroloop.iscoroutine(42)
        fut = loop.create_future()
        assert coroloop.isfuture(fut) and asyncio.isfuture(fut)
        std_fut = asyncio.Future(loop=loop)
        assert coroloop.isfuture(std_fut)
        fut.cancel()
        std_fut.cancel()
    finally:
        coro.close()


def test_shared_exceptions_and_interfaces():
    assert coroloop.CancelledError is asyncio.CancelledError
    assert coroloop.TimeoutError is asyncio.TimeoutError
    assert coroloop.InvalidStateError is asyncio.InvalidStateError
    assert coroloop.Protocol is asyncio.Protocol
    assert issubclass(coroloop.Handle, asyncio.Handle)
    assert issubclass(coroloop.TimerHandle, asyncio.TimerHandle)


def test_virtual_loop_under_asyncio_runner():
    async def main():
        await asyncio.sleep(1000)
        return asyncio.get_running_loop().time()

    assert stdlib_run(main(), loop_factory=new_virtual_loop) == 1000

"""gather, wait, wait_for, as_completed, shield.

Each body runs in a coroloop Task on coroloop's loop (virtual clock) and on the
standard library's loop.  Races are arranged with call_soon ordering, and
timeouts are "now" (or virtual), so nothing waits in real time.
"""

from __future__ import annotations

import asyncio

import sys

import pytest

import coroloop
from coroloop._api.combinators import (ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION,
                                       as_completed, gather, shield, wait, wait_for)
from coroloop._api.eager import eager_task_factory
from coroloop.testing import new_virtual_loop

LOOPS = {"coroloop": new_virtual_loop, "stdlib": asyncio.new_event_loop}


@pytest.fixture(params=sorted(LOOPS))
def run(request):
    """run(main) runs coroutine function *main* in a coroloop Task on a fresh loop."""
    loop = LOOPS[request.param]()

    def run_main(main):
        return loop.run_until_complete(coroloop.Task(main(), loop=loop))

    yield run_main
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
    assert not pending, f"test left tasks pending: {pending}"


async def value_after(value, steps=1):
    for _ in range(steps):
        await coroloop.sleep(0)
    return value


async def fail_after(exc, steps=1):
    for _ in range(steps):
        await coroloop.sleep(0)
    raise exc


def test_constants_are_asyncios():
    assert (FIRST_COMPLETED, FIRST_EXCEPTION, ALL_COMPLETED) == (
        asyncio.FIRST_COMPLETED, asyncio.FIRST_EXCEPTION, asyncio.ALL_COMPLETED)


# -- gather ------------------------------------------------------------------------------
def test_gather_results_in_argument_order(run):
    async def main():
        loop = coroloop.get_running_loop()
        fut = loop.create_future()
        loop.call_soon(fut.set_result, "f")
        return await gather(value_after("slow", 5), value_after("fast", 1), fut)

    assert run(main) == ["slow", "fast", "f"]


def test_gather_empty_and_duplicates(run):
    async def main():
        empty = await gather()
        coro = value_after(7)
        dup = await gather(coro, coro)
        return empty, dup

    assert run(main) == ([], [7, 7])


def test_gather_first_exception_propagates_others_keep_running(run):
    async def main():
        release = coroloop.get_running_loop().create_future()
        slow = coroloop.create_task(_await(release))
        with pytest.raises(ZeroDivisionError):
            await gather(fail_after(ZeroDivisionError()), slow)
        assert not slow.done()
        release.set_result("done")
        return await slow

    assert run(main) == "done"


def test_gather_return_exceptions(run):
    async def main():
        loop = coroloop.get_running_loop()
        cancelled = loop.create_future()
        cancelled.cancel("stop")
        return await gather(value_after(1), fail_after(KeyError("k")), cancelled,
                            return_exceptions=True)

    one, error, cancel = run(main)
    assert one == 1
    assert isinstance(error, KeyError)
    assert isinstance(cancel, asyncio.CancelledError) and cancel.args == ("stop",)


def test_cancelling_gather_cancels_children(run):
    async def main():
        children = [coroloop.create_task(coroloop.sleep(3600)) for _ in range(3)]
        outer = gather(*children)
        await coroloop.sleep(0)
        assert outer.cancel("bye")
        with pytest.raises(asyncio.CancelledError):
            await outer
        return [c.cancelled() for c in children], outer.cancel()

    assert run(main) == ([True, True, True], False)


def test_cancelling_gather_raises_even_when_children_swallow_it(run):
    async def stubborn():
        try:
            await coroloop.sleep(3600)
        except asyncio.CancelledError:
            return "kept going"

    async def main():
        child = coroloop.create_task(stubborn())
        outer = gather(child, return_exceptions=True)
        await coroloop.sleep(0)
        outer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await outer
        return child.result()

    assert run(main) == "kept going"


def test_child_cancellation_surfaces_as_cancelled_error(run):
    async def main():
        child = coroloop.create_task(coroloop.sleep(3600))
        other = coroloop.create_task(value_after("other", 2))
        outer = gather(child, other)
        await coroloop.sleep(0)
        child.cancel()
        with pytest.raises(asyncio.CancelledError):
            await outer
        # gather itself is not "cancelled": it holds the CancelledError as exception.
        return outer.cancelled(), await other

    assert run(main) == (False, "other")


def test_cancelling_the_awaiting_task_cancels_the_gather(run):
    async def main():
        children = [coroloop.create_task(coroloop.sleep(3600)) for _ in range(2)]
        waiter = coroloop.create_task(_await(gather(*children)))
        await coroloop.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return [c.cancelled() for c in children]

    assert run(main) == [True, True]


def test_gather_with_eager_tasks_completes_synchronously(run):
    # Eager tasks are 3.12's and come with 3.12's gather, which takes children that
    # finished eagerly into account at once -- also on 3.11, where coroloop adds
    # them.  (A child done *before* gather() is another matter on 3.11: see
    # test_differential_regressions.py.)
    async def instant(x):
        return x

    async def main():
        loop = coroloop.get_running_loop()
        loop.set_task_factory(eager_task_factory)
        try:
            outer = gather(instant(1), instant(2))
            return outer.done(), await outer
        finally:
            loop.set_task_factory(None)

    assert run(main) == (True, [1, 2])


# -- wait --------------------------------------------------------------------------------
def test_wait_all_completed(run):
    async def main():
        tasks = {coroloop.create_task(value_after(i, i)) for i in range(3)}
        done, pending = await wait(tasks)
        return done == tasks, pending

    assert run(main) == (True, set())


def test_wait_first_completed(run):
    async def main():
        fast = coroloop.create_task(value_after("fast", 1))
        slow = coroloop.create_task(coroloop.sleep(3600))
        done, pending = await wait([fast, slow], return_when=FIRST_COMPLETED)
        slow.cancel()
        return done == {fast}, pending == {slow}

    assert run(main) == (True, True)


def test_wait_first_exception(run):
    async def main():
        ok = coroloop.create_task(value_after("ok", 1))
        bad = coroloop.create_task(fail_after(ValueError(), 2))
        slow = coroloop.create_task(coroloop.sleep(3600))
        done, pending = await wait([ok, bad, slow], return_when=FIRST_EXCEPTION)
        slow.cancel()
        bad.exception()
        return done == {ok, bad}, pending == {slow}

    assert run(main) == (True, True)


def test_wait_timeout_returns_pending(run):
    async def main():
        slow = coroloop.create_task(coroloop.sleep(3600))
        done, pending = await wait([slow], timeout=0)
        slow.cancel()
        return done, pending == {slow}

    assert run(main) == (set(), True)


def test_wait_refuses_bad_arguments(run):
    async def main():
        loop = coroloop.get_running_loop()
        fut = loop.create_future()
        coro = value_after(1)
        with pytest.raises(TypeError, match="Passing coroutines is forbidden"):
            await wait([coro])
        coro.close()
        with pytest.raises(TypeError, match="expect a list of futures"):
            await wait(fut)
        with pytest.raises(ValueError, match="empty"):
            await wait(set())
        with pytest.raises(ValueError, match="Invalid return_when"):
            await wait([fut], return_when="SOMETIMES")
        return True

    assert run(main)


# -- wait_for ----------------------------------------------------------------------------
def test_wait_for_result_and_timeout(run):
    async def main():
        assert await wait_for(value_after(3), None) == 3
        assert await wait_for(value_after(4), 3600) == 4
        with pytest.raises(TimeoutError):
            await wait_for(coroloop.sleep(3600), 0)
        return True

    assert run(main)


def test_wait_for_timeout_cancels_and_waits_for_the_task(run):
    cleaned = []

    async def with_cleanup():
        try:
            await coroloop.sleep(3600)
        finally:
            await coroloop.sleep(0)       # cleanup that itself awaits
            cleaned.append(True)

    async def main():
        loop = coroloop.get_running_loop()
        task = coroloop.create_task(with_cleanup())
        await coroloop.sleep(0)
        with pytest.raises(TimeoutError):
            await wait_for(task, 1e-9 if isinstance(loop, coroloop.EventLoop) else 0.001)
        return task.cancelled(), cleaned

    assert run(main) == (True, [True])


def test_wait_for_zero_timeout_does_not_start_a_coroutine(run):
    started = []

    async def body():
        started.append(True)

    async def main():
        with pytest.raises(TimeoutError):
            await wait_for(body(), 0)
        return started

    assert run(main) == []


def test_wait_for_cancel_at_the_moment_of_completion(run):
    """Outer cancel() and inner completion in the same iteration: from 3.12 on the
    cancellation is raised (not swallowed, CPython #86296) and the result stays in
    the future; 3.11's wait_for returns the result and loses the cancellation."""
    async def main():
        loop = coroloop.get_running_loop()
        fut = loop.create_future()
        waiter = coroloop.create_task(wait_for(fut, 3600))
        await coroloop.sleep(0)
        fut.set_result("value")
        waiter.cancel()
        if sys.version_info < (3, 12):
            assert await waiter == "value"
        else:
            with pytest.raises(asyncio.CancelledError):
                await waiter
        return fut.result()

    assert run(main) == "value"


def test_wait_for_does_not_let_the_inner_task_swallow_our_cancel(run):
    async def stubborn():
        try:
            await coroloop.sleep(3600)
        except asyncio.CancelledError:
            return 42

    async def main():
        inner = coroloop.create_task(stubborn())
        waiter = coroloop.create_task(wait_for(inner, 3600))
        await coroloop.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return await inner

    assert run(main) == 42


def test_wait_for_returns_value_when_timeout_is_suppressed(run):
    async def return_42():
        try:
            await coroloop.sleep(3600)
        except asyncio.CancelledError:
            return 42

    async def main():
        inner = coroloop.create_task(return_42())
        await coroloop.sleep(0)   # started: it will see the cancellation
        return await wait_for(inner, 0)

    # The timeout <= 0 path cancels at once and waits for the outcome.
    assert run(main) == 42


def test_wait_for_result_racing_the_deadline_is_returned():
    loop = new_virtual_loop()
    try:
        async def main():
            inner = coroloop.create_task(coroloop.sleep(5, "inner done"))
            await coroloop.sleep(0)   # the inner sleep's timer is armed first...
            # ...and wait_for's, for the same virtual instant, right after it.
            return await wait_for(inner, 5)

        assert loop.run_until_complete(coroloop.Task(main(), loop=loop)) == "inner done"
    finally:
        loop.close()


# -- as_completed ------------------------------------------------------------------------
def test_as_completed_plain_iterator(run):
    async def main():
        order = []
        for next_done in as_completed([value_after("c", 3), value_after("a", 1),
                                       value_after("b", 2)]):
            order.append(await next_done)
        return order

    assert run(main) == ["a", "b", "c"]


def test_as_completed_async_iterator_yields_the_original_futures(run):
    async def main():
        tasks = [coroloop.create_task(value_after(i, 3 - i)) for i in range(3)]
        seen = []
        async for fut in as_completed(tasks):
            assert any(fut is t for t in tasks)
            seen.append(fut.result())
        return seen

    assert run(main) == [2, 1, 0]


def test_as_completed_timeout(run):
    async def main():
        fast = coroloop.create_task(value_after("fast"))
        slow = coroloop.create_task(coroloop.sleep(3600))
        got = []
        with pytest.raises(TimeoutError):
            async for fut in as_completed([fast, slow], timeout=0.5):
                got.append(fut.result())
        slow.cancel()
        return got

    assert run(main) == ["fast"]


def test_as_completed_exception_raised_by_awaiting(run):
    async def main():
        for next_done in as_completed([fail_after(KeyError("x"))]):
            with pytest.raises(KeyError):
                await next_done
        return True

    assert run(main)


def test_as_completed_refuses_a_single_future(run):
    async def main():
        fut = coroloop.get_running_loop().create_future()
        with pytest.raises(TypeError):
            # Raised by the call (3.13) or by the first iteration (earlier).
            list(as_completed(fut))
        return True

    assert run(main)


# -- shield ------------------------------------------------------------------------------
def test_shield_protects_the_inner_task(run):
    async def main():
        inner = coroloop.create_task(value_after("survived", 3))
        outer = shield(inner)
        waiter = coroloop.create_task(_await(outer))
        await coroloop.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return outer.cancelled(), await inner

    assert run(main) == (True, "survived")


def test_shield_propagates_result_exception_and_inner_cancel(run):
    async def main():
        assert await shield(value_after(5)) == 5
        with pytest.raises(KeyError):
            await shield(fail_after(KeyError()))
        inner = coroloop.create_task(coroloop.sleep(3600))
        outer = shield(inner)
        await coroloop.sleep(0)
        inner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await outer
        done = coroloop.get_running_loop().create_future()
        done.set_result(1)
        return shield(done) is done

    assert run(main)


async def _await(aw):
    return await aw


def test_module_exports():
    from coroloop._api import combinators
    assert set(combinators.__all__) == {"FIRST_COMPLETED", "FIRST_EXCEPTION", "ALL_COMPLETED",
                                        "gather", "wait", "wait_for", "as_completed",
                                        "shield"}


def test_as_completed_cancelled_iteration_loses_nothing(run):
    """A consumer cancelled just as a future was handed to it gives it back."""
    async def main():
        loop = coroloop.get_running_loop()
        futs = [loop.create_future() for _ in range(2)]
        it = as_completed(futs)
        getter = coroloop.create_task(_await(it.__anext__()))
        await coroloop.sleep(0)                 # getter is waiting for the next one
        futs[0].set_result("first")
        await coroloop.sleep(0)                 # handed to the getter...
        assert not getter.done()
        getter.cancel()                         # ...which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await getter
        futs[1].set_result("second")
        return [f.result() async for f in it]

    assert run(main) == ["first", "second"]


def test_wait_on_an_empty_generator_is_refused(run):
    # 3.11 counts a generator object as a coroutine (TypeError, like asyncio 3.11);
    # later versions see an empty iterable of futures (ValueError).
    expected = ValueError if sys.version_info >= (3, 12) else TypeError

    async def main():
        with pytest.raises(expected):
            await wait(f for f in ())
        return True

    assert run(main)


def test_wait_for_zero_timeout_chains_the_cancellation(run):
    async def main():
        inner = coroloop.create_task(coroloop.sleep(3600))
        await coroloop.sleep(0)
        with pytest.raises(TimeoutError) as info:
            await wait_for(inner, 0)
        error = info.value
        return (inner.cancelled(), type(error.__cause__), error.__context__ is error.__cause__)

    assert run(main) == (True, asyncio.CancelledError, True)


def test_gather_cancel_at_the_moment_of_completion(run):
    """The children are done but gather has not been told yet: cancel() finds
    nothing to cancel, returns False, and the results are not lost."""
    async def main():
        loop = coroloop.get_running_loop()
        futs = [loop.create_future() for _ in range(2)]
        outer = gather(*futs)
        for i, fut in enumerate(futs):
            fut.set_result(i)
        cancelled = outer.cancel()
        return cancelled, await outer

    assert run(main) == (False, [0, 1])


def test_gather_mixes_coroloop_and_stdlib_futures(run):
    async def main():
        loop = coroloop.get_running_loop()
        ours = coroloop.Future(loop=loop)
        theirs = asyncio.Future(loop=loop)
        loop.call_soon(ours.set_result, "coroloop")
        loop.call_soon(theirs.set_result, "stdlib")
        return await gather(ours, theirs, asyncio.ensure_future(value_after("task")))

    assert run(main) == ["coroloop", "stdlib", "task"]

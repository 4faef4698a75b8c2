"""timeout(), timeout_at(), Timeout: states, nesting, cancellation accounting, races.

Each body runs in a coroloop Task on coroloop's loop (virtual clock) and on the
standard library's loop.  Deadlines are "now" or in the past where possible, so
nothing waits in real time; races are set up with call_soon ordering.
"""

from __future__ import annotations

import asyncio

import pytest

import coroloop
from coroloop._api.combinators import wait_for
from coroloop._api.timeouts import Timeout, TimeoutState, timeout, timeout_at
from coroloop.testing import new_virtual_loop

LOOPS = {"coroloop": new_virtual_loop, "stdlib": asyncio.new_event_loop}


@pytest.fixture(params=sorted(LOOPS))
def run(request):
    """run(main) runs coroutine function *main* in a coroloop Task on a fresh loop."""
    loop = LOOPS[request.param]()

    def run_main(main):
        task = coroloop.Task(main(), loop=loop)
        return loop.run_until_complete(task)

    yield run_main
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.close()
    assert not pending, f"test left tasks pending: {pending}"


def _set_if_pending(fut, value):
    if not fut.done():
        fut.set_result(value)


# -- basics ---------------------------------------------------------------------------
def test_no_deadline_runs_to_completion(run):
    async def main():
        async with timeout(None) as cm:
            await coroloop.sleep(0)
        return cm

    cm = run(main)
    assert not cm.expired()
    assert cm.when() is None
    assert repr(cm) == "<Timeout [finished]>"


def test_expiry_raises_timeout_error_chained_to_cancelled_error(run):
    async def main():
        task = coroloop.current_task()
        with pytest.raises(TimeoutError) as info:
            async with timeout(0) as cm:
                await coroloop.sleep(3600)
        return cm, info.value, task.cancelling()

    cm, error, cancelling = run(main)
    assert cm.expired()
    assert repr(cm) == "<Timeout [expired]>"
    assert isinstance(error.__cause__, asyncio.CancelledError)
    assert cancelling == 0   # our cancel() was withdrawn with uncancel()


def test_timeout_at_and_when(run):
    async def main():
        loop = coroloop.get_running_loop()
        deadline = loop.time() + 3600
        async with timeout_at(deadline) as cm:
            assert cm.when() == deadline
            assert repr(cm) == f"<Timeout [active] when={round(deadline, 3)}>"
        return cm

    assert run(main).expired() is False


def test_reschedule_extends_and_disables(run):
    async def main():
        loop = coroloop.get_running_loop()
        async with timeout(0) as cm:
            cm.reschedule(None)              # no deadline any more
            assert cm.when() is None
            await coroloop.sleep(0)
            await coroloop.sleep(0)
            cm.reschedule(loop.time() - 1)   # in the past: expires at the next await
            with pytest.raises(asyncio.CancelledError):
                await coroloop.sleep(3600)
            raise asyncio.CancelledError     # let it reach __aexit__ as usual

    with pytest.raises(TimeoutError):
        run(main)


def test_state_errors_name_the_state(run):
    async def main():
        cm = timeout(None)
        with pytest.raises(RuntimeError, match="has not been entered"):
            cm.reschedule(1)
        async with cm:
            pass
        with pytest.raises(RuntimeError, match="Cannot change state of finished Timeout"):
            cm.reschedule(1)
        with pytest.raises(RuntimeError, match="has already been entered"):
            async with cm:
                pass
        expired = timeout(0)
        with pytest.raises(TimeoutError):
            async with expired:
                await coroloop.sleep(3600)
        with pytest.raises(RuntimeError, match="Cannot change state of expired Timeout"):
            expired.reschedule(None)
        return cm

    assert run(main)._state is TimeoutState.FINISHED


def test_outside_a_task_is_refused():
    loop = new_virtual_loop()
    try:
        cm = Timeout(None)
        with pytest.raises(RuntimeError, match="inside a task"):
            loop.run_until_complete(_enter_without_task(loop, cm))
    finally:
        loop.close()


async def _enter_without_task(loop, cm):
    # Drive __aenter__ by hand, from a callback (no current task).
    done = loop.create_future()

    def step():
        coro = cm.__aenter__()
        try:
            coro.send(None)
        except BaseException as exc:
            done.set_exception(exc)

    loop.call_soon(step)
    await done


# -- cancellation accounting ------------------------------------------------------------
def test_nested_timeouts_only_the_expired_one_converts(run):
    async def main():
        loop = coroloop.get_running_loop()
        with pytest.raises(TimeoutError):
            async with timeout(3600) as outer:
                async with timeout(0) as inner:
                    await coroloop.sleep(3600)
        with pytest.raises(TimeoutError):
            async with timeout(0) as outer2:
                with pytest.raises(asyncio.CancelledError):
                    async with timeout(3600) as inner2:
                        await coroloop.sleep(3600)
                raise asyncio.CancelledError
        return outer, inner, outer2, inner2, coroloop.current_task().cancelling()

    outer, inner, outer2, inner2, cancelling = run(main)
    assert inner.expired() and not outer.expired()
    assert outer2.expired() and not inner2.expired()
    assert cancelling == 0


def test_same_deadline_nested_topmost_converts(run):
    async def main():
        loop = coroloop.get_running_loop()
        deadline = loop.time()
        cancelled_inside = False
        with pytest.raises(TimeoutError):
            async with timeout_at(deadline) as cm1:
                try:
                    async with timeout_at(deadline) as cm2:
                        await coroloop.sleep(3600)
                except asyncio.CancelledError:
                    cancelled_inside = True
                    raise
        return cancelled_inside, cm1.expired(), cm2.expired()

    assert run(main) == (True, True, True)


def test_outside_cancel_is_not_swallowed(run):
    async def main():
        task = coroloop.current_task()
        async with timeout(0):
            # Cancelled from outside *and* by the timeout in the same iteration.
            task.cancel()
            await coroloop.sleep(3600)

    with pytest.raises(asyncio.CancelledError):
        run(main)


def test_swallowed_cancellation_inside_the_block(run):
    async def main():
        async with timeout(0) as cm:
            try:
                await coroloop.sleep(3600)
            except asyncio.CancelledError:
                pass   # swallowed: the block ends normally
        return cm, coroloop.current_task().cancelling()

    cm, cancelling = run(main)
    assert cm.expired()
    assert cancelling == 0


def test_other_exception_gets_timeout_in_its_context(run):
    async def main():
        with pytest.raises(ValueError) as info:
            async with timeout(0):
                try:
                    await coroloop.sleep(3600)
                finally:
                    raise ValueError("cleanup failed")
        return info.value

    error = run(main)
    assert isinstance(error.__context__, TimeoutError)
    assert isinstance(error.__context__.__cause__, asyncio.CancelledError)


# -- races -------------------------------------------------------------------------------
def test_result_arriving_with_the_deadline_is_kept(run):
    """The awaited future completes, then the deadline passes, before the task has
    run: asyncio would cancel and lose "data"; coroloop delivers it."""
    async def main():
        loop = coroloop.get_running_loop()
        fut = loop.create_future()
        async with timeout(None) as cm:
            loop.call_soon(fut.set_result, "data")
            cm.reschedule(loop.time() - 1)   # runs right after set_result
            value = await fut
        return value, cm.expired(), coroloop.current_task().cancelling()

    assert run(main) == ("data", False, 0)


def test_due_block_is_cancelled_at_its_next_suspension(run):
    async def main():
        loop = coroloop.get_running_loop()
        fut = loop.create_future()
        with pytest.raises(TimeoutError):
            async with timeout(None) as cm:
                loop.call_soon(fut.set_result, "data")
                cm.reschedule(loop.time() - 1)
                got = await fut               # delivered...
                await coroloop.sleep(3600)    # ...and cancelled here
        return got, cm.expired()

    assert run(main) == ("data", True)


def test_reschedule_in_the_grace_step_keeps_running(run):
    async def main():
        loop = coroloop.get_running_loop()
        fut = loop.create_future()
        async with timeout(None) as cm:
            loop.call_soon(fut.set_result, "data")
            cm.reschedule(loop.time() - 1)
            await fut
            cm.reschedule(loop.time() + 3600)   # data arrived: extend the deadline
            await coroloop.sleep(0)
        return cm.expired()

    assert run(main) is False


def test_deadline_first_cancels_the_pending_wait(run):
    async def main():
        loop = coroloop.get_running_loop()
        fut = loop.create_future()
        with pytest.raises(TimeoutError):
            async with timeout(None) as cm:
                cm.reschedule(loop.time() - 1)            # runs first...
                loop.call_soon(_set_if_pending, fut, "late")  # ...then this
                await fut
        return fut.cancelled()

    assert run(main) is True   # the producer sees the cancellation: nothing lost


def test_wait_for_returns_result_that_raced_the_deadline():
    loop = new_virtual_loop()
    try:
        async def main():
            fut = loop.create_future()
            # Same deadline, scheduled first: completes just before the timeout fires.
            loop.call_later(5, fut.set_result, "won")
            return await wait_for(fut, 5)

        assert loop.run_until_complete(coroloop.Task(main(), loop=loop)) == "won"
    finally:
        loop.close()


def test_stdlib_task_keeps_asyncio_behaviour():
    # A task class without waiting_on(): the timeout cancels at once, as asyncio's.
    loop = asyncio.new_event_loop()
    try:
        async def main():
            fut = loop.create_future()
            async with timeout(None) as cm:
                loop.call_soon(fut.set_result, "data")
                cm.reschedule(loop.time() - 1)
                return await fut

        with pytest.raises(TimeoutError):
            loop.run_until_complete(asyncio.Task(main(), loop=loop))
    finally:
        loop.close()


def test_virtual_time_deadline():
    loop = new_virtual_loop()
    try:
        async def main():
            start = loop.time()
            with pytest.raises(TimeoutError):
                async with timeout(30):
                    await coroloop.sleep(3600)
            return loop.time() - start

        assert loop.run_until_complete(coroloop.Task(main(), loop=loop)) == pytest.approx(30)
    finally:
        loop.close()


def test_module_exports():
    from coroloop._api import timeouts
    assert set(timeouts.__all__) == {"Timeout", "TimeoutState", "timeout", "timeout_at"}


def test_aexit_without_enter_is_refused(run):
    async def main():
        with pytest.raises(RuntimeError, match="created Timeout"):
            await Timeout(None).__aexit__(None, None, None)
        return True

    assert run(main)


def test_due_state_repr_and_expired(run):
    async def main():
        loop = coroloop.get_running_loop()
        fut = loop.create_future()
        seen = []
        async with timeout(None) as cm:
            loop.call_soon(fut.set_result, "data")
            cm.reschedule(loop.time() - 1)
            loop.call_soon(lambda: seen.append((repr(cm), cm.expired())))
            await fut
        return seen

    [(text, expired)] = run(main)
    assert text.startswith("<Timeout [due] when=") and expired is False

"""The private attributes that asyncio libraries read, with asyncio's meaning.

From the survey in docs/migrating.md (aiohttp, anyio, uvicorn, httpx/httpcore,
starlette, websockets, asyncpg, redis-py, SQLAlchemy, tornado, ipykernel,
pytest-asyncio, aiomonitor, nest_asyncio).  Each test reads the attribute the way
the library does, on stdlib asyncio and on coroloop, at the same moments, and
compares.
"""

from __future__ import annotations

import asyncio
import gc

import pytest

import coroloop

IMPLS = {"asyncio": asyncio.new_event_loop, "coroloop": coroloop.new_event_loop}


def _both(scenario):
    """scenario(loop) on a fresh loop of each implementation: {impl: result}."""
    results = {}
    for impl, new_loop in IMPLS.items():
        loop = new_loop()
        try:
            results[impl] = scenario(loop)
        finally:
            if not loop.is_closed():
                loop.run_until_complete(loop.shutdown_default_executor())
                loop.close()
            asyncio.set_event_loop(None)
    return results


# -- the loop ------------------------------------------------------------------------
def test_loop_closed_flag():
    """loop._closed (the issue's example; is_closed()'s private twin)."""
    def scenario(loop):
        seen = [loop._closed]
        loop.run_until_complete(asyncio.sleep(0))
        seen.append(loop._closed)
        loop.close()
        seen.append(loop._closed)
        return seen
    results = _both(scenario)
    assert results["coroloop"] == results["asyncio"] == [False, False, True]


def test_default_executor_and_shutdown_flag():
    """anyio's _shutdown_default_executor: loop._default_executor (None until the
    first run_in_executor) and loop._executor_shutdown_called."""
    def scenario(loop):
        seen = [loop._default_executor is None, loop._executor_shutdown_called]
        loop.run_until_complete(loop.run_in_executor(None, sum, [1]))
        seen.append(type(loop._default_executor).__name__)
        loop.run_until_complete(loop.shutdown_default_executor())
        seen.append(loop._executor_shutdown_called)
        return seen
    results = _both(scenario)
    assert results["coroloop"] == results["asyncio"] == [True, False, "ThreadPoolExecutor", True]


def test_loop_takes_attributes_of_its_users(impl_loop):
    """ipykernel marks the loop it drives: loop._should_close = False/True."""
    impl_loop._should_close = False
    assert impl_loop._should_close is False
    impl_loop._should_close = True
    assert impl_loop._should_close is True


# -- tasks -----------------------------------------------------------------------------
def test_task_waiter_must_cancel_coro_state():
    """anyio's cancel scopes (_fut_waiter, _must_cancel), aiomonitor (_coro, _state)."""
    def scenario(loop):
        seen = []

        async def child(fut):
            await fut

        async def main():
            fut = loop.create_future()
            coro = child(fut)
            task = loop.create_task(coro)
            seen.append(("new", task._fut_waiter, task._must_cancel, task._coro is coro,
                         task._state))
            await asyncio.sleep(0)
            seen.append(("waiting", task._fut_waiter is fut, task._must_cancel, task._state))
            fut.set_result(None)
            seen.append(("woken", task._fut_waiter is fut, fut.done()))
            await asyncio.sleep(0)
            seen.append(("done", task._fut_waiter, task._state, task._coro is coro))
            # A cancel() that cannot reach a waiter is remembered in _must_cancel.
            task = loop.create_task(child(loop.create_future()))
            task.cancel()
            seen.append(("cancel before start", task._must_cancel))
            with pytest.raises(asyncio.CancelledError):
                await task
            seen.append(("cancelled", task._must_cancel, task._state))

        loop.run_until_complete(main())
        return seen
    results = _both(scenario)
    assert results["coroloop"] == results["asyncio"]


def test_task_callbacks_and_root_task_detection():
    """anyio's find_root_task(): the task run_until_complete() drives is the one with
    asyncio's _run_until_complete_cb among its _callbacks (checked the way anyio
    does, so the test needs no anyio on every Python version)."""
    from asyncio.base_events import _run_until_complete_cb

    def find_root_task():
        for task in asyncio.all_tasks():
            if task._callbacks and not task.done():
                for cb, _context in task._callbacks:
                    if cb is _run_until_complete_cb:
                        return task
        return None

    def scenario(loop):
        async def main():
            me = asyncio.current_task()
            callbacks = [cb.__qualname__ for cb, _ctx in me._callbacks]

            async def inner():
                return find_root_task()
            found = await asyncio.ensure_future(inner())
            return callbacks, found is me
        return loop.run_until_complete(main())
    results = _both(scenario)
    assert results["coroloop"] == results["asyncio"] == (["_run_until_complete_cb"], True)


def test_log_destroy_pending_and_source_traceback(impl_loop):
    """tornado turns _log_destroy_pending off for a task it abandons, and reads
    future._source_traceback with getattr."""
    errors = []
    impl_loop.set_exception_handler(lambda loop, ctx: errors.append(ctx["message"]))

    async def forever():
        await asyncio.Future()

    task = impl_loop.create_task(forever())
    task._log_destroy_pending = False
    impl_loop.run_until_complete(asyncio.sleep(0))
    assert getattr(task, "_source_traceback", ()) in (None, ())
    del task
    gc.collect()
    assert errors == []


# -- futures and handles -------------------------------------------------------------------
def test_future_loop_and_handle_fields(impl_loop):
    """future._loop, handle._callback/_args/_cancelled, timer._when (the issue's list)."""
    fut = impl_loop.create_future()
    assert fut._loop is impl_loop
    handle = impl_loop.call_soon(print, 1, 2)
    assert (handle._callback, handle._args, handle._cancelled) == (print, (1, 2), False)
    handle.cancel()
    assert (handle._callback, handle._args, handle._cancelled) == (None, None, True)
    timer = impl_loop.call_at(impl_loop.time() + 100, print)
    assert timer._when == timer.when()
    timer.cancel()
    fut.cancel()


def test_handle_run_reports_errors(impl_loop):
    """handle._run() (nest_asyncio's scheduler calls it): runs the callback in its
    context; a failure goes to the exception handler."""
    reported = []
    impl_loop.set_exception_handler(lambda loop, ctx: reported.append(type(ctx["exception"])))
    ran = []
    impl_loop.call_soon(ran.append, "ran")._run()
    impl_loop.call_soon(lambda: 1 / 0)._run()
    assert ran == ["ran"] and reported == [ZeroDivisionError]

"""The core scheduler: callbacks, timers, running and stopping, errors, debug mode,
threads, executors, async generators, readiness callbacks and instruments."""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextvars
import gc
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import weakref

import pytest

import coroloop
from coroloop.testing import VirtualClock, new_virtual_loop


def stop_after(loop, *awaitables):
    """Run the loop until every awaitable is done."""
    async def wait_all():
        for aw in awaitables:
            await aw
    return loop.run_until_complete(wait_all())


# -- basics ----------------------------------------------------------------------------
def test_loop_is_an_asyncio_abstract_event_loop(loop):
    assert isinstance(loop, asyncio.AbstractEventLoop)
    assert isinstance(loop, coroloop.EventLoop)
    assert not loop.is_running()
    assert not loop.is_closed()
    assert "running=False" in repr(loop)


def test_time_is_monotonic_by_default(loop):
    assert isinstance(loop.clock, coroloop.MonotonicClock)
    first = loop.time()
    assert abs(first - time.monotonic()) < 1.0
    assert loop.time() >= first


# -- call_soon -------------------------------------------------------------------------
def test_call_soon_runs_in_fifo_order_with_args(loop):
    calls = []
    for i in range(5):
        loop.call_soon(calls.append, i)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert calls == [0, 1, 2, 3, 4]


def test_call_soon_returns_a_handle_that_can_be_cancelled(loop):
    calls = []
    handle = loop.call_soon(calls.append, "cancelled")
    loop.call_soon(calls.append, "kept")
    assert isinstance(handle, asyncio.Handle)
    assert not handle.cancelled()
    handle.cancel()
    assert handle.cancelled()
    handle.cancel()  # idempotent
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert calls == ["kept"]
    assert "cancelled" in repr(handle)


def test_callbacks_scheduled_by_callbacks_run_in_the_next_iteration(loop):
    order = []

    def first():
        order.append("first")
        loop.call_soon(order.append, "scheduled-by-first")

    loop.call_soon(first)
    loop.call_soon(order.append, "second")
    loop.call_soon(loop.stop)
    loop.run_forever()
    # stop() lets the current iteration finish, nothing more.
    assert order == ["first", "second"]
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert order == ["first", "second", "scheduled-by-first"]


def test_call_soon_runs_in_given_context(loop):
    var = contextvars.ContextVar("var", default="default")
    ctx = contextvars.copy_context()
    ctx.run(var.set, "in-ctx")
    seen = []
    handle = loop.call_soon(lambda: seen.append(var.get()), context=ctx)
    assert handle.get_context() is ctx
    loop.call_soon(lambda: seen.append(var.get()))
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["in-ctx", "default"]


def test_call_soon_copies_the_current_context(loop):
    var = contextvars.ContextVar("var", default="default")
    token = var.set("caller")
    try:
        seen = []
        loop.call_soon(lambda: seen.append(var.get()))
    finally:
        var.reset(token)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["caller"]


def test_call_soon_rejects_non_callables_and_coroutines(loop):
    with pytest.raises(TypeError, match="call_soon"):
        loop.call_soon(42)

    async def coro_fn():
        pass

    loop.set_debug(True)
    with pytest.raises(TypeError, match="coroutines cannot be used with call_soon"):
        loop.call_soon(coro_fn)
    with pytest.raises(TypeError, match="coroutines cannot be used with call_(later|at)"):
        loop.call_later(1, coro_fn)


# -- timers ----------------------------------------------------------------------------
def test_call_later_orders_by_deadline_then_fifo(virtual_loop):
    loop = virtual_loop
    calls = []
    loop.call_later(0.3, calls.append, "c")
    loop.call_later(0.1, calls.append, "a1")
    loop.call_later(0.2, calls.append, "b")
    loop.call_later(0.1, calls.append, "a2")
    loop.call_later(0.1, calls.append, "a3")
    loop.call_later(0.4, loop.stop)
    loop.run_forever()
    assert calls == ["a1", "a2", "a3", "b", "c"]


def test_call_at_uses_loop_time_and_records_when(virtual_loop):
    loop = virtual_loop
    fired_at = []
    start = loop.time()
    handle = loop.call_at(start + 10, lambda: fired_at.append(loop.time()))
    assert isinstance(handle, asyncio.TimerHandle)
    assert handle.when() == start + 10
    loop.call_at(start + 11, loop.stop)
    loop.run_forever()
    assert fired_at == [start + 10]


def test_call_later_with_zero_or_negative_delay_runs_after_ready_callbacks(virtual_loop):
    loop = virtual_loop
    calls = []
    loop.call_later(-5, calls.append, "negative")
    loop.call_later(0, calls.append, "zero")
    loop.call_soon(calls.append, "soon")
    loop.call_later(0.001, loop.stop)
    loop.run_forever()
    # Due timers are moved onto the ready queue behind what was already there.
    assert calls == ["soon", "negative", "zero"]


def test_cancelled_timer_does_not_run(virtual_loop):
    loop = virtual_loop
    calls = []
    handle = loop.call_later(1, calls.append, "x")
    handle.cancel()
    assert handle.cancelled()
    assert handle.when() == pytest.approx(loop.time() + 1)
    loop.call_later(2, loop.stop)
    loop.run_forever()
    assert calls == []


def test_timer_cancelled_by_earlier_timer_does_not_run(virtual_loop):
    loop = virtual_loop
    calls = []
    later = loop.call_later(2, calls.append, "later")
    loop.call_later(1, later.cancel)
    loop.call_later(3, loop.stop)
    loop.run_forever()
    assert calls == []


def test_cancelling_a_fired_timer_is_harmless(virtual_loop):
    loop = virtual_loop
    calls = []
    handle = loop.call_later(1, calls.append, "ran")
    loop.call_later(2, loop.stop)
    loop.run_forever()
    handle.cancel()
    assert handle.cancelled()
    assert calls == ["ran"]


def test_call_later_and_call_at_reject_none(loop):
    with pytest.raises(TypeError):
        loop.call_later(None, print)
    with pytest.raises(TypeError):
        loop.call_at(None, print)


def test_timer_handles_compare_by_deadline(virtual_loop):
    loop = virtual_loop
    early = loop.call_at(5, print)
    late = loop.call_at(6, print)
    assert early < late
    assert late > early
    early.cancel()
    late.cancel()


def _alive(refs):
    gc.collect()
    return sum(1 for r in refs if r() is not None)


def test_heap_drops_many_cancelled_timers(virtual_loop):
    """Cancelled timers must not pile up: once they dominate the heap they are
    dropped, so what they reference is freed long before their deadline."""
    loop = virtual_loop
    keep = loop.call_later(10_000, print)   # one live timer far away
    refs = []
    for i in range(1000):
        handle = loop.call_later(5_000 + i, print)
        refs.append(weakref.ref(handle))
        handle.cancel()
    del handle
    loop.call_soon(loop.stop)
    loop.run_forever()   # one iteration: the heap is cleaned up
    assert _alive(refs) == 0
    assert loop.time() == 0  # and no virtual time passed: cleanup needs no deadline
    keep.cancel()


def test_heap_stays_small_under_timeout_churn(virtual_loop):
    """The timeout pattern: arm a far timer, finish early, cancel it; repeatedly."""
    loop = virtual_loop
    refs = []
    # A live timer at the head of the heap: dead entries behind it can only go
    # away by the heap being cleaned, not by being popped off the front.
    keep = loop.call_later(1800, print)

    async def churn():
        for i in range(2000):
            handle = loop.call_later(3600, print)
            refs.append(weakref.ref(handle))
            await coroloop.sleep(0)
            handle.cancel()

    loop.run_until_complete(churn())
    assert loop.time() == 0
    # The number of dead timers kept alive must be bounded, not proportional to 2000.
    assert _alive(refs) <= 200
    keep.cancel()


def test_cancelled_sleeps_are_dropped_from_the_heap(virtual_loop):
    loop = virtual_loop
    refs = []
    keep = loop.call_later(1800, print)

    async def sleeper():
        await coroloop.sleep(3600)

    async def main():
        for _ in range(500):
            task = loop.create_task(sleeper())
            await coroloop.sleep(0)
            refs.append(weakref.ref(task.waiting_on()))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        await coroloop.sleep(0)

    loop.run_until_complete(main())
    assert loop.time() == 0
    assert _alive(refs) <= 100
    keep.cancel()


# -- running and stopping ---------------------------------------------------------------
def test_run_until_complete_returns_result_and_sets_running_state(loop):
    states = []

    async def main():
        states.append((loop.is_running(), asyncio.get_running_loop() is loop))
        return 42

    assert loop.run_until_complete(main()) == 42
    assert states == [(True, True)]
    assert not loop.is_running()
    assert asyncio._get_running_loop() is None


def test_run_until_complete_raises_the_exception(loop):
    async def main():
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        loop.run_until_complete(main())


def test_run_until_complete_accepts_a_future(loop):
    fut = loop.create_future()
    loop.call_soon(fut.set_result, "done")
    assert loop.run_until_complete(fut) == "done"


def test_run_until_complete_accepts_an_awaitable(loop):
    class Awaitable:
        def __await__(self):
            yield from coroloop.sleep(0).__await__()
            return "awaited"

    assert loop.run_until_complete(Awaitable()) == "awaited"


def test_run_until_complete_rejects_future_of_other_loop(loop):
    other = coroloop.new_event_loop()
    try:
        fut = other.create_future()
        with pytest.raises(ValueError, match="different loop"):
            loop.run_until_complete(fut)
    finally:
        other.close()


def test_run_until_complete_stopped_early(loop):
    fut = loop.create_future()
    loop.call_soon(loop.stop)
    with pytest.raises(RuntimeError, match="Event loop stopped before Future completed."):
        loop.run_until_complete(fut)
    assert not fut.done()
    fut.cancel()


def test_stop_before_run_forever_runs_one_iteration(loop):
    calls = []

    def first():
        calls.append(1)
        loop.call_soon(calls.append, 2)

    loop.call_soon(first)
    loop.stop()
    loop.run_forever()
    assert calls == [1]
    loop.stop()
    loop.run_forever()
    assert calls == [1, 2]


def test_run_forever_can_be_restarted(loop):
    counts = []
    for i in range(3):
        loop.call_soon(counts.append, i)
        loop.call_soon(loop.stop)
        loop.run_forever()
    assert counts == [0, 1, 2]
    assert not loop.is_running()


def test_nested_run_is_refused(loop):
    errors = []

    async def main():
        inner = coroloop.sleep(0)
        try:
            loop.run_until_complete(inner)
        except RuntimeError as exc:
            errors.append(str(exc))
        finally:
            inner.close()
        try:
            loop.run_forever()
        except RuntimeError as exc:
            errors.append(str(exc))

    loop.run_until_complete(main())
    assert errors == ["This event loop is already running"] * 2


def test_running_a_second_loop_inside_a_running_loop_is_refused(loop):
    other = coroloop.new_event_loop()
    try:
        async def main():
            with pytest.raises(RuntimeError,
                               match="Cannot run the event loop while another loop is running"):
                other.run_forever()
            return "ok"

        assert loop.run_until_complete(main()) == "ok"
        assert not other.is_running()
    finally:
        other.close()


def test_close_a_running_loop_is_refused(loop):
    async def main():
        with pytest.raises(RuntimeError, match="Cannot close a running event loop"):
            loop.close()
        return "still open"

    assert loop.run_until_complete(main()) == "still open"
    assert not loop.is_closed()


def test_closed_loop_refuses_work(loop):
    loop.close()
    assert loop.is_closed()
    loop.close()  # a second close is a no-op
    for call in (lambda: loop.call_soon(print),
                 lambda: loop.call_later(1, print),
                 lambda: loop.call_at(1, print),
                 lambda: loop.call_soon_threadsafe(print),
                 loop.run_forever,
                 lambda: loop.run_in_executor(None, print)):
        with pytest.raises(RuntimeError, match="Event loop is closed"):
            call()

    async def coro():
        pass

    c = coro()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.run_until_complete(c)
    c.close()  # ensure no "never awaited" warning either way
    c2 = coro()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        loop.create_task(c2)  # closes the coroutine: no "never awaited" warning


def test_unclosed_loop_warns(recwarn):
    loop = coroloop.new_event_loop()
    with pytest.warns(ResourceWarning, match="unclosed event loop"):
        del loop
        gc.collect()


# -- exceptions in callbacks ------------------------------------------------------------
def test_exception_in_callback_is_reported_and_loop_keeps_running(loop, errors):
    errors.install(loop)
    calls = []

    def bad():
        raise ZeroDivisionError("in callback")

    loop.call_soon(bad)
    loop.call_soon(calls.append, "after")
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert calls == ["after"]
    [context] = errors.contexts
    assert isinstance(context["exception"], ZeroDivisionError)
    assert context["message"].startswith("Exception in callback")
    assert "bad" in context["message"]
    assert isinstance(context["handle"], asyncio.Handle)


def test_exception_in_timer_callback_is_reported(virtual_loop, errors):
    loop = virtual_loop
    errors.install(loop)
    loop.call_later(1, lambda: 1 / 0)
    loop.call_later(2, loop.stop)
    loop.run_forever()
    assert [type(e) for e in errors.exceptions] == [ZeroDivisionError]


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_keyboard_interrupt_and_system_exit_escape_the_loop(loop, exc_type):
    def bail():
        raise exc_type()

    calls = []
    loop.call_soon(bail)
    loop.call_soon(calls.append, "later")
    with pytest.raises(exc_type):
        loop.run_forever()
    assert not loop.is_running()
    # The loop is usable afterwards and the rest of the queue was kept.
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert calls == ["later"]


def test_exception_handler_get_set(loop):
    assert loop.get_exception_handler() is None

    def handler(lp, ctx):
        pass

    loop.set_exception_handler(handler)
    assert loop.get_exception_handler() is handler
    loop.set_exception_handler(None)
    assert loop.get_exception_handler() is None
    with pytest.raises(TypeError, match="callable"):
        loop.set_exception_handler("not callable")


def test_call_exception_handler_passes_loop_and_context(loop):
    seen = []
    loop.set_exception_handler(lambda lp, ctx: seen.append((lp, ctx)))
    context = {"message": "custom", "extra": 1}
    loop.call_exception_handler(context)
    assert seen == [(loop, context)]


def test_default_exception_handler_logs(loop, caplog):
    caplog.set_level(logging.ERROR, logger="asyncio")
    try:
        raise ValueError("the exception")
    except ValueError as exc:
        error = exc
    loop.call_exception_handler({"message": "Something broke", "exception": error,
                                 "detail": "a detail"})
    [record] = [r for r in caplog.records if r.name == "asyncio"]
    assert record.levelno == logging.ERROR
    assert "Something broke" in record.getMessage()
    assert "detail: 'a detail'" in record.getMessage()
    assert record.exc_info[1] is error


def test_default_exception_handler_without_message(loop, caplog):
    caplog.set_level(logging.ERROR, logger="asyncio")
    loop.default_exception_handler({})
    assert "Unhandled exception in event loop" in caplog.text


def test_failing_exception_handler_is_logged(loop, caplog):
    caplog.set_level(logging.ERROR, logger="asyncio")

    def handler(lp, ctx):
        raise RuntimeError("handler broke")

    loop.set_exception_handler(handler)
    loop.call_exception_handler({"message": "original"})
    assert "Unhandled error in exception handler" in caplog.text
    assert "handler broke" in caplog.text


def test_callback_error_via_default_handler_is_logged(loop, caplog):
    caplog.set_level(logging.ERROR, logger="asyncio")

    def bad():
        raise KeyError("nope")

    loop.call_soon(bad)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert "Exception in callback" in caplog.text
    assert "KeyError" in caplog.text


# -- debug mode -------------------------------------------------------------------------
def test_debug_flag(loop):
    assert loop.get_debug() is bool(sys.flags.dev_mode or os.environ.get("PYTHONASYNCIODEBUG"))
    loop.set_debug(True)
    assert loop.get_debug()
    loop.set_debug(False)
    assert not loop.get_debug()


def test_slow_callback_is_logged_in_debug_mode(loop, caplog):
    caplog.set_level(logging.WARNING, logger="asyncio")
    loop.set_debug(True)
    # Every callback is "slow" against a zero threshold: no real sleeping needed.
    loop.slow_callback_duration = 0.0

    def my_slow_callback():
        pass

    loop.call_soon(my_slow_callback)
    loop.call_soon(loop.stop)
    loop.run_forever()
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("my_slow_callback" in m and "took" in m and "seconds" in m for m in messages)


def test_slow_task_step_names_the_task(loop, caplog):
    caplog.set_level(logging.WARNING, logger="asyncio")
    loop.set_debug(True)
    loop.slow_callback_duration = 0.0

    async def slow_step():
        pass

    loop.run_until_complete(loop.create_task(slow_step(), name="the-slow-one"))
    assert any("the-slow-one" in r.getMessage() and "took" in r.getMessage()
               for r in caplog.records)


def test_fast_callbacks_are_not_logged(loop, caplog):
    caplog.set_level(logging.WARNING, logger="asyncio")
    loop.set_debug(True)
    loop.slow_callback_duration = 3600
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert not [r for r in caplog.records if "took" in r.getMessage()]


def test_debug_mode_records_where_handles_were_created(loop, errors):
    errors.install(loop)
    loop.set_debug(True)

    def bad():
        raise ValueError

    handle = loop.call_soon(bad)
    loop.call_soon(loop.stop)
    loop.run_forever()
    [context] = errors.contexts
    assert context["handle"] is handle
    tb = context["source_traceback"]
    assert any(frame.name == "test_debug_mode_records_where_handles_were_created"
               for frame in tb)


def test_debug_mode_detects_calls_from_other_threads(loop):
    loop.set_debug(True)
    errors = []

    async def main():
        def from_thread():
            try:
                loop.call_soon(print)
            except RuntimeError as exc:
                errors.append(str(exc))
        thread = threading.Thread(target=from_thread)
        thread.start()
        await loop.run_in_executor(None, thread.join)

    loop.run_until_complete(main())
    assert len(errors) == 1 and "thread" in errors[0]


def test_debug_mode_tracks_coroutine_origin_while_running(loop):
    loop.set_debug(True)

    async def depth():
        return sys.get_coroutine_origin_tracking_depth()

    assert loop.run_until_complete(depth()) > 0
    assert sys.get_coroutine_origin_tracking_depth() == 0


@pytest.mark.parametrize("debug", [False, True])
def test_a_run_puts_back_the_programs_own_origin_tracking_depth(loop, debug):
    # asyncio saves the depth when debug mode raises it and restores it after; a
    # run without debug mode never touches it.
    loop.set_debug(debug)

    async def depth():
        return sys.get_coroutine_origin_tracking_depth()

    sys.set_coroutine_origin_tracking_depth(3)
    try:
        assert loop.run_until_complete(depth()) == (10 if debug else 3)
        assert sys.get_coroutine_origin_tracking_depth() == 3
        loop.set_debug(not debug)  # turned off (or on) while stopped, then run again
        assert loop.run_until_complete(depth()) == (3 if debug else 10)
        assert sys.get_coroutine_origin_tracking_depth() == 3
    finally:
        sys.set_coroutine_origin_tracking_depth(0)


def _python_with_env(code, **env):
    full_env = dict(os.environ)
    full_env.pop("PYTHONASYNCIODEBUG", None)
    full_env.pop("PYTHONDEVMODE", None)
    full_env.update(env)
    src = os.path.join(os.path.dirname(coroloop.__file__), os.pardir)
    full_env["PYTHONPATH"] = os.path.abspath(src)
    return subprocess.run([sys.executable, "-c", code], env=full_env,
                          capture_output=True, text=True, timeout=30)


def test_pythonasynciodebug_env_enables_debug():
    code = ("import coroloop; loop = coroloop.new_event_loop(); "
            "print(loop.get_debug()); loop.close()")
    on = _python_with_env(code, PYTHONASYNCIODEBUG="1")
    off = _python_with_env(code)
    assert on.returncode == 0, on.stderr
    assert off.returncode == 0, off.stderr
    assert on.stdout.strip() == "True"
    assert off.stdout.strip() == "False"


def test_dev_mode_enables_debug():
    code = ("import coroloop; loop = coroloop.new_event_loop(); "
            "print(loop.get_debug()); loop.close()")
    result = _python_with_env(code, PYTHONDEVMODE="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


# -- threads ----------------------------------------------------------------------------
def test_call_soon_threadsafe_wakes_a_blocked_loop_promptly(loop):
    """No timers, no ready callbacks: the loop blocks in the poller until woken."""
    woke = []
    entered_poll = threading.Event()

    class Watcher:
        def io_wait_started(self, timeout):
            if timeout is None:
                entered_poll.set()

    loop.add_instrument(Watcher())

    def poke():
        assert entered_poll.wait(10)
        time.sleep(0.05)  # make sure the loop is really inside poll()
        woke.append(time.monotonic())
        loop.call_soon_threadsafe(loop.stop)

    thread = threading.Thread(target=poke)
    thread.start()
    loop.run_forever()
    stopped = time.monotonic()
    thread.join()
    assert len(woke) == 1
    assert stopped - woke[0] < 0.5


def test_call_soon_threadsafe_from_many_threads(loop):
    results = []
    done = threading.Barrier(9)

    def worker(n):
        for i in range(50):
            loop.call_soon_threadsafe(results.append, (n, i))
        done.wait()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()

    async def main():
        await loop.run_in_executor(None, done.wait)
        await coroloop.sleep(0)

    loop.run_until_complete(main())
    for t in threads:
        t.join()
    assert len(results) == 400
    for n in range(8):  # FIFO per producing thread
        assert [i for m, i in results if m == n] == list(range(50))


def test_call_soon_threadsafe_rejects_non_callables(loop):
    with pytest.raises(TypeError):
        loop.call_soon_threadsafe(None)


THREAD_SAFE_HANDLE = getattr(asyncio.events, "_ThreadSafeHandle", None)
needs_thread_safe_handles = pytest.mark.skipif(
    THREAD_SAFE_HANDLE is None, reason="this asyncio has no thread-safe handles (3.13.1+)")


def test_call_soon_threadsafe_handle_class_as_asyncio(loop):
    # asyncio 3.13.1+/3.14 return its private events._ThreadSafeHandle (gh-128340);
    # coroloop's is an instance of it wherever it exists.
    handle = loop.call_soon_threadsafe(print)
    handle.cancel()
    assert isinstance(handle, asyncio.Handle)
    if THREAD_SAFE_HANDLE is not None:
        assert isinstance(handle, THREAD_SAFE_HANDLE)
    assert handle.cancelled() and "cancelled" in repr(handle)


@needs_thread_safe_handles
def test_threadsafe_handle_cancel_from_another_thread_waits_for_the_callback(loop):
    seen = []

    def callback():
        # Another thread asks while this callback runs: it must wait for it to end.
        asker = threading.Thread(target=lambda: seen.append(("cancelled?", handle.cancelled())))
        asker.start()
        asker.join(0.2)
        seen.append(("asker still waiting", asker.is_alive()))
        loop.call_soon(lambda: (asker.join(), loop.stop()))

    handle = loop.call_soon_threadsafe(callback)
    loop.run_forever()
    assert seen == [("asker still waiting", True), ("cancelled?", False)]
    assert handle.get_context() is not None


@needs_thread_safe_handles
def test_threadsafe_handle_cancelled_after_dequeue_does_not_run(loop):
    # The scheduler checks cancelled() and then runs the callback; a cancel from
    # another thread between the two must still win.
    ran = []
    handle = loop.call_soon_threadsafe(ran.append, 1)
    callback, args, context = handle._callback, handle._args, handle._context
    handle.cancel()
    assert context.run(callback, *args) is None
    assert ran == []
    loop.run_until_complete(coroloop.sleep(0))
    assert ran == []


# -- executors --------------------------------------------------------------------------
def test_run_in_executor_uses_default_thread_pool(loop):
    def work(x):
        return x * 2, threading.current_thread() is not threading.main_thread()

    async def main():
        return await loop.run_in_executor(None, work, 21)

    assert loop.run_until_complete(main()) == (42, True)
    loop.run_until_complete(loop.shutdown_default_executor())


def test_run_in_executor_propagates_exceptions(loop):
    def fail():
        raise LookupError("from thread")

    async def main():
        with pytest.raises(LookupError, match="from thread"):
            await loop.run_in_executor(None, fail)
        return True

    assert loop.run_until_complete(main())
    loop.run_until_complete(loop.shutdown_default_executor())


def test_run_in_executor_with_explicit_executor(loop):
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mine") as pool:
        async def main():
            return await loop.run_in_executor(pool, lambda: threading.current_thread().name)

        assert loop.run_until_complete(main()).startswith("mine")


def test_set_default_executor(loop):
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="default-pool")
    loop.set_default_executor(pool)

    async def main():
        return await loop.run_in_executor(None, lambda: threading.current_thread().name)

    assert loop.run_until_complete(main()).startswith("default-pool")
    loop.run_until_complete(loop.shutdown_default_executor())
    with pytest.raises(RuntimeError):
        pool.submit(print)  # the loop shut our pool down


def test_set_default_executor_requires_thread_pool(loop):
    with pytest.raises(TypeError, match="ThreadPoolExecutor"):
        loop.set_default_executor(object())
    process_pool_like = concurrent.futures.Executor()
    with pytest.raises(TypeError, match="ThreadPoolExecutor"):
        loop.set_default_executor(process_pool_like)


def test_shutdown_default_executor_then_run_in_executor_fails(loop):
    async def main():
        await loop.run_in_executor(None, lambda: None)
        await loop.shutdown_default_executor()
        with pytest.raises(RuntimeError, match="shutdown"):
            loop.run_in_executor(None, lambda: None)
        return True

    assert loop.run_until_complete(main())


def test_shutdown_default_executor_without_executor(loop):
    assert loop.run_until_complete(loop.shutdown_default_executor()) is None


def test_shutdown_default_executor_waits_for_running_work(loop):
    release = threading.Event()
    finished = []

    def work():
        release.wait(10)
        finished.append(True)

    async def main():
        fut = loop.run_in_executor(None, work)
        loop.call_soon(release.set)
        await loop.shutdown_default_executor()
        assert finished == [True]  # joined: the work ended before shutdown returned
        return await fut

    assert loop.run_until_complete(main()) is None


# -- async generators -------------------------------------------------------------------
def test_shutdown_asyncgens_runs_finally_of_unfinished_generator(loop):
    events = []

    async def agen():
        try:
            yield 1
            yield 2
        finally:
            events.append("finally")

    gen = agen()

    async def main():
        assert await gen.__anext__() == 1

    loop.run_until_complete(main())
    assert events == []
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert events == ["finally"]
    del gen


def test_shutdown_asyncgens_can_await_in_finally(virtual_loop):
    loop = virtual_loop
    events = []

    async def agen():
        try:
            yield 1
        finally:
            await coroloop.sleep(5)
            events.append(("cleaned", loop.time()))

    gen = agen()

    async def main():
        await gen.__anext__()

    loop.run_until_complete(main())
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert events == [("cleaned", 5.0)]


def test_shutdown_asyncgens_reports_errors(loop, errors):
    errors.install(loop)

    async def agen():
        try:
            yield 1
        finally:
            raise ValueError("cleanup failed")

    gen = agen()

    async def main():
        await gen.__anext__()

    loop.run_until_complete(main())
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert [type(e) for e in errors.exceptions] == [ValueError]
    assert "asynchronous generator" in errors.messages[0]
    assert errors.contexts[0]["asyncgen"] is gen


def test_garbage_collected_async_generator_is_finalized_on_the_loop(loop):
    events = []

    async def agen():
        try:
            yield 1
            yield 2
        finally:
            events.append(asyncio.get_running_loop() is loop)

    async def main():
        gen = agen()
        await gen.__anext__()
        del gen
        gc.collect()
        for _ in range(3):
            await coroloop.sleep(0)

    loop.run_until_complete(main())
    assert events == [True]


def test_asyncgen_first_iterated_after_shutdown_warns(loop):
    async def agen():
        yield 1

    loop.run_until_complete(loop.shutdown_asyncgens())

    async def main():
        gen = agen()
        with pytest.warns(ResourceWarning, match="shutdown_asyncgens"):
            await gen.__anext__()
        await gen.aclose()

    loop.run_until_complete(main())


def test_asyncgen_hooks_are_restored_after_run(loop):
    before = sys.get_asyncgen_hooks()
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert sys.get_asyncgen_hooks() == before


# -- readiness (add_reader / add_writer) -------------------------------------------------
@pytest.fixture
def sockpair():
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def test_add_reader_fires_when_data_arrives(loop, sockpair):
    a, b = sockpair
    received = []

    def on_readable(sock):
        received.append(sock.recv(100))
        loop.remove_reader(sock)
        loop.stop()

    loop.add_reader(a, on_readable, a)
    loop.call_soon(b.send, b"ping")
    loop.run_forever()
    assert received == [b"ping"]
    assert loop.remove_reader(a) is False  # already removed


def test_add_reader_accepts_file_descriptors(loop, sockpair):
    a, b = sockpair
    received = []

    def on_readable():
        received.append(a.recv(100))
        loop.stop()

    loop.add_reader(a.fileno(), on_readable)
    b.send(b"x")
    loop.run_forever()
    assert received == [b"x"]
    assert loop.remove_reader(a.fileno()) is True


def test_add_writer_fires_when_writable(loop, sockpair):
    a, _ = sockpair
    calls = []

    def on_writable():
        calls.append("writable")
        loop.remove_writer(a)
        loop.stop()

    loop.add_writer(a, on_writable)
    loop.run_forever()
    assert calls == ["writable"]
    assert loop.remove_writer(a) is False


def test_reader_and_writer_on_same_socket(loop, sockpair):
    a, b = sockpair
    events = []

    def on_write():
        events.append("w")
        loop.remove_writer(a)
        a.send(b"hello")

    def on_read():
        events.append(("r", b.recv(100)))
        loop.remove_reader(b)
        loop.stop()

    loop.add_writer(a, on_write)
    loop.add_reader(b, on_read)
    loop.run_forever()
    assert events == ["w", ("r", b"hello")]


def test_add_reader_replaces_previous_callback(loop, sockpair):
    a, b = sockpair
    calls = []
    loop.add_reader(a, calls.append, "old")

    def new():
        calls.append("new")
        a.recv(100)
        loop.remove_reader(a)
        loop.stop()

    loop.add_reader(a, new)
    b.send(b"x")
    loop.run_forever()
    assert calls == ["new"]


def test_removed_reader_does_not_fire(virtual_loop, sockpair):
    loop = virtual_loop
    a, b = sockpair
    calls = []
    loop.add_reader(a, calls.append, "read")
    assert loop.remove_reader(a) is True
    b.send(b"x")
    loop.call_later(1, loop.stop)
    loop.run_forever()
    assert calls == []


def test_reader_removed_by_earlier_callback_in_same_iteration_does_not_fire(loop, sockpair):
    a, b = sockpair
    c, d = socket.socketpair()
    try:
        calls = []

        def first():
            calls.append("first")
            loop.remove_reader(c)
            loop.remove_reader(a)
            loop.call_soon(loop.stop)

        def second():
            calls.append("second")
            loop.remove_reader(c)
            loop.remove_reader(a)
            loop.call_soon(loop.stop)

        loop.add_reader(a, first)
        loop.add_reader(c, second)
        b.send(b"x")
        d.send(b"x")
        time.sleep(0.01)
        loop.run_forever()
        # Both were ready in one poll; whichever ran first removed the other.
        assert len(calls) == 1
    finally:
        c.close()
        d.close()


def test_add_reader_rejects_bad_file_objects(loop):
    with pytest.raises(ValueError):
        loop.add_reader(-1, print)
    with pytest.raises(ValueError, match="Invalid file object"):
        loop.add_reader(object(), print)


def test_remove_reader_on_unknown_fd_returns_false(loop, sockpair):
    a, _ = sockpair
    assert loop.remove_reader(a) is False
    assert loop.remove_writer(a) is False


def test_remove_reader_on_closed_loop_returns_false(loop, sockpair):
    a, _ = sockpair
    loop.add_reader(a, print)
    loop.close()
    assert loop.remove_reader(a) is False


def test_reader_callback_errors_are_reported(loop, sockpair, errors):
    errors.install(loop)
    a, b = sockpair

    def bad():
        a.recv(100)
        loop.remove_reader(a)
        loop.call_soon(loop.stop)
        raise OSError("reader failed")

    loop.add_reader(a, bad)
    b.send(b"x")
    loop.run_forever()
    assert [type(e) for e in errors.exceptions] == [OSError]


# -- instruments ------------------------------------------------------------------------
class Recorder(coroloop.Instrument):
    def __init__(self):
        self.events = []

    def task_spawned(self, task):
        self.events.append(("spawned", task.get_name()))

    def task_step_started(self, task):
        self.events.append(("step_started", task.get_name()))

    def task_step_ended(self, task):
        self.events.append(("step_ended", task.get_name()))

    def task_exited(self, task):
        self.events.append(("exited", task.get_name()))


def test_instrument_task_hooks_fire_in_order(virtual_loop):
    loop = virtual_loop
    rec = Recorder()
    loop.add_instrument(rec)
    assert loop.instruments == (rec,)

    async def child():
        await coroloop.sleep(1)

    loop.run_until_complete(loop.create_task(child(), name="child"))
    assert rec.events == [
        ("spawned", "child"),
        ("step_started", "child"), ("step_ended", "child"),
        ("step_started", "child"), ("step_ended", "child"),
        ("exited", "child"),
    ]
    loop.remove_instrument(rec)
    assert loop.instruments == ()


def test_instrument_sees_nested_spawn(loop):
    rec = Recorder()
    loop.add_instrument(rec)

    async def inner():
        return 1

    async def outer():
        return await loop.create_task(inner(), name="inner")

    loop.run_until_complete(loop.create_task(outer(), name="outer"))
    spawned = [name for kind, name in rec.events if kind == "spawned"]
    exited = [name for kind, name in rec.events if kind == "exited"]
    assert spawned == ["outer", "inner"]
    assert exited == ["inner", "outer"]
    # A spawn happens inside the parent's step.
    i = rec.events.index(("spawned", "inner"))
    assert rec.events[i - 1] == ("step_started", "outer")


def test_instrument_callback_ran_and_io_wait(virtual_loop):
    loop = virtual_loop
    seen = []

    class Watch:
        def callback_ran(self, handle, seconds):
            seen.append(("callback", handle, seconds >= 0))

        def io_wait_started(self, timeout):
            seen.append(("io_wait_started", timeout))

        def io_wait_ended(self, n):
            seen.append(("io_wait_ended", n))

    loop.add_instrument(Watch())
    handle = loop.call_later(5, loop.stop)
    loop.run_forever()
    assert ("callback", handle, True) in seen
    kinds = [e[0] for e in seen]
    assert kinds.index("io_wait_started") < kinds.index("io_wait_ended") < kinds.index("callback")
    # Virtual time: the poller is told not to block at all.
    assert ("io_wait_started", 0.0) in seen
    assert loop.time() == 5


def test_instrument_io_wait_reports_events(loop, sockpair):
    a, b = sockpair
    counts = []

    class Watch:
        def io_wait_ended(self, n):
            counts.append(n)

    loop.add_instrument(Watch())

    def on_read():
        a.recv(10)
        loop.remove_reader(a)
        loop.stop()

    loop.add_reader(a, on_read)
    b.send(b"x")
    loop.run_forever()
    assert max(counts) >= 1


def test_several_instruments_called_in_installation_order(loop):
    order = []

    class Named:
        def __init__(self, name):
            self.name = name

        def task_spawned(self, task):
            order.append(self.name)

    first, second = Named("first"), Named("second")
    loop.add_instrument(first)
    loop.add_instrument(second)
    loop.add_instrument(first)  # adding twice does not duplicate
    assert loop.instruments == (first, second)

    async def noop():
        pass

    loop.run_until_complete(loop.create_task(noop()))
    assert order == ["first", "second"]


def test_raising_instrument_is_removed_and_reported(loop, errors):
    errors.install(loop)
    good = Recorder()

    class Broken:
        def task_step_started(self, task):
            raise RuntimeError("instrument bug")

    broken = Broken()
    loop.add_instrument(broken)
    loop.add_instrument(good)

    async def work():
        await coroloop.sleep(0)
        return "fine"

    assert loop.run_until_complete(loop.create_task(work(), name="w")) == "fine"
    assert loop.instruments == (good,)
    [context] = errors.contexts
    assert isinstance(context["exception"], RuntimeError)
    assert "Broken" in context["message"] and "task_step_started" in context["message"]
    # The good instrument saw every step, including the one where Broken failed.
    assert good.events.count(("step_started", "w")) == 2


def test_add_instrument_rejects_objects_without_hooks(loop):
    with pytest.raises(TypeError, match="hooks"):
        loop.add_instrument(object())
    assert loop.instruments == ()


def test_remove_unknown_instrument(loop):
    with pytest.raises(ValueError, match="not installed"):
        loop.remove_instrument(Recorder())


def test_virtual_loop_helper_builds_a_loop_on_a_virtual_clock():
    clock = VirtualClock(100.0)
    loop = new_virtual_loop(clock)
    try:
        assert loop.clock is clock
        assert loop.time() == 100.0
    finally:
        loop.close()


def test_timers_with_one_deadline_fire_in_scheduling_order(virtual_loop):
    loop = virtual_loop
    calls = []

    async def sleeper(name, when):
        await coroloop.sleep(when - loop.time())
        calls.append(name)

    when = loop.time() + 1
    loop.create_task(sleeper("sleep", when))  # starts (and joins the deadline) last
    loop.call_at(when, calls.append, "a")
    cancelled = loop.call_at(when, calls.append, "cancelled")
    loop.call_at(when, calls.append, "b")
    cancelled.cancel()
    loop.call_at(when + 1, calls.append, "later")
    loop.call_at(when - 0.5, calls.append, "earlier")
    loop.call_at(when, calls.append, "c")
    loop.call_at(when + 2, loop.stop)
    loop.run_forever()
    assert calls == ["earlier", "a", "b", "c", "sleep", "later"]


def test_cancelled_timers_sharing_deadlines_are_purged(virtual_loop):
    loop = virtual_loop
    calls = []
    refs = []
    when = loop.time() + 100
    for i in range(300):
        handle = loop.call_at(when + i % 3, print)
        refs.append(weakref.ref(handle))
        handle.cancel()
    del handle
    kept = [loop.call_at(when + i % 3, calls.append, i) for i in range(6)]
    loop.call_soon(loop.stop)
    loop.run_forever()   # one iteration: the heap is cleaned up
    assert _alive(refs) == 0
    assert loop.time() == 0
    loop.call_at(when + 3, loop.stop)
    loop.run_forever()
    assert calls == [0, 3, 1, 4, 2, 5]
    assert all(not timer.cancelled() for timer in kept)


@pytest.mark.skipif(not hasattr(coroloop._core.poller, "EpollPoller"), reason="epoll only")
def test_epoll_timeout_is_rounded_once():
    """epoll.poll() rounds up to whole milliseconds itself; rounding before it
    turned 8.5 ms into 0.009000000000000001 s, which it slept as 10 ms."""
    poller = coroloop._core.poller.EpollPoller()
    try:
        started = time.monotonic()
        poller.poll(0.0085)
        assert time.monotonic() - started >= 0.0085
        seen = []

        class Recorder:
            def poll(self, timeout, max_events):
                seen.append(timeout)
                return []

        poller._epoll, real = Recorder(), poller._epoll
        poller.poll(0.0085)
        poller.poll(None)
        poller._epoll = real
        assert seen == [0.0085, None]  # None: epoll.poll()'s own "no limit"
    finally:
        poller.close()


@pytest.mark.skipif(not hasattr(coroloop._core.poller, "EpollPoller"), reason="epoll only")
def test_epoll_asks_for_as_many_events_as_it_has_registrations():
    """poll() passes the number of registrations as epoll's maxevents (kept as they
    change, not counted per poll): every ready descriptor is reported at once."""
    poller = coroloop._core.poller.EpollPoller()
    pairs = [socket.socketpair() for _ in range(3)]
    try:
        for a, b in pairs:
            b.send(b"x")
            poller.modify(a.fileno(), True, False)
        assert sorted(fd for fd, _ in poller.poll(0)) == sorted(a.fileno() for a, _ in pairs)
        poller.modify(pairs[0][0].fileno(), False, False)
        assert len(poller.poll(0)) == 2
    finally:
        poller.close()
        for a, b in pairs:
            a.close()
            b.close()


@pytest.mark.parametrize("base", ["asyncio", "coroloop"])
def test_a_loop_subclass_sees_every_call_of_the_methods_it_overrides(base):
    # asyncio's create_task(), TaskGroup, gather, sleep(), locks and a future's
    # callbacks all go through the loop's methods; coroloop's fast paths stand in for
    # them only on loops whose methods are coroloop's own.
    calls = collections.Counter()

    class Counting((coroloop.EventLoop if base == "coroloop" else asyncio.SelectorEventLoop)):
        def call_soon(self, *args, **kwargs):
            calls["call_soon"] += 1
            return super().call_soon(*args, **kwargs)

        def call_later(self, *args, **kwargs):
            calls["call_later"] += 1
            return super().call_later(*args, **kwargs)

        def create_future(self):
            calls["create_future"] += 1
            return super().create_future()

        def create_task(self, *args, **kwargs):
            calls["create_task"] += 1
            return super().create_task(*args, **kwargs)

    lib = coroloop if base == "coroloop" else asyncio

    async def child():
        await lib.sleep(0.001)

    async def main():
        await lib.create_task(child())
        await lib.gather(child(), child())
        async with lib.TaskGroup() as group:
            group.create_task(child())
        lock = lib.Lock()
        async with lock:
            waiter = lib.create_task(lock.acquire())
            await lib.sleep(0)
        await waiter
        lock.release()

    loop = Counting()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    assert calls["create_task"] >= 5, calls   # child x4 and the lock's waiter
    assert calls["call_later"] >= 4, calls    # each sleep(0.001)
    assert calls["create_future"] >= 5, calls  # each sleep's waiter and the lock's
    assert calls["call_soon"] >= 3, calls      # wake-ups (a future's callbacks)
    if base == "coroloop":
        from coroloop._core.loopstate import NATIVE_LOOPS
        assert Counting not in NATIVE_LOOPS
        assert coroloop.EventLoop in NATIVE_LOOPS


@pytest.mark.parametrize("base", ["asyncio", "coroloop"])
@pytest.mark.parametrize("overrides", ["call_at", "time"])
def test_a_loop_subclass_that_overrides_call_at_or_time_sees_call_later(base, overrides):
    # BaseEventLoop.call_later() is call_at(time() + delay).
    seen = []

    class Base(coroloop.EventLoop if base == "coroloop" else asyncio.SelectorEventLoop):
        pass

    if overrides == "call_at":
        class Shifted(Base):
            def call_at(self, when, callback, *args, context=None):
                seen.append(when)
                return super().call_at(when, callback, *args, context=context)
    else:
        class Shifted(Base):
            def time(self):
                seen.append("time")
                return super().time() + 1000.0

    class Deeper(Shifted):  # inherits the routing
        pass

    for cls in (Shifted, Deeper):
        seen.clear()
        loop = cls()
        loop.set_debug(True)
        try:
            timer = loop.call_later(5, print)
            assert isinstance(timer, asyncio.TimerHandle)
            assert seen, f"{overrides}() not called by call_later()"
            if overrides == "time":
                assert timer.when() > 1000.0
            else:
                assert seen == [timer.when()]
            # the creation stack names this test's line
            assert "test_a_loop_subclass_that_overrides_call_at_or_time_sees_call_later" \
                in [frame.name for frame in timer._source_traceback]
            timer.cancel()
            with pytest.raises(TypeError, match="delay must not be None"):
                loop.call_later(None, print)
        finally:
            loop.close()


def test_a_loop_subclass_that_overrides_none_of_them_keeps_the_fast_paths():
    from coroloop._core.loopstate import NATIVE_LOOPS

    class Plain(coroloop.EventLoop):
        def run_forever(self):  # not a method the fast paths stand in for
            return super().run_forever()

    assert Plain in NATIVE_LOOPS

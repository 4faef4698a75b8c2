"""coroloop.Future and coroloop.Task: states, callbacks, cancellation, introspection
and what happens with bad input.

Future tests that only need the public future protocol run on coroloop's loop and
on stdlib asyncio's loop: coroloop's Future must behave the same on both.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import io
import sys
import types

import pytest

import coroloop
from coroloop import CancelledError, Future, InvalidStateError, Task

PY312 = sys.version_info >= (3, 12)
PY313 = sys.version_info >= (3, 13)


@pytest.fixture(params=["coroloop", "stdlib"])
def any_loop(request):
    """coroloop's loop, then stdlib asyncio's loop (for protocol-level tests)."""
    the_loop = coroloop.new_event_loop() if request.param == "coroloop" \
        else asyncio.new_event_loop()
    yield the_loop
    the_loop.close()


def run_soon(loop):
    """Let every callback scheduled so far (and what those schedule) run."""
    async def settle():
        for _ in range(3):
            await asyncio.sleep(0)
    loop.run_until_complete(settle())


# -- Future: states ------------------------------------------------------------------
def test_new_future_is_pending(any_loop):
    fut = Future(loop=any_loop)
    assert fut.get_loop() is any_loop
    assert not fut.done()
    assert not fut.cancelled()
    assert "pending" in repr(fut)
    assert coroloop.isfuture(fut) and asyncio.isfuture(fut)


def test_result_and_exception_before_done_raise_invalid_state(any_loop):
    fut = Future(loop=any_loop)
    with pytest.raises(InvalidStateError, match="Result is not set"):
        fut.result()
    with pytest.raises(InvalidStateError, match="Exception is not set"):
        fut.exception()
    assert InvalidStateError is asyncio.InvalidStateError


def test_set_result(any_loop):
    fut = Future(loop=any_loop)
    fut.set_result("value")
    assert fut.done() and not fut.cancelled()
    assert fut.result() == "value"
    assert fut.exception() is None
    assert "finished result='value'" in repr(fut)


def test_set_result_twice_names_the_state(any_loop):
    fut = Future(loop=any_loop)
    fut.set_result(1)
    with pytest.raises(InvalidStateError, match="FINISHED") as info:
        fut.set_result(2)
    assert repr(fut) in str(info.value)
    with pytest.raises(InvalidStateError, match="FINISHED"):
        fut.set_exception(ValueError())
    assert fut.result() == 1


def test_set_after_cancel_names_the_state(any_loop):
    fut = Future(loop=any_loop)
    assert fut.cancel()
    with pytest.raises(InvalidStateError, match="CANCELLED"):
        fut.set_result(1)
    with pytest.raises(InvalidStateError, match="CANCELLED"):
        fut.set_exception(ValueError())


def test_set_exception(any_loop):
    fut = Future(loop=any_loop)
    error = KeyError("k")
    fut.set_exception(error)
    assert fut.done()
    assert fut.exception() is error
    with pytest.raises(KeyError):
        fut.result()
    assert "exception=KeyError('k')" in repr(fut)


def test_set_exception_accepts_a_class(any_loop):
    fut = Future(loop=any_loop)
    fut.set_exception(ValueError)
    assert isinstance(fut.exception(), ValueError)


def test_set_exception_stop_iteration(any_loop):
    fut = Future(loop=any_loop)
    if PY313:
        fut.set_exception(StopIteration("stop"))
        exc = fut.exception()
        assert isinstance(exc, RuntimeError)
        assert isinstance(exc.__cause__, StopIteration)
    else:
        with pytest.raises(TypeError, match="StopIteration"):
            fut.set_exception(StopIteration("stop"))
        assert not fut.done()
        fut.cancel()


def test_result_keeps_original_traceback(any_loop):
    def raiser():
        raise ValueError("deep")

    fut = Future(loop=any_loop)
    try:
        raiser()
    except ValueError as exc:
        fut.set_exception(exc)
    with pytest.raises(ValueError) as info:
        fut.result()
    assert any(entry.name == "raiser" for entry in info.traceback)


def test_cancel(any_loop):
    fut = Future(loop=any_loop)
    assert fut.cancel(msg="stop it")
    assert fut.cancelled() and fut.done()
    assert not fut.cancel()  # already done
    with pytest.raises(CancelledError) as info:
        fut.result()
    assert info.value.args == ("stop it",)
    with pytest.raises(CancelledError):
        fut.exception()
    assert "cancelled" in repr(fut)
    assert CancelledError is asyncio.CancelledError


def test_cancel_done_future_returns_false(any_loop):
    fut = Future(loop=any_loop)
    fut.set_result(None)
    assert not fut.cancel()
    assert not fut.cancelled()


def test_future_is_generic():
    alias = Future[int]
    assert alias.__origin__ is Future


# -- Future: callbacks ----------------------------------------------------------------
def test_done_callbacks_run_in_order_via_the_loop(any_loop):
    fut = Future(loop=any_loop)
    calls = []
    fut.add_done_callback(lambda f: calls.append(("a", f.result())))
    fut.add_done_callback(lambda f: calls.append(("b", f.result())))
    fut.add_done_callback(lambda f: calls.append(("c", f.result())))
    fut.set_result(7)
    assert calls == []  # scheduled, never called synchronously
    run_soon(any_loop)
    assert calls == [("a", 7), ("b", 7), ("c", 7)]


def test_callback_added_after_done_is_scheduled(any_loop):
    fut = Future(loop=any_loop)
    fut.set_result(1)
    calls = []
    fut.add_done_callback(calls.append)
    assert calls == []
    run_soon(any_loop)
    assert calls == [fut]


def test_callbacks_run_on_cancel(any_loop):
    fut = Future(loop=any_loop)
    calls = []
    fut.add_done_callback(lambda f: calls.append(f.cancelled()))
    fut.cancel()
    run_soon(any_loop)
    assert calls == [True]


def test_callback_runs_in_the_context_it_was_added_from(any_loop):
    var = contextvars.ContextVar("var", default="none")
    fut = Future(loop=any_loop)
    seen = []
    token = var.set("adder")
    fut.add_done_callback(lambda f: seen.append(("implicit", var.get())))
    var.reset(token)
    explicit = contextvars.copy_context()
    explicit.run(var.set, "explicit")
    fut.add_done_callback(lambda f: seen.append(("explicit", var.get())), context=explicit)
    var.set("changed-later")
    fut.set_result(None)
    run_soon(any_loop)
    assert seen == [("implicit", "adder"), ("explicit", "explicit")]


def test_remove_done_callback_counts_every_registration(any_loop):
    fut = Future(loop=any_loop)
    calls = []

    def a(f):
        calls.append("a")

    def b(f):
        calls.append("b")

    fut.add_done_callback(a)
    fut.add_done_callback(b)
    fut.add_done_callback(a)
    assert fut.remove_done_callback(a) == 2
    assert fut.remove_done_callback(a) == 0
    fut.set_result(None)
    run_soon(any_loop)
    assert calls == ["b"]


def test_remove_only_callback(any_loop):
    fut = Future(loop=any_loop)
    calls = []
    fut.add_done_callback(calls.append)
    assert fut.remove_done_callback(calls.append) == 1
    fut.set_result(None)
    run_soon(any_loop)
    assert calls == []


def test_callback_error_goes_to_exception_handler(any_loop):
    reported = []
    any_loop.set_exception_handler(lambda lp, ctx: reported.append(ctx))
    fut = Future(loop=any_loop)
    calls = []

    def bad(f):
        raise ValueError("callback failed")

    fut.add_done_callback(bad)
    fut.add_done_callback(calls.append)
    fut.set_result(None)
    run_soon(any_loop)
    assert calls == [fut]
    assert [type(c["exception"]) for c in reported] == [ValueError]


# -- Future: awaiting -------------------------------------------------------------------
def test_await_future(any_loop):
    fut = Future(loop=any_loop)

    async def main():
        any_loop.call_soon(fut.set_result, "awaited")
        return await fut

    assert any_loop.run_until_complete(main()) == "awaited"


def test_await_done_future_does_not_suspend(any_loop):
    fut = Future(loop=any_loop)
    fut.set_result(5)
    awaitable = fut.__await__()
    with pytest.raises(StopIteration) as info:
        next(awaitable)
    assert info.value.value == 5


def test_yield_from_future_in_generator_coroutine(any_loop):
    fut = Future(loop=any_loop)

    @types.coroutine
    def legacy():
        return (yield from fut)

    async def main():
        any_loop.call_soon(fut.set_result, "legacy")
        return await legacy()

    assert any_loop.run_until_complete(main()) == "legacy"


def test_await_cancelled_future_raises_cancelled_error_in_awaiter(any_loop):
    fut = Future(loop=any_loop)

    async def main():
        any_loop.call_soon(fut.cancel, "message")
        try:
            await fut
        except CancelledError as exc:
            return exc.args

    assert any_loop.run_until_complete(main()) == ("message",)


# -- Future: unretrieved exceptions --------------------------------------------------
def test_exception_never_retrieved_is_reported(loop, errors):
    errors.install(loop)
    fut = loop.create_future()
    fut.set_exception(ZeroDivisionError("lost"))
    del fut
    gc.collect()
    [context] = errors.contexts
    assert context["message"] == "Future exception was never retrieved"
    assert isinstance(context["exception"], ZeroDivisionError)


@pytest.mark.parametrize("retrieve", ["result", "exception", "cancel"])
def test_retrieved_exception_is_not_reported(loop, errors, retrieve):
    errors.install(loop)
    fut = loop.create_future()
    fut.set_exception(ZeroDivisionError("seen"))
    if retrieve == "result":
        with pytest.raises(ZeroDivisionError):
            fut.result()
    elif retrieve == "exception":
        fut.exception()
    else:
        fut.cancel()
    del fut
    gc.collect()
    assert errors.contexts == []


def test_unretrieved_exception_in_debug_mode_has_source_traceback(loop, errors):
    errors.install(loop)
    loop.set_debug(True)
    fut = loop.create_future()
    fut.set_exception(ValueError())
    del fut
    gc.collect()
    [context] = errors.contexts
    assert any(frame.name == "test_unretrieved_exception_in_debug_mode_has_source_traceback"
               for frame in context["source_traceback"])


def test_create_future_returns_coroloop_future(loop):
    fut = loop.create_future()
    assert isinstance(fut, Future)
    assert fut.get_loop() is loop
    fut.cancel()


def test_isfuture():
    class Duck:
        _asyncio_future_blocking = False

    class NotADuck:
        _asyncio_future_blocking = None

    assert coroloop.isfuture(Duck())
    assert not coroloop.isfuture(NotADuck())
    assert not coroloop.isfuture(Future)   # the class is not a future
    assert not coroloop.isfuture(42)
    stdlib_loop = asyncio.new_event_loop()
    try:
        assert coroloop.isfuture(stdlib_loop.create_future())
    finally:
        stdlib_loop.close()


# -- Task: basics -----------------------------------------------------------------------
async def returns(value):
    return value


def test_task_runs_coroutine_and_returns_result(loop):
    task = loop.create_task(returns("r"))
    assert isinstance(task, Task) and isinstance(task, Future)
    assert not task.done()
    assert loop.run_until_complete(task) == "r"
    assert task.done() and task.result() == "r"


def test_task_exception(loop):
    async def fail():
        raise KeyError("task error")

    task = loop.create_task(fail())
    with pytest.raises(KeyError):
        loop.run_until_complete(task)
    assert isinstance(task.exception(), KeyError)


def test_task_names(loop):
    t1 = loop.create_task(returns(1))
    t2 = loop.create_task(returns(2), name="explicit")
    t3 = coroloop.Task(returns(3), loop=loop, name=42)
    assert t1.get_name().startswith("Task-")
    n1 = int(t1.get_name().removeprefix("Task-"))
    t4 = loop.create_task(returns(4))
    assert int(t4.get_name().removeprefix("Task-")) > n1
    assert t2.get_name() == "explicit"
    assert t3.get_name() == "42"
    t1.set_name("renamed")
    assert t1.get_name() == "renamed"
    assert "name='renamed'" in repr(t1)
    loop.run_until_complete(asyncio.gather(t1, t2, t3, t4))


def test_create_task_fast_path_builds_the_same_task_as_task_init(loop):
    # create_task() builds its tasks without Task.__init__ (tasks.new_task): both
    # must leave every field in the same state.
    def fields(task):
        names = [name for cls in type(task).__mro__
                 for name in getattr(cls, "__slots__", ()) if name != "__weakref__"]
        values = {name: getattr(task, name, "<unset>") for name in names
                  if name != "__dict__"}
        values.update(vars(task))
        values.pop("_name")  # "Task-N": differs by N
        return values

    async def main():
        parent = coroloop.current_task()
        ctx = contextvars.copy_context()
        made = [coroloop.create_task(returns(1), context=ctx),
                loop.create_task(returns(1), context=ctx)]
        reference = Task(returns(1), loop=loop, context=ctx)
        for task in made:
            assert type(task) is Task
            assert fields(task) | {"_coro": None} == fields(reference) | {"_coro": None}
            assert task._args is None and task.spawned_by() is parent
        await asyncio.gather(reference, *made)

    loop.run_until_complete(main())


def test_task_set_result_and_set_exception_are_refused(loop):
    task = loop.create_task(returns(None))
    with pytest.raises(RuntimeError, match="set_result"):
        task.set_result(1)
    with pytest.raises(RuntimeError, match="set_exception"):
        task.set_exception(ValueError())
    loop.run_until_complete(task)


def test_task_get_coro_and_context(loop):
    coro = returns(1)
    ctx = contextvars.copy_context()
    task = loop.create_task(coro, context=ctx)
    assert task.get_coro() is coro
    assert task.get_context() is ctx
    loop.run_until_complete(task)


def test_task_runs_in_its_context(loop):
    var = contextvars.ContextVar("var", default="none")

    async def read_and_set():
        value = var.get()
        var.set("set-by-task")
        await coroloop.sleep(0)
        return value, var.get()

    ctx = contextvars.copy_context()
    ctx.run(var.set, "from-ctx")
    task = loop.create_task(read_and_set(), context=ctx)
    assert loop.run_until_complete(task) == ("from-ctx", "set-by-task")
    assert ctx[var] == "set-by-task"
    assert var.get() == "none"  # the caller's context is untouched


def test_current_task_and_all_tasks(loop):
    async def child():
        await coroloop.sleep(0)

    async def main():
        me = coroloop.current_task()
        assert asyncio.current_task() is me
        kid = coroloop.create_task(child())
        tasks = coroloop.all_tasks()
        assert tasks == {me, kid}
        await kid
        assert coroloop.all_tasks() == {me}
        return me

    task = loop.create_task(main())
    assert loop.run_until_complete(task) is task
    assert coroloop.current_task(loop) is None


def test_create_task_without_running_loop(loop):
    coro = returns(1)
    with pytest.raises(RuntimeError, match="no running event loop"):
        coroloop.create_task(coro)
    coro.close()


@pytest.mark.parametrize("bad", [42, None, returns, lambda: None])
def test_create_task_rejects_non_coroutines(loop, bad):
    with pytest.raises(TypeError, match="coroutine was expected"):
        loop.create_task(bad)
    with pytest.raises(TypeError, match="coroutine was expected"):
        Task(bad, loop=loop)


@pytest.mark.skipif(sys.version_info < (3, 12),
                    reason="3.11's asyncio still accepts generator objects as coroutines; "
                           "test_task_of_generator_runs_on_311 covers that version")
def test_task_of_generator_is_refused(loop):
    def gen():
        yield

    g = gen()
    with pytest.raises(TypeError):
        loop.create_task(g)
    g.close()


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.11-only behaviour")
def test_task_of_generator_runs_on_311(loop):
    def gen():
        yield
        return "from a generator"

    assert loop.run_until_complete(loop.create_task(gen())) == "from a generator"


def test_task_awaits_task(loop):
    async def outer():
        inner = loop.create_task(returns("inner"))
        return await inner

    assert loop.run_until_complete(outer()) == "inner"


# -- Task: cancellation -----------------------------------------------------------------
def test_cancel_before_first_step(loop):
    started = []

    async def body():
        started.append(True)

    task = loop.create_task(body())
    assert task.cancel()
    assert task.cancelling() == 1
    assert "cancelling" in repr(task)
    with pytest.raises(CancelledError):
        loop.run_until_complete(task)
    assert task.cancelled()
    assert started == []


@pytest.mark.coroloop(virtual_time=True)
async def test_cancel_while_waiting_with_message():
    loop = coroloop.get_running_loop()
    seen = []

    async def sleeper():
        try:
            await coroloop.sleep(100)
        except CancelledError as exc:
            seen.append(exc.args)
            raise

    task = loop.create_task(sleeper())
    await coroloop.sleep(1)
    assert task.cancel("go away")
    with pytest.raises(CancelledError) as info:
        await task
    assert info.value.args == ("go away",)
    assert seen == [("go away",)]
    assert task.cancelled()
    assert loop.time() == 1


def test_cancel_done_task_returns_false(loop):
    task = loop.create_task(returns(1))
    loop.run_until_complete(task)
    assert not task.cancel()
    assert task.cancelling() == 0


@pytest.mark.coroloop(virtual_time=True)
async def test_cancelling_and_uncancel():
    async def stubborn():
        me = coroloop.current_task()
        counts = []
        for _ in range(2):
            try:
                await coroloop.sleep(10)
            except CancelledError:
                counts.append(me.cancelling())
                counts.append(me.uncancel())
        return counts

    task = coroloop.create_task(stubborn())
    await coroloop.sleep(1)
    task.cancel()
    task.cancel()  # two requests before the task runs again
    assert task.cancelling() == 2
    await coroloop.sleep(1)
    task.cancel()
    assert await task == [2, 1, 2, 1]


def test_uncancel_never_goes_negative(loop):
    async def body():
        return coroloop.current_task().uncancel()

    assert loop.run_until_complete(body()) == 0


@pytest.mark.coroloop(virtual_time=True)
async def test_swallowed_cancellation_lets_task_finish():
    async def swallow():
        try:
            await coroloop.sleep(10)
        except CancelledError:
            return "swallowed"

    task = coroloop.create_task(swallow())
    await coroloop.sleep(0)
    task.cancel()
    assert await task == "swallowed"


@pytest.mark.coroloop(virtual_time=True)
async def test_cancel_propagates_to_awaited_task():
    async def inner():
        await coroloop.sleep(100)

    async def outer(inner_task):
        await inner_task

    inner_task = coroloop.create_task(inner())
    outer_task = coroloop.create_task(outer(inner_task))
    await coroloop.sleep(1)
    assert outer_task.waiting_on() is inner_task
    outer_task.cancel()
    with pytest.raises(CancelledError):
        await outer_task
    assert inner_task.cancelled()


def test_cancel_requested_during_last_step_is_honoured(loop):
    async def self_cancel():
        coroloop.current_task().cancel()
        return "never returned"

    task = loop.create_task(self_cancel())
    with pytest.raises(CancelledError):
        loop.run_until_complete(task)
    assert task.cancelled()


def test_cancelled_error_cause_chain_is_kept(loop):
    async def raises_cancel():
        raise CancelledError("from inside")

    task = loop.create_task(raises_cancel())
    with pytest.raises(CancelledError) as info:
        loop.run_until_complete(task)
    assert info.value.args == ("from inside",)
    assert task.cancelled()


# -- Task: stacks ---------------------------------------------------------------------
@pytest.mark.coroloop(virtual_time=True)
async def test_get_stack_of_suspended_task():
    async def leaf():
        await coroloop.sleep(10)

    async def branch():
        await leaf()

    task = coroloop.create_task(branch())
    await coroloop.sleep(1)
    names = [f.f_code.co_name for f in task.get_stack()]
    limited = [f.f_code.co_name for f in task.get_stack(limit=1)]
    task.cancel()
    with pytest.raises(CancelledError):
        await task
    assert names[:2] == ["branch", "leaf"]
    assert limited == ["branch"]


def test_get_stack_of_failed_task_is_traceback(loop):
    async def fails():
        raise ValueError("x")

    task = loop.create_task(fails())
    with pytest.raises(ValueError):
        loop.run_until_complete(task)
    assert "fails" in [f.f_code.co_name for f in task.get_stack()]


def test_get_stack_of_finished_task_is_empty(loop):
    task = loop.create_task(returns(1))
    loop.run_until_complete(task)
    assert task.get_stack() == []


def test_print_stack(virtual_loop):
    loop = virtual_loop

    async def waiting_here():
        await coroloop.sleep(10)

    async def main():
        task = loop.create_task(waiting_here(), name="printed")
        await coroloop.sleep(1)
        out = io.StringIO()
        task.print_stack(file=out)
        task.cancel()
        with pytest.raises(CancelledError):
            await task
        return out.getvalue()

    text = loop.run_until_complete(main())
    assert text.startswith("Stack for <Task")
    assert "printed" in text and "waiting_here" in text


def test_print_stack_of_failed_task(loop):
    async def broken():
        raise LookupError("printed error")

    task = loop.create_task(broken())
    with pytest.raises(LookupError):
        loop.run_until_complete(task)
    out = io.StringIO()
    task.print_stack(file=out)
    assert "Traceback for" in out.getvalue()
    assert "LookupError: printed error" in out.getvalue()


# -- Task: eager start ------------------------------------------------------------------
def test_eager_start_runs_first_step_synchronously(loop):
    events = []

    async def eager():
        events.append("started")
        await coroloop.sleep(0)
        events.append("resumed")
        return "eager"

    async def main():
        task = loop.create_task(eager(), eager_start=True)
        events.append("created")
        assert not task.done()
        assert task in coroloop.all_tasks()
        return await task

    assert loop.run_until_complete(main()) == "eager"
    assert events == ["started", "created", "resumed"]


def test_eager_task_that_finishes_synchronously(loop):
    async def quick():
        return coroloop.current_task()

    async def main():
        outer = coroloop.current_task()
        task = loop.create_task(quick(), eager_start=True)
        assert task.done()
        assert task.result() is task  # current_task() inside was the eager task
        assert coroloop.current_task() is outer  # and restored afterwards
        assert task not in coroloop.all_tasks()
        return True

    assert loop.run_until_complete(main())


def test_eager_start_outside_running_loop_is_lazy(loop):
    events = []

    async def body():
        events.append("ran")

    task = loop.create_task(body(), eager_start=True)
    assert events == []
    loop.run_until_complete(task)
    assert events == ["ran"]


def test_eager_task_failing_synchronously(loop):
    async def boom():
        raise ValueError("eager boom")

    async def main():
        task = loop.create_task(boom(), eager_start=True)
        assert task.done()
        with pytest.raises(ValueError):
            task.result()
        return True

    assert loop.run_until_complete(main())


# -- Task: garbage and reporting --------------------------------------------------------
def test_task_destroyed_while_pending_is_reported(loop, errors):
    errors.install(loop)

    async def forever():
        await loop.create_future()

    async def main():
        loop.create_task(forever())
        await coroloop.sleep(0)

    loop.run_until_complete(main())
    # The only references to the task were its future's callbacks: drop them.
    gc.collect()
    assert "Task was destroyed but it is pending!" in errors.messages
    [context] = [c for c in errors.contexts if c["message"].startswith("Task was destroyed")]
    assert isinstance(context["task"], Task)


def test_task_exception_never_retrieved_is_reported(loop, errors):
    errors.install(loop)

    async def fail():
        raise OSError("unseen")

    async def main():
        loop.create_task(fail())
        await coroloop.sleep(0)
        await coroloop.sleep(0)

    loop.run_until_complete(main())
    gc.collect()
    assert "Task exception was never retrieved" in errors.messages
    [exc] = [c["exception"] for c in errors.contexts]
    assert isinstance(exc, OSError)


# -- Task: introspection ----------------------------------------------------------------
def test_waiting_on_reports_sleep_deadline(virtual_loop):
    loop = virtual_loop

    async def sleeper():
        await coroloop.sleep(30)

    async def main():
        task = loop.create_task(sleeper())
        assert task.waiting_on() is None  # not started: runnable
        await coroloop.sleep(0)
        waited = task.waiting_on()
        assert coroloop.isfuture(waited)
        assert waited.when() == pytest.approx(loop.time() + 30)
        await task
        assert task.waiting_on() is None  # done
        return True

    assert loop.run_until_complete(main())


def test_waiting_on_reports_future_and_task(loop):
    fut = loop.create_future()

    async def on_future():
        return await fut

    async def main():
        t1 = loop.create_task(on_future())
        t2 = loop.create_task(_await(t1))
        await coroloop.sleep(0)
        assert t1.waiting_on() is fut
        assert t2.waiting_on() is t1
        assert coroloop.current_task().waiting_on() is None  # we are running
        fut.set_result("x")
        return await t2

    assert loop.run_until_complete(main()) == "x"


async def _await(aw):
    return await aw


def test_spawned_by(loop):
    async def grandchild():
        await coroloop.sleep(0)

    async def child():
        gc_task = coroloop.create_task(grandchild())
        assert gc_task.spawned_by() is coroloop.current_task()
        await gc_task
        return gc_task

    async def main():
        me = coroloop.current_task()
        kid = coroloop.create_task(child())
        assert kid.spawned_by() is me
        gc_task = await kid
        # Finished tasks drop the link so long chains are not kept alive.
        assert kid.spawned_by() is None
        assert gc_task.spawned_by() is None
        return True

    top = loop.create_task(main())
    assert top.spawned_by() is None  # created outside any task
    assert loop.run_until_complete(top)


# -- Task: bad awaits and yields ---------------------------------------------------------
class _Yields:
    def __init__(self, value):
        self.value = value

    def __await__(self):
        yield self.value


@pytest.mark.parametrize("bad, message", [
    (42, "bad yield"),
    ("text", "bad yield"),
    ((lambda: (yield))(), "yield was used instead of yield from for generator"),
])
def test_bad_yield_is_thrown_into_the_coroutine(loop, bad, message):
    async def main():
        with pytest.raises(RuntimeError, match=message):
            await _Yields(bad)
        return "recovered"

    assert loop.run_until_complete(main()) == "recovered"


def test_yield_of_unblocked_future(loop):
    fut = loop.create_future()

    async def main():
        with pytest.raises(RuntimeError, match="yield was used instead of yield from"):
            await _Yields(fut)
        return True

    assert loop.run_until_complete(main())
    fut.cancel()


def test_awaiting_future_of_another_loop(loop):
    other = coroloop.new_event_loop()
    try:
        foreign = other.create_future()

        async def main():
            with pytest.raises(RuntimeError, match="attached to a different loop"):
                await foreign
            return True

        assert loop.run_until_complete(main())
    finally:
        other.close()


def test_awaiting_stdlib_future_of_another_loop(loop):
    other = asyncio.new_event_loop()
    try:
        foreign = other.create_future()

        async def main():
            with pytest.raises(RuntimeError, match="attached to a different loop"):
                await foreign
            return True

        assert loop.run_until_complete(main())
    finally:
        other.close()


def test_task_cannot_await_itself(loop):
    async def self_await():
        await coroloop.current_task()

    task = loop.create_task(self_await())
    with pytest.raises(RuntimeError, match="Task cannot await on itself"):
        loop.run_until_complete(task)


def test_bare_yield_reschedules(loop):
    order = []

    @types.coroutine
    def bare():
        yield

    async def a():
        order.append("a1")
        await bare()
        order.append("a2")

    async def b():
        order.append("b1")
        await bare()
        order.append("b2")

    loop.run_until_complete(asyncio.gather(loop.create_task(a()), loop.create_task(b())))
    assert order == ["a1", "b1", "a2", "b2"]


def test_task_factory(loop):
    created = []

    def factory(lp, coro, **kwargs):
        task = Task(coro, loop=lp, **kwargs)
        created.append(task)
        return task

    loop.set_task_factory(factory)
    assert loop.get_task_factory() is factory
    task = loop.create_task(returns(1), name="via-factory")
    assert created == [task]
    assert task.get_name() == "via-factory"
    loop.run_until_complete(task)
    loop.set_task_factory(None)
    with pytest.raises(TypeError):
        loop.set_task_factory(42)


def _factory_calls(loop_factory):
    """What loop.create_task(coro, name=..., custom=...) hands a task factory on
    *loop_factory*'s loop: the factory's keywords, then whether set_name() followed."""
    calls = []

    class Recording(Task):
        def set_name(self, value):
            calls.append(("set_name", value))
            super().set_name(value)

    def factory(lp, coro, **kwargs):
        calls.append(("factory", sorted(kwargs)))
        kwargs.pop("custom", None)
        return Recording(coro, loop=lp, **kwargs)

    lp = loop_factory()
    try:
        lp.set_task_factory(factory)
        for keywords in ({"name": "n"}, {"name": "n", "custom": 1}):
            coro = returns(1)
            try:
                lp.run_until_complete(lp.create_task(coro, **keywords))
            except TypeError as exc:
                coro.close()
                calls.append(("TypeError", "unexpected keyword argument 'custom'" in str(exc)))
    finally:
        lp.close()
    return calls


def test_task_factory_arguments_as_asyncio():
    # 3.14 (gh-128307): every keyword goes to the factory, name= included, and the
    # loop does not call set_name() afterwards; 3.11-3.13: the factory gets context=
    # at most, the loop names the task, and other keywords are refused.
    expected = _factory_calls(asyncio.new_event_loop)
    assert _factory_calls(coroloop.new_event_loop) == expected
    if coroloop._bridge.CREATE_TASK_PASSES_ANY_KEYWORD:
        assert expected == [("factory", ["name"]), ("factory", ["custom", "name"])]
    else:
        assert expected == [("factory", []), ("set_name", "n"), ("TypeError", True)]


def _cancel_from_the_loop_thread(loop_factory, aio):
    """Cancel run_coroutine_threadsafe()'s concurrent future from the loop's own
    thread: is the task cancelled by the time the loop stops?"""
    lp = loop_factory()
    made = []

    def factory(loop, coro, **kwargs):
        made.append(Task(coro, loop=loop, **kwargs))
        return made[-1]

    async def main():
        lp.set_task_factory(factory)
        cf = aio.run_coroutine_threadsafe(aio.sleep(3600), lp)
        await aio.sleep(0)
        cf.cancel()
        return cf.cancelled()

    try:
        cf_cancelled = lp.run_until_complete(main())
        return cf_cancelled, made[0].cancelled()
    finally:
        lp.run_until_complete(coroloop.sleep(0))
        lp.close()


def test_chained_future_cancel_reaches_the_task_as_asyncio():
    # 3.14: the concurrent future's callback runs in the loop's thread and cancels
    # the task directly, so it is cancelled within the same iteration; 3.11-3.13 go
    # through call_soon_threadsafe, one iteration later.  Both loops agree.
    expected = (True, coroloop._bridge.CHAIN_FUTURE_CALLS_DIRECTLY_ON_RUNNING_LOOP)
    assert _cancel_from_the_loop_thread(asyncio.new_event_loop, asyncio) == expected
    assert _cancel_from_the_loop_thread(coroloop.new_event_loop, coroloop) == expected


def _second_init_outcome(make, loop):
    obj = make(loop)
    try:
        if isinstance(obj, asyncio.Task) or isinstance(obj, Task):
            obj._log_destroy_pending = False
            coro = returns(1)
            try:
                obj.__init__(coro, loop=loop)
            finally:
                coro.close()
        else:
            obj.__init__(loop=loop)
    except RuntimeError as exc:
        # "<the class's name> object is already initialized" (C: its qualified name)
        return str(exc).rpartition(" object ")[2]
    return None


def test_second_init_refused_as_asyncio(loop):
    # 3.15 refuses __init__() on an initialized future or task; before, it re-runs
    # (for a task that schedules it twice: nothing to test there).
    def task_of(kind):
        def make(lp):
            coro = returns(1)
            task = kind(coro, loop=lp)
            task.cancel()
            return task
        return make

    cases = [(lambda lp: asyncio.Future(loop=lp), lambda lp: Future(loop=lp))]
    if coroloop._bridge.FUTURE_INIT_ONCE:
        cases.append((task_of(asyncio.Task), task_of(Task)))
    for theirs, ours in cases:
        expected = _second_init_outcome(theirs, loop)
        assert _second_init_outcome(ours, loop) == expected
        assert (expected is not None) == coroloop._bridge.FUTURE_INIT_ONCE
    loop.run_until_complete(coroloop.sleep(0))


def test_task_context_must_be_a_context_from_3_15(loop):
    # gh-157301: 3.15 refuses it at once (TypeError); before, the first step fails.
    for kind in (asyncio.Task, Task):
        coro = returns(1)
        try:
            if coroloop._bridge.TASK_CHECKS_CONTEXT_TYPE:
                with pytest.raises(TypeError, match="a contextvars.Context was expected, got str"):
                    kind(coro, loop=loop, context="not a context")
                with pytest.raises(TypeError, match="a contextvars.Context was expected"):
                    loop.create_task(coro, context="not a context")
        finally:
            coro.close()
    gc.collect()  # no "Task was destroyed but it is pending!" either

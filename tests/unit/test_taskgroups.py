"""TaskGroup and the eager task factories.

Each body runs in a coroloop Task on coroloop's loop (virtual clock) and on the
standard library's loop.
"""

from __future__ import annotations

import asyncio
import sys
import contextvars
import gc
import weakref

import pytest

import coroloop
from coroloop import _bridge
from coroloop._api.eager import create_eager_task_factory, eager_task_factory
from coroloop._api.taskgroups import TaskGroup, TaskGroupState
from coroloop._api.timeouts import timeout
from coroloop.testing import new_virtual_loop

LOOPS = {"coroloop": new_virtual_loop, "stdlib": asyncio.new_event_loop}


@pytest.fixture(params=sorted(LOOPS))
def loop(request):
    the_loop = LOOPS[request.param]()
    yield the_loop
    pending = [t for t in asyncio.all_tasks(the_loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        the_loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    the_loop.close()
    assert not pending, f"test left tasks pending: {pending}"


@pytest.fixture
def run(loop):
    """run(main) runs coroutine function *main* in a coroloop Task on *loop*."""
    return lambda main: loop.run_until_complete(coroloop.Task(main(), loop=loop))


async def value_after(value, steps=1):
    for _ in range(steps):
        await coroloop.sleep(0)
    return value


async def fail_after(exc, steps=1):
    for _ in range(steps):
        await coroloop.sleep(0)
    raise exc


# -- the normal case -----------------------------------------------------------------------
def test_waits_for_all_children(run):
    async def main():
        async with TaskGroup() as group:
            tasks = [group.create_task(value_after(i, 3 - i)) for i in range(3)]
            assert repr(group).startswith("<TaskGroup tasks=3")
        assert repr(group) == "<TaskGroup finished>"
        return [t.result() for t in tasks]

    assert run(main) == [0, 1, 2]


def test_tasks_can_be_added_while_exiting(run):
    async def spawner(group):
        await coroloop.sleep(0)
        return group.create_task(value_after("late"))

    async def main():
        async with TaskGroup() as group:
            first = group.create_task(spawner(group))
        return first.result().result()

    assert run(main) == "late"


def test_name_and_context(run):
    var = contextvars.ContextVar("var", default=None)

    async def set_var():
        var.set("set in child")

    async def main():
        ctx = contextvars.copy_context()
        async with TaskGroup() as group:
            task = group.create_task(set_var(), name="worker", context=ctx)
        return task.get_name(), ctx.get(var), var.get()

    assert run(main) == ("worker", "set in child", None)


# -- failures ----------------------------------------------------------------------------
def test_first_failure_cancels_siblings_and_body(run):
    async def main():
        sibling_cancelled = []

        async def sibling():
            try:
                await coroloop.sleep(3600)
            except asyncio.CancelledError:
                sibling_cancelled.append(True)
                raise

        body_interrupted = False
        with pytest.raises(ExceptionGroup) as info:
            async with TaskGroup() as group:
                group.create_task(sibling())
                group.create_task(fail_after(ValueError("boom")))
                try:
                    await coroloop.sleep(3600)
                except asyncio.CancelledError:
                    body_interrupted = True
                    raise
        task = coroloop.current_task()
        return info.value, sibling_cancelled, body_interrupted, task.cancelling()

    group_error, sibling_cancelled, body_interrupted, cancelling = run(main)
    assert [type(e) for e in group_error.exceptions] == [ValueError]
    assert group_error.message == "unhandled errors in a TaskGroup"
    assert sibling_cancelled == [True] and body_interrupted
    assert cancelling == 0   # the group's own cancel() was withdrawn


def test_several_failures_and_body_error_are_grouped(run):
    async def main():
        with pytest.raises(ExceptionGroup) as info:
            async with TaskGroup() as group:
                group.create_task(fail_after(ValueError(), 1))
                group.create_task(fail_after(KeyError(), 1))
                try:
                    await coroloop.sleep(3600)
                except asyncio.CancelledError:
                    raise TypeError("body, while being cancelled") from None
        return sorted(type(e).__name__ for e in info.value.exceptions)

    assert run(main) == ["KeyError", "TypeError", "ValueError"]


def test_base_exception_makes_a_base_exception_group(run):
    class Stop(BaseException):
        pass

    async def main():
        with pytest.raises(BaseExceptionGroup) as info:
            async with TaskGroup() as group:
                group.create_task(fail_after(Stop()))
        return info.value

    error = run(main)
    assert not isinstance(error, ExceptionGroup)
    assert [type(e) for e in error.exceptions] == [Stop]


def test_parent_cancellation_cancels_children_and_propagates(run):
    async def main():
        started = coroloop.get_running_loop().create_future()
        children = []

        async def body():
            async with TaskGroup() as group:
                children.append(group.create_task(coroloop.sleep(3600)))
                started.set_result(None)
                await coroloop.sleep(3600)

        parent = coroloop.create_task(body())
        await started
        parent.cancel()
        with pytest.raises(asyncio.CancelledError):
            await parent
        return children[0].cancelled(), parent.cancelling()

    assert run(main) == (True, 1)


def test_parent_cancelled_while_exiting(run):
    async def main():
        started = coroloop.get_running_loop().create_future()
        children = []

        async def body():
            async with TaskGroup() as group:
                children.append(group.create_task(coroloop.sleep(3600)))
                started.set_result(None)
            # waiting in __aexit__ when cancelled

        parent = coroloop.create_task(body())
        await started
        await coroloop.sleep(0)
        parent.cancel()
        with pytest.raises(asyncio.CancelledError):
            await parent
        return children[0].cancelled()

    assert run(main) is True


def test_errors_win_over_outside_cancel_which_stays_pending(run):
    # 3.13 (gh-116720) re-arms the outside cancel when it raises the errors; 3.11
    # and 3.12 leave it counted (cancelling() == 1) but never deliver it.
    async def main():
        ready = coroloop.get_running_loop().create_future()
        seen = []

        async def body():
            try:
                async with TaskGroup() as group:
                    group.create_task(fail_after(ValueError(), 1))
                    ready.set_result(None)
                    await coroloop.sleep(3600)
            except* ValueError:
                seen.append(coroloop.current_task().cancelling())
            try:
                await coroloop.sleep(0)   # 3.13: the outside cancel lands here
            except asyncio.CancelledError:
                seen.append("delivered")
                raise
            seen.append("not delivered")

        parent = coroloop.create_task(body())
        await ready
        parent.cancel()
        try:
            await parent
        except asyncio.CancelledError:
            pass
        return seen, parent.cancelled()

    if sys.version_info >= (3, 13):
        assert run(main) == ([1, "delivered"], True)
    else:
        assert run(main) == ([1, "not delivered"], False)


def test_nested_in_timeout(run):
    async def main():
        with pytest.raises(TimeoutError):
            async with timeout(0):
                async with TaskGroup() as group:
                    child = group.create_task(coroloop.sleep(3600))
        return child.cancelled(), coroloop.current_task().cancelling()

    assert run(main) == (True, 0)


# -- refusing tasks ------------------------------------------------------------------------
def test_create_task_refusals_close_the_coroutine(run):
    async def main():
        group = TaskGroup()
        coro = value_after(1)
        with pytest.raises(RuntimeError, match="has not been entered"):
            group.create_task(coro)
        assert coro.cr_frame is None   # closed: no "never awaited" warning
        async with group:
            pass
        coro = value_after(1)
        with pytest.raises(RuntimeError, match="is finished"):
            group.create_task(coro)
        assert coro.cr_frame is None
        assert group._state is TaskGroupState.FINISHED
        with pytest.raises(RuntimeError, match="has already been entered"):
            async with group:
                pass
        return True

    assert run(main)


def test_no_new_tasks_while_shutting_down(run):
    async def main():
        refused = []

        async def late_spawner(group):
            try:
                await coroloop.sleep(3600)
            except asyncio.CancelledError:
                coro = value_after(1)
                try:
                    group.create_task(coro)
                except RuntimeError as exc:
                    refused.append((str(exc), coro.cr_frame is None))
                raise

        with pytest.raises(ExceptionGroup):
            async with TaskGroup() as group:
                group.create_task(late_spawner(group))
                group.create_task(fail_after(ValueError()))
        return refused

    [(message, closed)] = run(main)
    assert "is shutting down" in message and closed


def test_without_a_task_is_refused(loop):
    group = TaskGroup()

    def enter_from_callback():
        coro = group.__aenter__()
        try:
            coro.send(None)
        except RuntimeError as exc:
            result.set_result(str(exc))

    result = loop.create_future()
    loop.call_soon(enter_from_callback)
    assert "cannot determine the parent task" in loop.run_until_complete(result)


# -- KeyboardInterrupt / SystemExit ----------------------------------------------------------
def test_keyboard_interrupt_in_body_is_raised_as_is(loop):
    children = []

    async def main():
        async with TaskGroup() as group:
            children.append(group.create_task(coroloop.sleep(3600)))
            await coroloop.sleep(0)
            raise KeyboardInterrupt

    main_task = coroloop.Task(main(), loop=loop)
    with pytest.raises(KeyboardInterrupt):
        loop.run_until_complete(main_task)
    assert children[0].cancelled()
    # It unwound the loop rather than being read from the task: read it now.
    assert isinstance(main_task.exception(), KeyboardInterrupt)


def test_system_exit_in_child_stops_the_loop(loop):
    # As in asyncio: SystemExit/KeyboardInterrupt from a task unwinds the loop itself.
    async def main():
        async with TaskGroup() as group:
            group.create_task(fail_after(SystemExit(3)))
            await coroloop.sleep(3600)

    main_task = coroloop.Task(main(), loop=loop)
    with pytest.raises(SystemExit):
        loop.run_until_complete(main_task)
    # Running on, the group sees the SystemExit and raises it, ungrouped.
    with pytest.raises(SystemExit) as info:
        loop.run_until_complete(main_task)
    assert info.value.code == 3
    assert main_task.exception() is info.value


# -- cancel() (asyncio 3.15's, on every version) --------------------------------------------
def test_cancel_stops_children_and_body_without_an_error(run):
    async def main():
        steps = []

        async def child():
            try:
                await coroloop.sleep(3600)
            finally:
                steps.append("child cancelled")

        async with TaskGroup() as group:
            task = group.create_task(child())
            await coroloop.sleep(0)
            group.cancel()
            group.cancel()  # again: nothing more happens
            steps.append("body goes on until its next await")
            await coroloop.sleep(0)
            steps.append("never reached")
        me = coroloop.current_task()
        return steps, task.cancelled(), me.cancelling()

    assert run(main) == (["body goes on until its next await", "child cancelled"], True, 0)


def test_cancel_before_entering_and_after_exiting(run):
    async def main():
        group = TaskGroup()
        group.cancel()
        reached = []
        async with group:
            reached.append(1)
            await coroloop.sleep(0)
            reached.append(2)
        group.cancel()  # after exit: nothing to do
        with pytest.raises(RuntimeError, match="is finished"):
            group.create_task(value_after(1))
        return reached

    assert run(main) == [1]


def test_cancel_from_an_eager_child_before_it_joins_the_group(run):
    # gh-155418: the group aborts during the child's first step, before create_task()
    # has added it; the child must be cancelled all the same.
    async def main():
        loop = coroloop.get_running_loop()
        loop.set_task_factory(eager_task_factory)
        try:
            async def child(group):
                group.cancel()
                await coroloop.sleep(3600)

            async with TaskGroup() as group:
                task = group.create_task(child(group))
            return task.cancelled()
        finally:
            loop.set_task_factory(None)

    assert run(main) is True


def test_cancel_keeps_a_cancellation_from_outside(run):
    # gh-155433: while the group waits for its children after cancel(), the parent is
    # cancelled from outside; that cancellation must propagate, with its message.
    async def main():
        cancelling, release = coroloop.Event(), coroloop.Event()

        async def child():
            try:
                await coroloop.sleep(3600)
            finally:
                cancelling.set()
                await release.wait()

        async def body():
            async with TaskGroup() as group:
                group.create_task(child())
                await coroloop.sleep(0)
                group.cancel()

        task = coroloop.create_task(body())
        await cancelling.wait()
        task.cancel("from outside")
        release.set()
        with pytest.raises(asyncio.CancelledError) as info:
            await task
        return info.value.args

    assert run(main) == ("from outside",)


def test_cancel_does_not_hide_a_failure(run):
    async def main():
        async def fail(group):
            group.cancel()
            raise ValueError("child")

        with pytest.raises(ExceptionGroup) as info:
            async with TaskGroup() as group:
                group.create_task(fail(group))
                await coroloop.sleep(1)
        return [type(e) for e in info.value.exceptions]

    assert run(main) == [ValueError]


# -- eager children, reference cycles ---------------------------------------------------------
@pytest.mark.skipif(not _bridge.TASKGROUP_EAGER_CHILDREN_REPORTED_BY_CALLBACK,
                    reason="3.14's behaviour (gh-128550); up to 3.13 reported at once")
def test_eager_failure_does_not_cancel_the_body_inside_create_task(run):
    # gh-128550: a child that fails eagerly is reported by its done callback, once
    # create_task() has returned, so the task creating it is cancelled at its next
    # await like every other member of the group.
    async def main():
        loop = coroloop.get_running_loop()
        loop.set_task_factory(eager_task_factory)
        try:
            seen = []

            async def failing():
                raise ValueError("eager")

            async def creator(group):
                group.create_task(failing())
                seen.append("create_task returned")
                try:
                    await coroloop.sleep(0)
                    await coroloop.sleep(0)
                except asyncio.CancelledError:
                    seen.append("cancelled at an await")
                    raise

            with pytest.raises(ExceptionGroup):
                async with TaskGroup() as group:
                    group.create_task(creator(group))
            return seen
        finally:
            loop.set_task_factory(None)

    assert run(main) == ["create_task returned", "cancelled at an await"]


def test_failed_group_leaves_no_reference_cycle_through_its_frames(run):
    # The ExceptionGroup's traceback holds TaskGroup's frames; they must not hold the
    # exceptions or the parent task (the task would then outlive its last reference
    # until the cyclic GC ran).
    class Done(Exception):
        pass

    async def main():
        inner = TaskGroup()

        async def child():
            async with inner:
                raise Done

        gc.disable()
        try:
            with pytest.raises(ExceptionGroup) as info:
                async with TaskGroup() as outer:
                    task_ref = weakref.ref(outer.create_task(child()))
            exc = info.value.exceptions[0].exceptions[0]
            referrers = [r for r in gc.get_referrers(exc)
                         if not (hasattr(r, "cr_frame") or r is info.value.exceptions[0])]
            referrers = [r for r in referrers if type(r).__name__ == "frame"]
            return task_ref() is None, isinstance(exc, Done), referrers
        finally:
            gc.enable()

    assert run(main) == (True, True, [])


# -- version-specific: as asyncio's own TaskGroup on the same Python ------------------------
def _outcome(make_group, coro_fn):
    """Run coro_fn(make_group) on a fresh stdlib loop: ('ok', value) or ('raised', type)."""
    loop = asyncio.new_event_loop()
    try:
        return ("ok", loop.run_until_complete(coro_fn(make_group)))
    except BaseException as exc:  # noqa: BLE001 - the outcome is the point
        return ("raised", type(exc))
    finally:
        loop.close()


def test_create_task_keywords_as_asyncio(run):
    # 3.14: every keyword goes on to loop.create_task() (here: a factory's own keyword);
    # 3.11-3.13: name= and context= only, anything else is a TypeError.
    def factory(loop, coro, *, flavour="plain", **kwargs):
        task = coroloop.Task(coro, loop=loop, **kwargs)
        task.flavour = flavour
        return task

    async def use(make_group):
        asyncio.get_running_loop().set_task_factory(factory)
        async with make_group() as group:
            coro = value_after(1)
            try:
                task = group.create_task(coro, flavour="spicy", name="n")
            except TypeError:
                coro.close()
                raise
        return task.flavour, task.get_name()

    expected = _outcome(asyncio.TaskGroup, use)
    assert _outcome(TaskGroup, use) == expected
    assert expected[0] == ("ok" if _bridge.CREATE_TASK_PASSES_ANY_KEYWORD else "raised")


def test_generator_exit_through_the_body_as_asyncio():
    # 3.15 lets a lone GeneratorExit through, so aclose() of an async generator that
    # holds a TaskGroup works (gh-135736); before, it is grouped, as asyncio does.
    async def use(make_group):
        async def agen():
            async with make_group():
                yield 1  # aclose() throws GeneratorExit in here

        gen = agen()
        await gen.asend(None)
        await gen.aclose()
        return "closed"

    expected = _outcome(asyncio.TaskGroup, use)
    assert _outcome(TaskGroup, use) == expected
    assert expected == (("ok", "closed") if _bridge.TASKGROUP_LETS_GENERATOR_EXIT_THROUGH
                        else ("raised", BaseExceptionGroup))


# -- eager tasks ---------------------------------------------------------------------------
def test_eager_factory_runs_first_step_inside_create_task(run):
    async def main():
        loop = coroloop.get_running_loop()
        loop.set_task_factory(eager_task_factory)
        try:
            steps = []

            async def child(x):
                steps.append(f"start {x}")
                await coroloop.sleep(0)
                return x

            async with TaskGroup() as group:
                t1 = group.create_task(child(1))
                steps.append("after create")
                t2 = group.create_task(value_after(2, 0))
                assert t2.done()   # finished eagerly, never scheduled
            return steps, t1.result(), t2.result()
        finally:
            loop.set_task_factory(None)

    assert run(main) == (["start 1", "after create"], 1, 2)


def test_custom_eager_factory(run):
    made = []

    class MyTask(coroloop.Task):
        def __init__(self, *args, **kwargs):
            made.append(kwargs.get("eager_start"))
            super().__init__(*args, **kwargs)

    async def main():
        loop = coroloop.get_running_loop()
        loop.set_task_factory(create_eager_task_factory(MyTask))
        try:
            task = loop.create_task(value_after("x", 0), name="named")
            return type(task), task.get_name(), task.done(), await task
        finally:
            loop.set_task_factory(None)

    assert run(main) == (MyTask, "named", True, "x")
    assert made == [True]


def test_create_eager_task_factory_checks_its_argument():
    with pytest.raises(TypeError, match="callable"):
        create_eager_task_factory(42)


def test_module_exports():
    from coroloop._api import eager, taskgroups
    assert set(taskgroups.__all__) == {"TaskGroup", "TaskGroupState"}
    assert set(eager.__all__) == {"create_eager_task_factory", "eager_task_factory"}

"""Differences from asyncio that the differential harness found (tests/differential).

Each test is the harness's program cut down to what shows the difference.  One
body runs twice: on stdlib asyncio (its loop, its API) and on coroloop (``import
coroloop as asyncio``); both must give the answer this Python version's asyncio
gives.  Comparing with the stdlib at test time keeps the expectation honest;
the literal expected value says what that answer is.

Run by pytest, and also as a script (``python tests/unit/test_differential_regressions.py``),
which is how `make differential` runs it on interpreters that have no pytest.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys

import coroloop

PY312 = sys.version_info >= (3, 12)
PY313 = sys.version_info >= (3, 13)
PY314 = sys.version_info >= (3, 14)

RUNTIMES = {"asyncio": asyncio, "coroloop": coroloop}


def on_both(program):
    """``program(aio)`` (a coroutine) run with asyncio and with coroloop: the results."""
    results = {}
    for name, aio in RUNTIMES.items():
        with aio.Runner() as runner:
            results[name] = runner.run(program(aio))
    return results


def same_on_both(program, expected):
    results = on_both(program)
    assert results["asyncio"] == expected, "the stdlib no longer does what this test says"
    assert results["coroloop"] == expected


def relative(task_name: str, base: str) -> str:
    """``Task-N`` relative to the task named *base* (``+1``: the next number)."""
    if not task_name.startswith("Task-"):
        return task_name
    return f"+{int(task_name.removeprefix('Task-')) - int(base.removeprefix('Task-'))}"


async def _noop():
    pass


# -- cancellation messages ----------------------------------------------------------
def test_second_cancel_keeps_the_first_message():
    # seed 104: cancel("first") wakes the task; a cancel() on top before it runs
    # must not replace the CancelledError (and its message) the waiter delivers.
    async def program(aio):
        async def waiter():
            try:
                await aio.Event().wait()
            except aio.CancelledError as exc:
                return exc.args

        task = aio.create_task(waiter())
        await aio.sleep(0)
        task.cancel("first")
        task.cancel()
        return await task

    same_on_both(program, ("first",))


def test_gather_return_exceptions_reports_the_cancel_message_not_the_raised_error():
    # seed 1: a task that cancelled itself with a message ends with
    # Future.cancel() without one; gather(return_exceptions=True) reports
    # CancelledError('') (a new error carrying the task's last cancel message).
    async def program(aio):
        async def gives_up():
            aio.current_task().cancel("by itself")
            await aio.sleep(0)

        async def raises_cancelled():
            raise aio.CancelledError("raised")

        fut = aio.get_running_loop().create_future()
        fut.cancel("future's message")
        results = await aio.gather(gives_up(), raises_cancelled(), fut,
                                   return_exceptions=True)
        return [(type(r).__name__, r.args) for r in results]

    same_on_both(program, [("CancelledError", ("",)), ("CancelledError", ("",)),
                           ("CancelledError", ("future's message",))])


def test_gather_cancelled_through_itself_ends_with_the_last_childs_error():
    # Both children swallow the cancellation; asyncio's gather then ends with
    # the last child's _make_cancelled_error(): here one carrying the message
    # its cancel() left, since it was cancelled between two steps.
    async def program(aio):
        async def blocked():
            try:
                await aio.Event().wait()
            except aio.CancelledError:
                return "a"

        async def busy():
            try:
                while True:
                    await aio.sleep(0)
            except aio.CancelledError:
                return "b"

        outcomes = []
        for return_exceptions in (False, True):
            children = [aio.create_task(blocked()), aio.create_task(busy())]
            await aio.sleep(0)
            gathering = aio.gather(*children, return_exceptions=return_exceptions)
            gathering.cancel("stop")
            try:
                await gathering
            except aio.CancelledError as exc:
                outcomes.append(exc.args)
        return outcomes

    same_on_both(program, [("stop",), ("stop",)])


# -- TaskGroup -----------------------------------------------------------------------
def test_taskgroup_abort_cancels_children_in_creation_order():
    # seed 68 (3.13): asyncio cancels in the order of a set (addresses); coroloop
    # in creation order, always -- one of the orders asyncio can produce.
    async def main():
        order = []

        async def child(i):
            try:
                await coroloop.sleep(1)
            except coroloop.CancelledError:
                order.append(i)
                raise

        async def fail():
            raise ValueError("boom")

        try:
            async with coroloop.TaskGroup() as group:
                for i in range(30):
                    group.create_task(child(i))
                group.create_task(fail())
        except* ValueError:
            pass
        return order

    assert coroloop.run(main()) == list(range(30))


def test_taskgroup_body_error_wins_over_a_cancel_from_outside_while_it_waits():
    # seed 327 (3.11): the body raises, and while the group waits for a child the
    # parent is cancelled from outside; every version raises the body's error, in a
    # group.  3.13+ re-arm the cancellation from outside, so the parent ends cancelled.
    async def program(aio):
        waiting, release = aio.Event(), aio.Event()
        raised = []

        async def slow_to_stop():
            try:
                await aio.sleep(3600)
            finally:
                waiting.set()
                await release.wait()

        async def body():
            try:
                async with aio.TaskGroup() as group:
                    group.create_task(slow_to_stop())
                    await aio.sleep(0)
                    raise ValueError("body")
            except BaseException as exc:
                raised.append((type(exc).__name__, [type(e).__name__ for e in exc.exceptions]))

        task = aio.create_task(body())
        await waiting.wait()
        task.cancel()
        release.set()
        await aio.wait([task])
        return raised, task.cancelled()

    same_on_both(program, ([("ExceptionGroup", ["ValueError"])], PY313))


# -- task names ---------------------------------------------------------------------
def test_named_tasks_use_up_a_number_before_3_13():
    # seeds 2 and 18 (3.11, 3.12): asyncio.create_task(name=) and
    # TaskGroup.create_task(name=) create the task unnamed, then name it.
    async def program(aio):
        me = aio.current_task().get_name()
        named = aio.create_task(_noop(), name="named")
        unnamed = aio.create_task(_noop())
        async with aio.TaskGroup() as group:
            group.create_task(_noop(), name="in group")
            in_group = group.create_task(_noop())
        via_loop = aio.get_running_loop().create_task(_noop(), name="via loop")
        after_loop = aio.create_task(_noop())
        await aio.gather(named, unnamed, via_loop, after_loop)
        return [relative(t.get_name(), me) for t in (named, unnamed, in_group, after_loop)]

    if PY313:
        same_on_both(program, ["named", "+1", "+2", "+3"])
    else:
        same_on_both(program, ["named", "+2", "+4", "+5"])


def test_accepted_connection_uses_up_a_task_number(tmp_path):
    # seed 17: asyncio sets up each accepted connection in a task of its own, so
    # the handler of the first connection is the second task after the server.
    path = str(tmp_path / "s.sock")

    async def program(aio):
        me = aio.current_task().get_name()
        handler_names = []

        async def handle(reader, writer):
            handler_names.append(relative(aio.current_task().get_name(), me))
            writer.close()
            await writer.wait_closed()

        server = await aio.start_unix_server(handle, path)
        reader, writer = await aio.open_unix_connection(path)
        await reader.read()
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()
        if os.path.exists(path):
            os.unlink(path)
        return handler_names

    same_on_both(program, ["+2"])


def test_cancel_on_top_of_a_waiter_that_raised_cancelled_error():
    # seed 350 (3.11): the awaited future ended with a CancelledError *exception*
    # (a gather whose child was cancelled); a cancel() arriving before the task
    # runs again must not replace that error either.
    async def program(aio):
        async def child():
            await aio.sleep(1)

        async def parent():
            aio.current_task().cancel("first")    # delivered to the gather's children
            try:
                await aio.gather(child())
            except aio.CancelledError as exc:
                return exc.args

        task = aio.create_task(parent())
        for _ in range(3):   # the children are cancelled and the gather is done ...
            await aio.sleep(0)
        task.cancel()        # ... before the parent runs again
        return await task

    same_on_both(program, ("first",))


# -- version differences: 3.11 -------------------------------------------------------
def test_wait_for_runs_the_awaitable_in_a_task_of_its_own_on_3_11():
    # 3.12 rewrote wait_for() on timeout(): the coroutine runs in the caller's task.
    async def program(aio):
        me = aio.current_task()

        async def where():
            return aio.current_task() is me, relative(aio.current_task().get_name(),
                                                      me.get_name())

        with_timeout = await aio.wait_for(where(), 10)
        without = await aio.wait_for(where(), None)
        return with_timeout, without

    if PY312:
        same_on_both(program, ((True, "+0"), (True, "+0")))
    else:
        same_on_both(program, ((False, "+1"), (True, "+0")))


def test_gather_takes_done_children_into_account_at_once_from_3_12():
    # seed 158 (3.11: wait(), then gather() of the task it waited for): 3.11 queues
    # the done child's callback when it meets the child, before the first steps of
    # the children after it; 3.12 accounts for it at once.
    async def program(aio):
        order = []

        async def fail():
            raise ValueError("failed")

        async def grandchild():
            order.append("grandchild")

        async def child():
            order.append("child")
            grandchildren.append(aio.create_task(grandchild()))

        grandchildren = []
        failed = aio.create_task(fail())
        await aio.wait([failed])
        done_future = aio.get_running_loop().create_future()
        done_future.set_result(1)
        at_once = aio.gather(done_future).done()
        try:
            await aio.gather(failed, child())
        except ValueError:
            order.append("parent")
        for _ in range(3):
            await aio.sleep(0)
        return at_once, order

    if PY312:
        same_on_both(program, (True, ["parent", "child", "grandchild"]))
    else:
        same_on_both(program, (False, ["child", "parent", "grandchild"]))


# -- version differences: 3.11 and 3.12 ---------------------------------------------
def test_taskgroup_withdraws_its_cancel_before_waiting_for_the_children_before_3_13():
    # 3.13 (gh-116720) uncancels the parent only after the children are done.
    async def program(aio):
        seen = []

        async def fail():
            raise ValueError("boom")

        async def sibling(parent):
            try:
                await aio.sleep(1)
            except aio.CancelledError:
                for _ in range(3):   # the group is waiting for us by now
                    await aio.sleep(0)
                seen.append(parent.cancelling())
                raise

        try:
            async with aio.TaskGroup() as group:
                group.create_task(sibling(aio.current_task()))
                group.create_task(fail())
                await aio.sleep(1)
        except* ValueError:
            pass
        return seen

    same_on_both(program, [1] if PY313 else [0])


# -- version differences: 3.14 -------------------------------------------------------
def test_shield_leaves_an_abandoned_exception_unretrieved_from_3_14():
    # seed 70 (3.14): the shielded operation fails in the iteration its shield()
    # was cancelled in.  3.11-3.13 mark the exception retrieved; 3.14 (gh-156321)
    # leaves it for the inner future to report when it is collected.
    async def program(aio):
        reported = []
        loop = aio.get_running_loop()
        loop.set_exception_handler(lambda loop, context: reported.append(
            (context["message"], repr(context["exception"]))))
        inner = loop.create_future()
        outer = aio.shield(inner)
        outer.cancel()
        inner.set_exception(ValueError("nobody looked"))
        for _ in range(2):
            await aio.sleep(0)
        del inner, outer
        gc.collect()
        loop.set_exception_handler(None)
        return reported

    if PY314:
        same_on_both(program, [("Future exception was never retrieved",
                                "ValueError('nobody looked')")])
    else:
        same_on_both(program, [])


# -- messages --------------------------------------------------------------------------
def test_broken_barrier_messages_begin_with_asyncios():
    async def program(aio):
        barrier = aio.Barrier(2)
        messages = []

        async def waiter():
            try:
                await barrier.wait()
            except aio.BrokenBarrierError as exc:
                messages.append(str(exc))

        task = aio.create_task(waiter())
        await aio.sleep(0)
        await barrier.abort()
        await task
        await waiter()        # the barrier is broken now
        return messages

    results = on_both(program)
    assert results["asyncio"] == ["Abort or reset of barrier", "Barrier aborted"]
    for mine, theirs in zip(results["coroloop"], results["asyncio"]):
        assert mine.startswith(theirs) and not mine[len(theirs):][:1].isalnum()


if __name__ == "__main__":
    # Without pytest (the other interpreters here have none): every test, in order.
    import inspect
    import pathlib
    import tempfile
    import traceback

    failures = 0
    for name, test in list(globals().items()):
        if not name.startswith("test_"):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            wanted = inspect.signature(test).parameters
            try:
                test(**({"tmp_path": pathlib.Path(tmp)} if "tmp_path" in wanted else {}))
            except Exception:
                failures += 1
                print(f"FAIL {name}")
                traceback.print_exc()
            else:
                print(f"ok   {name}")
    print(f"{sys.version.split()[0]}: {failures} failed")
    sys.exit(1 if failures else 0)

"""coroloop.debug's call graphs: 3.14's capture/format/print_call_graph shapes on every
version, for coroloop's tasks and stdlib tasks on coroloop's loop (issue 9, item 2)."""

from __future__ import annotations

import asyncio
import io

import pytest

import coroloop
from coroloop.debug import (FrameCallGraphEntry, FutureCallGraph, capture_call_graph,
                            format_call_graph, print_call_graph)

pytestmark = pytest.mark.timeout(60)


class _Any:
    def __eq__(self, other):
        return True

    def __lt__(self, other):
        return False


ANY = _Any()


def shape(graph):
    """[name, [coroutine names of the stack], [awaiters' shapes]] (test_graph's view)."""
    future = graph.future
    name = f"T<{future.get_name()}>" if hasattr(future, "get_name") else "F"
    stack = [entry.frame.f_code.co_name for entry in graph.call_stack
             if entry.frame.f_code.co_flags & 0x80]
    return [name, stack, sorted((shape(parent) for parent in graph.awaited_by), key=repr)]


async def leaf(box, key="leaf"):
    box[key] = capture_call_graph()
    await coroloop.sleep(1)


def test_current_task_gather_and_taskgroup(virtual_loop):
    box = {}

    async def worker():
        await leaf(box, "in_group")

    async def main():
        await coroloop.gather(leaf(box), coroloop.sleep(0))
        async with coroloop.TaskGroup() as tg:
            tg.create_task(worker(), name="worker")

    async def start():
        await coroloop.create_task(main(), name="main")

    virtual_loop.run_until_complete(start())
    graph = box["leaf"]
    assert isinstance(graph, FutureCallGraph)
    assert all(isinstance(entry, FrameCallGraphEntry) for entry in graph.call_stack)
    assert shape(graph) == [f"T<{graph.future.get_name()}>", ["leaf"],
                            [["T<main>", ["main"], [[ANY, ["start"], []]]]]]
    assert shape(box["in_group"]) == ["T<worker>", ["leaf", "worker"],
                                      [["T<main>", ["_aexit", "__aexit__", "main"],
                                        shape(box["in_group"].awaited_by[0])[2]]]]
    # innermost first, as 3.14's
    assert graph.call_stack[0].frame.f_code.co_name == "leaf"


@pytest.mark.parametrize("timeout", [None, 0.01])
def test_as_completed_links_the_awaiting_task_until_done_or_timed_out(virtual_loop, timeout):
    # As 3.14's asyncio (gh-156523): the task iterating as_completed() awaits each
    # pending future (its frames: get, _wait_for_one, the caller), on every version.
    box = {}

    async def inner():
        await coroloop.sleep(0)
        box["graph"] = capture_call_graph()
        await coroloop.sleep(3600 if timeout else 0)

    async def main(task):
        for next_done in coroloop.as_completed([task], timeout=timeout):
            await next_done

    async def start():
        task = coroloop.create_task(inner(), name="inner")
        if timeout:
            with pytest.raises(TimeoutError):
                await coroloop.create_task(main(task), name="main")
            assert not task._asyncio_awaited_by   # the edge is dropped at the timeout
            task.cancel()
        else:
            await coroloop.create_task(main(task), name="main")
            assert not task._asyncio_awaited_by   # ... and when the future is done

    virtual_loop.run_until_complete(start())
    assert shape(box["graph"]) == ["T<inner>", ["inner"],
                                   [["T<main>", ["get", "_wait_for_one", "main"],
                                     [[ANY, ["start"], []]]]]]


def test_a_task_from_outside_and_limits(virtual_loop):
    out = {}

    async def inner():
        await coroloop.sleep(5)

    async def outer():
        await inner()

    async def main():
        task = coroloop.create_task(outer(), name="outer")
        await coroloop.sleep(0)
        out["graph"] = capture_call_graph(task)
        out["limited"] = capture_call_graph(task, limit=1)
        out["none"] = capture_call_graph(task, limit=0)
        out["text"] = format_call_graph(task)
        buffer = io.StringIO()
        print_call_graph(task, file=buffer)
        out["printed"] = buffer.getvalue()
        task.cancel()

    virtual_loop.run_until_complete(main())
    names = [entry.frame.f_code.co_name for entry in out["graph"].call_stack]
    assert names[:2] == ["sleep", "inner"] and names[-1] == "outer"
    assert len(out["limited"].call_stack) == 1
    assert out["none"].call_stack == ()
    text = out["text"]
    assert text.startswith("* Task(name='outer', id=0x")
    assert "  + Call stack:" in text and ".outer()" in text and "in async " in text
    assert "  + Awaited by:" not in text
    assert out["printed"] == text + "\n"


def test_stdlib_task_and_plain_future_on_coroloop_loop(virtual_loop):
    out = {}

    async def stdlib_waiter(fut):
        await fut

    async def main():
        fut = virtual_loop.create_future()
        task = asyncio.Task(stdlib_waiter(fut), loop=virtual_loop, name="stdlib")
        await coroloop.sleep(0)
        out["graph"] = capture_call_graph(fut)
        fut.set_result(None)
        await task

    virtual_loop.run_until_complete(main())
    assert shape(out["graph"]) == ["F", [], [["T<stdlib>", ["stdlib_waiter"], []]]]


def test_errors_and_outside_a_task():
    with pytest.raises(RuntimeError, match="outside of a running event loop"):
        capture_call_graph()
    with pytest.raises(TypeError, match="does not appear to be compatible with asyncio.Future"):
        capture_call_graph(object())

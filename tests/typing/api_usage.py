"""The public API as a type checker sees it (checked by mypy, never run).

tests/release/test_typing.py checks this file twice: as written, and with the import
line replaced by ``import asyncio as aio``.  Each ``assert_type`` must hold on both,
and each ``# type: ignore[code]`` must be needed on both (mypy runs with
--warn-unused-ignores): code typed against asyncio type-checks the same on coroloop,
and a misuse asyncio's types reject, coroloop's reject too.
"""

from __future__ import annotations

from typing import Any, Literal, assert_type

import coroloop as aio


async def number() -> int:
    return 1


async def text() -> str:
    return "x"


def blocking(n: int) -> str:
    return "x" * n


async def tasks_and_combinators() -> None:
    task = aio.create_task(number(), name="n")
    assert_type(task, aio.Task[int])
    assert_type(await task, int)
    assert_type(task.result(), int)
    assert_type(aio.current_task(), aio.Task[Any] | None)
    assert_type(aio.ensure_future(number()), aio.Task[int])
    assert_type(await aio.gather(number(), text()), tuple[int, str])
    assert_type(await aio.gather(*[number(), number()]), list[int])
    assert_type(await aio.gather(number(), return_exceptions=True),
                tuple[int | BaseException])
    done, pending = await aio.wait([task], timeout=1, return_when=aio.FIRST_COMPLETED)
    assert_type(done, set[aio.Task[int]])
    assert_type(await aio.wait_for(number(), 1.0), int)
    assert_type(await aio.shield(task), int)
    for next_done in aio.as_completed([task]):
        assert_type(await next_done, int)
    assert_type(await aio.sleep(0.1), None)
    assert_type(await aio.sleep(0.1, "result"), str)
    assert_type(await aio.to_thread(blocking, 2), str)
    async with aio.timeout(1) as cm:
        assert_type(cm, aio.Timeout)
    async with aio.TaskGroup() as group:
        assert_type(group.create_task(text()), aio.Task[str])
    await aio.sleep("1")  # type: ignore[call-overload]
    await aio.wait_for(number(), "1")  # type: ignore[arg-type]
    aio.create_task(blocking)  # type: ignore[arg-type]


async def primitives() -> None:
    queue: aio.Queue[int] = aio.Queue(maxsize=2)
    await queue.put(1)
    assert_type(await queue.get(), int)
    assert_type(queue.get_nowait(), int)
    queue.put_nowait("x")  # type: ignore[arg-type]
    lock = aio.Lock()
    async with lock:
        pass
    assert_type(await lock.acquire(), Literal[True])
    event = aio.Event()
    assert_type(await event.wait(), Literal[True])
    condition = aio.Condition(lock)
    assert_type(await condition.wait_for(lambda: 3), int)
    semaphore = aio.Semaphore(2)
    assert_type(semaphore.locked(), bool)


async def loop_methods() -> None:
    loop = aio.new_event_loop()
    handle = loop.call_later(1, print, "x")
    assert_type(handle, aio.TimerHandle)
    assert_type(loop.call_soon(print), aio.Handle)
    assert_type(loop.time(), float)
    future = loop.create_future()
    assert_type(future, aio.Future[Any])
    assert_type(loop.create_task(number()), aio.Task[int])
    assert_type(await loop.run_in_executor(None, blocking, 2), str)
    assert_type(loop.run_until_complete(number()), int)
    assert_type(loop.is_running(), bool)
    loop.call_soon(blocking, "x")  # type: ignore[arg-type]
    loop.close()
    reader, writer = await aio.open_connection("127.0.0.1", 8080)
    assert_type(await reader.readline(), bytes)
    writer.write("text")  # type: ignore[arg-type]


def running() -> None:
    assert_type(aio.run(number()), int)
    with aio.Runner() as runner:
        assert_type(runner.run(text()), str)
    aio.run(blocking)  # type: ignore[arg-type]

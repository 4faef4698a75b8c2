"""wait(): wait for a set of tasks, with a timeout or until the first one is done.

    python examples/wait.py

* ``done, pending = await wait(tasks, ...)`` returns two sets; it never raises
  TimeoutError and never cancels anything: what is left is in ``pending``.
* ``return_when``: ``ALL_COMPLETED`` (default), ``FIRST_COMPLETED``, ``FIRST_EXCEPTION``.
* Pass tasks or futures, not coroutines (a TypeError since Python 3.11).
* The caller decides what to do with ``pending``: here, cancel them.
"""

import coroloop as asyncio


async def job(name, seconds, fail=False):
    await asyncio.sleep(seconds)
    if fail:
        raise RuntimeError(f"{name} failed")
    return name


def names(tasks):
    return sorted(task.get_name() for task in tasks)


async def main():
    tasks = [asyncio.create_task(job(n, s), name=n)
             for n, s in (("fast", 0.01), ("medium", 0.3), ("slow", 10))]

    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    print(f"FIRST_COMPLETED: done={names(done)} pending={names(pending)}")

    done, pending = await asyncio.wait(pending, timeout=0.6)
    print(f"timeout=0.6:     done={names(done)} pending={names(pending)}")
    for task in pending:
        task.cancel()
    await asyncio.wait(pending)
    print(f"after cancel():  slow cancelled={tasks[2].cancelled()}")

    tasks = [asyncio.create_task(job("ok", 0.01), name="ok"),
             asyncio.create_task(job("bad", 0.02, fail=True), name="bad"),
             asyncio.create_task(job("slow", 10), name="slow")]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    print(f"FIRST_EXCEPTION: done={names(done)} pending={names(pending)}")
    for task in done:
        if task.exception() is not None:
            print(f"  {task.get_name()} raised {task.exception()!r}")
    for task in pending:
        task.cancel()
    await asyncio.wait(pending)

    coro = job("c", 0)
    try:
        await asyncio.wait([coro])
    except TypeError as exc:
        print(f"coroutines are refused: {exc}")
    coro.close()


if __name__ == "__main__":
    asyncio.run(main())

"""Running coroutines concurrently with tasks and a TaskGroup.

    python examples/tasks_concurrently.py

* ``create_task(coro)`` schedules a coroutine to run *alongside* the current one and
  returns a Task right away; ``await task`` waits for its result.  Keep a reference
  to every task you create (the loop holds tasks only weakly).
* ``TaskGroup`` (Python 3.11+) is the structured way: every task created in the
  ``async with`` block is awaited when the block exits, and if one fails, the others
  are cancelled and the errors are raised together as an ``ExceptionGroup``.
* Tasks interleave only where they ``await``: the output order below follows from
  the numbers of scheduler steps each task takes, so it is the same on every run.
"""

import coroloop as asyncio


async def worker(name, steps):
    for step in range(1, steps + 1):
        print(f"  {name}: step {step}/{steps}")
        await asyncio.sleep(0)           # one scheduler round; real code awaits I/O
    return f"{name} done"


async def failing(name, steps):
    for _ in range(steps):
        await asyncio.sleep(0)
    raise RuntimeError(f"{name} broke")


async def main():
    print("create_task: both run while main() waits")
    a = asyncio.create_task(worker("a", 2), name="task-a")
    b = asyncio.create_task(worker("b", 3), name="task-b")
    print(f"created {a.get_name()} and {b.get_name()}; none has run yet")
    print(await a, "/", await b)

    print("TaskGroup: the block waits for all of them")
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(worker(name, steps))
                 for name, steps in (("x", 1), ("y", 2))]
    print([task.result() for task in tasks])

    print("TaskGroup with a failure: the sibling is cancelled")
    try:
        async with asyncio.TaskGroup() as group:
            slow = group.create_task(worker("slow", 10))
            group.create_task(failing("bad", 1))
    except* RuntimeError as errors:
        print(f"caught {len(errors.exceptions)} error(s): {errors.exceptions[0]}")
    print(f"slow cancelled: {slow.cancelled()}")


if __name__ == "__main__":
    asyncio.run(main())

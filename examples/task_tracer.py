"""Tracing tasks: the tutorial's done-callback tracer, on the loop's instrument hooks.

The tutorial adds a done callback to every task it creates to log how each one ended.
An instrument sees every task of the loop instead, its creation included, without
touching the code that creates them: ``task_spawned`` runs inside the creator's step
(``task.spawned_by()`` is the creator), ``task_exited`` when the task is done.
"""

import coroloop


class Tracer(coroloop.Instrument):
    def task_spawned(self, task):
        parent = task.spawned_by()
        creator = parent.get_name() if parent is not None else "(no task)"
        # (The name may be set just after creation: show the coroutine here.)
        print(f"spawned  {task.get_coro().__qualname__}() by {creator}")

    def task_exited(self, task):
        name = task.get_name()
        if name.startswith("Task-"):  # a default name: its number varies by version
            name = task.get_coro().__qualname__ + "()"
        if task.cancelled():
            outcome = "cancelled"
        elif task.exception() is not None:
            outcome = f"failed: {task.exception()!r}"
        else:
            outcome = f"returned {task.result()!r}"
        print(f"finished {name:8} {outcome}")


async def fetch(n):
    await coroloop.sleep(0.01 * n)
    if n == 3:
        raise ValueError("no page 3")
    return f"page {n}"


async def main():
    async with coroloop.TaskGroup() as tg:
        for n in (1, 2):
            tg.create_task(fetch(n), name=f"fetch-{n}")
    results = await coroloop.gather(fetch(3), return_exceptions=True)
    slow = coroloop.create_task(coroloop.sleep(10), name="slow")
    await coroloop.sleep(0)
    slow.cancel()
    return results


if __name__ == "__main__":
    loop = coroloop.new_event_loop()
    loop.add_instrument(Tracer())
    main_task = loop.create_task(main(), name="main")
    print("gather gave", loop.run_until_complete(main_task))
    loop.close()

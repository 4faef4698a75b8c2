"""Coroutines, awaiting, and running a program with ``run()``.

    python examples/coroutines_and_run.py

* ``async def`` defines a coroutine function; calling it creates a coroutine object
  and runs nothing yet.
* ``await`` runs another coroutine to completion (in the same task) and gives its
  return value; exceptions propagate through ``await`` like through a call.
* ``asyncio.run(main())`` creates an event loop, runs ``main()`` in a task until it
  is done, then closes the loop and returns ``main()``'s result.
* Awaiting one coroutine after the other is sequential; to overlap waits, make tasks
  (see tasks_concurrently.py).

Swap the import for ``import asyncio`` and it runs on the standard library too.
"""

import coroloop as asyncio


async def fetch(name, delay):
    print(f"fetch({name!r}) started")
    await asyncio.sleep(delay)           # gives the loop a chance to run others
    print(f"fetch({name!r}) finished")
    return f"<{name}>"


async def checked(value):
    if value < 0:
        raise ValueError(f"negative value: {value}")
    return value * 2


async def main():
    coro = fetch("config", 0.01)
    print(f"calling fetch() made a {type(coro).__name__}; nothing ran yet")
    result = await coro
    print(f"await gave {result}")

    # Sequential: the second fetch starts only after the first has finished.
    first = await fetch("a", 0.01)
    second = await fetch("b", 0.01)
    print(f"sequential results: {first} {second}")

    try:
        await checked(-1)
    except ValueError as exc:
        print(f"the exception came through await: {exc}")

    loop = asyncio.get_running_loop()
    print(f"running on {type(loop).__module__.split('.')[0]}'s loop")
    return await checked(21)


if __name__ == "__main__":
    answer = asyncio.run(main())
    print(f"run() returned {answer}")

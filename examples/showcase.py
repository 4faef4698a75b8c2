"""A tour of coroloop in one minute: tasks, gather, a timeout, cancellation —
and a peek at what the loop knows about its tasks.

Run: python examples/showcase.py   (or: make demo)
"""

import coroloop as asyncio


async def brew(name: str, seconds: float) -> str:
    print(f"  {name}: started, needs {seconds}s")
    await asyncio.sleep(seconds)
    print(f"  {name}: done")
    return name


async def stubborn() -> None:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        print("  stubborn: cancelled, cleaning up")
        raise


async def main() -> None:
    loop = asyncio.get_running_loop()
    print(f"running on {type(loop).__module__}.{type(loop).__name__}")

    print("1. tasks run concurrently:")
    started = loop.time()
    tea = asyncio.create_task(brew("tea", 0.2), name="tea")
    coffee = asyncio.create_task(brew("coffee", 0.1), name="coffee")
    print(f"  {coffee.get_name()} waits on {type(coffee.waiting_on()).__name__}"
          if coffee.waiting_on() else f"  {coffee.get_name()} has not started yet")
    print(f"  results: {await tea}, {await coffee} "
          f"after {loop.time() - started:.1f}s (not 0.3s)")

    print("2. gather collects results in order:")
    results = await asyncio.gather(*(brew(f"cup{i}", i / 20) for i in range(1, 4)))
    print(f"  gathered: {results}")

    print("3. a timeout:")
    try:
        async with asyncio.timeout(0.1):
            await brew("slow soup", 10)
    except TimeoutError:
        print("  slow soup timed out after 0.1s")

    print("4. cancellation runs the task's cleanup:")
    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    sleeper = task.waiting_on()
    print(f"  stubborn waits on a {type(sleeper).__name__}, "
          f"due in {sleeper.when() - loop.time():.0f}s")
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        print(f"  task cancelled: {task.cancelled()}")

    print("5. interop: the stdlib sees coroloop's loop and tasks:")
    import asyncio as stdlib_asyncio
    print(f"  asyncio.get_running_loop() is ours: {stdlib_asyncio.get_running_loop() is loop}")
    print(f"  asyncio.current_task(): {stdlib_asyncio.current_task().get_name()}")


if __name__ == "__main__":
    asyncio.run(main())

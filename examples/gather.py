"""gather(): run awaitables concurrently and collect their results in order.

    python examples/gather.py

* Results come back in the order of the arguments, not the order of completion.
* Without ``return_exceptions``, the first exception propagates out of ``await
  gather(...)`` at once; the other awaitables are *not* cancelled and keep running.
* With ``return_exceptions=True`` exceptions are returned in the list, like results.
* Cancelling the gather (or the task awaiting it) cancels every child not yet done.
"""

import coroloop as asyncio


async def square(x, steps):
    for _ in range(steps):
        await asyncio.sleep(0)
    print(f"  square({x}) finished")
    return x * x


async def fails(message, steps):
    for _ in range(steps):
        await asyncio.sleep(0)
    raise ValueError(message)


async def main():
    print("results in argument order:")
    results = await asyncio.gather(square(3, 3), square(2, 1), square(1, 2))
    print(f"  {results}")

    print("first exception propagates:")
    survivor = asyncio.create_task(square(4, 4))
    try:
        await asyncio.gather(fails("bad input", 1), survivor)
    except ValueError as exc:
        print(f"  caught ValueError({exc}); survivor still running: {not survivor.done()}")
    print(f"  survivor result: {await survivor}")

    print("return_exceptions=True:")
    results = await asyncio.gather(square(5, 1), fails("oops", 1), return_exceptions=True)
    print(f"  {results!r}")

    print("cancelling a gather cancels its children:")
    children = [asyncio.create_task(asyncio.sleep(3600)) for _ in range(3)]
    everything = asyncio.gather(*children)
    await asyncio.sleep(0)
    everything.cancel()
    try:
        await everything
    except asyncio.CancelledError:
        print(f"  gather cancelled; children cancelled: {[c.cancelled() for c in children]}")


if __name__ == "__main__":
    asyncio.run(main())

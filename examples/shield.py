"""shield(): let an operation finish even if the task waiting for it is cancelled.

    python examples/shield.py

* ``await shield(aw)`` waits for ``aw`` like ``await aw`` would; but if the waiting
  task is cancelled, only the wait is cancelled -- the operation goes on.
* The waiting task still gets ``CancelledError``; the shielded task can be awaited
  again later (keep a reference to it!).
* Cancelling the shielded task itself still cancels it.
"""

import coroloop as asyncio


async def save(record, halfway):
    for step in ("write", "flush", "commit"):
        await asyncio.sleep(0)           # stands for a disk write
        print(f"  save({record!r}): {step}")
        if step == "write":
            halfway.set()
    return f"{record} saved"


async def handler(record, saving):
    print(f"handler: saving {record!r}")
    try:
        return await asyncio.shield(saving)
    except asyncio.CancelledError:
        print("handler: cancelled while waiting; the save goes on")
        raise


async def main():
    halfway = asyncio.Event()
    saving = asyncio.create_task(save("order-17", halfway))
    request = asyncio.create_task(handler("order-17", saving))
    await halfway.wait()                 # the save is half-way through...
    request.cancel()                     # ...when the request is cancelled
    try:
        await request
    except asyncio.CancelledError:
        print(f"main: request cancelled={request.cancelled()}")
    print(f"main: {await saving}")

    inner = asyncio.create_task(asyncio.sleep(3600))
    outer = asyncio.shield(inner)
    await asyncio.sleep(0)
    inner.cancel()
    try:
        await outer
    except asyncio.CancelledError:
        print("main: cancelling the inner task cancels the shield too")


if __name__ == "__main__":
    asyncio.run(main())

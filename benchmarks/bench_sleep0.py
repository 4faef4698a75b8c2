"""One task awaiting ``aio.sleep(0)`` in a loop.

Measures the cost of a task yielding to the loop and being resumed: one task
step plus one trip through the ready queue per iteration.
"""

ORDER = 20
DESCRIPTION = "one task awaiting aio.sleep(0) in a loop"
SIZE = 200_000
QUICK_SIZE = 20_000
REQUIRES = ()


def run(aio, loop, size):
    async def main():
        # sleep(0) must really go through the loop: a callback queued before it
        # has to run before the task resumes (else we would time a no-op).
        ran = []
        aio.get_running_loop().call_soon(ran.append, True)
        await aio.sleep(0)
        if not ran:
            raise RuntimeError("sleep(0) resumed without yielding to the loop")
        count = 0
        for _ in range(size):
            await aio.sleep(0)
            count += 1
        return count

    result = loop.run_until_complete(main())
    if result != size:
        raise RuntimeError(f"sleep(0) loop made {result} iterations, expected {size}")
    return size

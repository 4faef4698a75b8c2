"""A pool of worker tasks draining a bounded queue, then shutting down cleanly.

    python examples/worker_pool.py

* The producer puts jobs into a bounded ``Queue``: ``await put()`` waits while it is full,
  so a fast producer cannot run ahead of the workers (back-pressure).
* Each worker loops on ``await get()`` and calls ``task_done()`` for every job, whether the
  job succeeded or failed, so that ``join()`` can tell when all the work is finished.
* ``join()`` returns once every job put has been marked done.  Then ``shutdown()`` wakes the
  idle workers: their ``get()`` raises ``QueueShutDown`` and they return.  No task is
  cancelled and none is left behind.

"Work" here is a number of scheduler steps (``sleep(0)``) so that the output is the same
on every run; a real worker would await I/O instead.  Swap the import for ``import asyncio``
to run it on the standard library (Python 3.13+, which has ``Queue.shutdown()``).
"""

import coroloop as asyncio

JOBS = [("resize a.png", 3), ("resize b.png", 1), ("fail c.png", 2), ("resize d.png", 1),
        ("resize e.png", 4), ("resize f.png", 1)]
N_WORKERS = 3
QUEUE_SIZE = 2


async def do_job(name, steps):
    for _ in range(steps):
        await asyncio.sleep(0)  # stand-in for awaiting I/O
    if name.startswith("fail"):
        raise ValueError(f"cannot process {name.split()[1]}")
    return name.split()[1]


async def worker(wid, jobs, report):
    while True:
        try:
            name, steps = await jobs.get()
        except asyncio.QueueShutDown:
            print(f"  worker {wid}: queue shut down, exiting")
            return
        print(f"  worker {wid}: start {name!r}")
        try:
            result = await do_job(name, steps)
        except ValueError as exc:
            report.append((name, f"failed: {exc}"))
            print(f"  worker {wid}: {name!r} failed: {exc}")
        else:
            report.append((name, f"ok: {result}"))
            print(f"  worker {wid}: done {name!r}")
        finally:
            jobs.task_done()  # always: join() counts finished jobs, not successful ones


async def main():
    jobs = asyncio.Queue(maxsize=QUEUE_SIZE)
    report = []
    workers = [asyncio.create_task(worker(i, jobs, report)) for i in range(N_WORKERS)]

    for job in JOBS:
        if jobs.full():
            print(f"producer: queue full ({jobs.qsize()}/{jobs.maxsize}), waiting for room")
        await jobs.put(job)
        print(f"producer: queued {job[0]!r}")

    print("producer: all jobs queued; waiting for join()")
    await jobs.join()
    print("producer: every job is done; shutting the queue down")
    jobs.shutdown()
    for task in workers:
        await task

    print(f"summary: {len(report)} jobs")
    for name, outcome in sorted(report):
        print(f"  {name:14} {outcome}")


if __name__ == "__main__":
    asyncio.run(main())

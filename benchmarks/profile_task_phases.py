#!/usr/bin/env python3
"""Where a task's time goes: create, step to completion, await + free (ns per task).

    .venv/bin/python benchmarks/profile_task_phases.py asyncio
    .venv/bin/python benchmarks/profile_task_phases.py coroloop

create_task's benchmark in phases, timed by this thread's CPU time (steadier than the
wall clock on a loaded machine): a batch of ``create_task(child(i))``, one
``sleep(0)`` in which every task runs its single step, then ``await`` of each
finished task and the batch freed.  Best of RUNS runs of ROUNDS batches, per phase.
The numbers and what they say are in docs/benchmarks.md ("Every peer, both builds").
"""

from __future__ import annotations

import sys
import time

BATCH, ROUNDS, RUNS = 1000, 300, 7


async def _child(i):
    return i


def measure(aio):
    """(create, step, await+free) in ns per task, for one run."""
    totals = [0.0, 0.0, 0.0]
    clock = time.thread_time

    async def main():
        for _ in range(ROUNDS):
            t0 = clock()
            tasks = [aio.create_task(_child(i)) for i in range(BATCH)]
            t1 = clock()
            await aio.sleep(0)
            t2 = clock()
            for task in tasks:
                await task
            del tasks
            t3 = clock()
            totals[0] += t1 - t0
            totals[1] += t2 - t1
            totals[2] += t3 - t2

    loop = aio.new_event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return [t / (BATCH * ROUNDS) * 1e9 for t in totals]


def main(argv):
    impl = argv[0] if argv else "coroloop"
    if impl not in ("asyncio", "coroloop"):
        raise SystemExit(f"usage: {sys.argv[0]} asyncio|coroloop")
    aio = __import__(impl)
    runs = [measure(aio) for _ in range(RUNS)]
    create, step, finish = (min(run[k] for run in runs) for k in range(3))
    print(f"{impl:10} ns/task: create {create:.0f}  step {step:.0f}  "
          f"await+free {finish:.0f}  total {create + step + finish:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""How long coroloop.debug.snapshot() stalls the loop with 10,000 tasks (issue 9: <= 50 ms).

    .venv/bin/python benchmarks/debug_snapshot.py [--tasks N] [--repeat R]

The tasks wait on a mix of things (sleeps, a lock held by another task, an event,
queues, gathers, TaskGroups), with the TaskMonitor installed (debug mode's setting).
Prints the median and worst time (wall clock, and the CPU time, steadier on a
loaded machine) of one snapshot() call on the loop's thread, which is the time the
loop is stalled, and then the time the first read of ``Snapshot.tasks`` takes
(the TaskInfo objects are made from the captured facts on the thread reading them:
the monitor endpoint's, off the loop).  ``--tasks`` counts every task, the main
one and the gathers' and groups' children included.  Not a test: timing on a shared machine is noisy.
"""

import argparse
import statistics
import time

import coroloop
from coroloop.debug import TaskMonitor, snapshot


async def main(n_tasks, repeat):
    TaskMonitor.install()
    lock, event, queue = coroloop.Lock(), coroloop.Event(), coroloop.Queue()
    await lock.acquire()

    async def gathering():
        await coroloop.gather(coroloop.sleep(100), coroloop.sleep(100))

    async def group():
        async with coroloop.TaskGroup() as tg:
            tg.create_task(coroloop.sleep(100))

    # (maker, tasks it makes): the main task and these make n_tasks in all.
    makers = [(lambda: coroloop.sleep(100), 1), (lock.acquire, 1), (event.wait, 1),
              (queue.get, 1), (gathering, 3), (group, 2)]
    tasks, made, i = [], 1, 0
    while made < n_tasks:
        maker, count = makers[i % len(makers)]
        if made + count > n_tasks:
            maker, count = makers[0]
        tasks.append(coroloop.create_task(maker()))
        made += count
        i += 1
    for _ in range(3):
        await coroloop.sleep(0)
    count = len(coroloop.all_tasks())
    times, cpu_times, later = [], [], []
    shot = infos = None
    for _ in range(repeat):
        # The previous snapshot is dropped first: freeing its 10,000 TaskInfo
        # objects is the program's doing, not the next snapshot's stall.
        shot = infos = None
        start, cpu_start = time.perf_counter(), time.process_time()
        shot = snapshot()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
        start = time.process_time()
        infos = shot.tasks  # made from the captured facts when first read
        later.append(time.process_time() - start)
    assert len(infos) == count
    print(f"snapshot() of {count} tasks stalls the loop: median "
          f"{statistics.median(times) * 1e3:.1f} ms, worst {max(times) * 1e3:.1f} ms "
          f"over {repeat} runs; CPU time: median {statistics.median(cpu_times) * 1e3:.1f} "
          f"ms (limit: 50 ms for 10,000); then reading .tasks (TaskInfo objects, on "
          f"the reading thread, off the loop for the endpoint): median "
          f"{statistics.median(later) * 1e3:.1f} ms CPU")
    for task in tasks:
        task.cancel()
    await coroloop.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    coroloop.run(main(args.tasks, args.repeat))

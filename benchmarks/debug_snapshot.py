"""How long coroloop.debug.snapshot() stalls the loop with 10,000 tasks (issue 9: <= 50 ms).

    .venv/bin/python benchmarks/debug_snapshot.py [--tasks N] [--repeat R]

The tasks wait on a mix of things (sleeps, a lock held by another task, an event,
queues, gathers, TaskGroups), with the TaskMonitor installed (debug mode's setting).
Prints the median and worst time (wall clock, and the CPU time, steadier on a
loaded machine) of one snapshot() call on the loop's thread, which
is the time the loop is stalled.  Not a test: timing on a shared machine is noisy.
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

    makers = [lambda: coroloop.sleep(100), lock.acquire, event.wait, queue.get,
              gathering, group]
    tasks = [coroloop.create_task(makers[i % len(makers)]()) for i in range(n_tasks)]
    for _ in range(3):
        await coroloop.sleep(0)
    count = len(coroloop.all_tasks())
    times, cpu_times = [], []
    for _ in range(repeat):
        start, cpu_start = time.perf_counter(), time.process_time()
        shot = snapshot()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    assert len(shot.tasks) == count
    print(f"snapshot() of {count} tasks: median {statistics.median(times) * 1e3:.1f} ms, "
          f"worst {max(times) * 1e3:.1f} ms over {repeat} runs; CPU time: median "
          f"{statistics.median(cpu_times) * 1e3:.1f} ms (limit: 50 ms for 10,000)")
    for task in tasks:
        task.cancel()
    await coroloop.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    coroloop.run(main(args.tasks, args.repeat))

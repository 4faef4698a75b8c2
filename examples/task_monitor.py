"""The tutorial's TaskMonitor, built in: live tasks, counts by state, finished history.

The tutorial keeps a set of tasks and a done callback by hand.
``coroloop.debug.TaskMonitor`` is an instrument on the loop: it sees every task, counts
them by state (running, runnable, waiting, done), keeps the last finished ones with their
outcome (1000 by default), and is what ``coroloop.debug.snapshot()`` reads.
"""

import coroloop
from coroloop.debug import TaskMonitor, snapshot


async def worker(n, queue):
    item = await queue.get()
    await coroloop.sleep(0.01 * n)
    if item == "bad":
        raise ValueError(f"worker {n} got a bad item")
    return f"worker {n} did {item}"


async def main():
    monitor = TaskMonitor.install(history=10)
    queue = coroloop.Queue()
    workers = [coroloop.create_task(worker(n, queue), name=f"worker-{n}") for n in (1, 2, 3)]
    await coroloop.sleep(0)
    print("all waiting:", monitor.counts())
    for task in sorted(snapshot().tasks, key=lambda info: info.name):
        if task.wait is not None:
            print(f"  {task.name} waits on {task.wait.kind}")
    for item in ("a", "bad", "c"):
        queue.put_nowait(item)
    await coroloop.gather(*workers, return_exceptions=True)
    print("after the work:", monitor.counts())
    for done in monitor.finished:
        print(f"  {done.name}: {done.outcome}" + (f" ({done.error})" if done.error else ""))


if __name__ == "__main__":
    coroloop.run(main())

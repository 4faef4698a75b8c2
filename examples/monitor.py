"""A small service to attach to from a shell: ps, pstree, top, dump and cancel.

Start it with its monitor endpoint and look at it while it runs::

    python -m coroloop run --monitor-allow-cancel examples/monitor.py --forever
    python -m coroloop ps PID           # PID: the first line it prints
    python -m coroloop pstree PID
    python -m coroloop top PID
    python -m coroloop dump PID > snapshot.json
    python -m coroloop cancel PID ID    # ID of the task named "service": it exits

Without ``--forever`` it runs for a moment, asks its own endpoint for a snapshot
(from a thread, as the ``ps`` command does from another process), prints the
table and exits.
"""

import os
import sys

import coroloop
import coroloop.debug
from coroloop.debug.endpoint import MonitorClient


async def producer(queue):
    item = 0
    while True:
        await queue.put(item)            # queue_put while the queue is full
        item += 1
        await coroloop.sleep(0.01)


async def worker(queue, lock, handled):
    while True:
        await queue.get()                # queue_get while it is empty
        async with lock:                 # lock: the workers share the "database"
            await coroloop.sleep(0.005)
        handled[0] += 1


async def stuck(event):
    await event.wait()                   # never set: an event wait that never ends


async def heartbeat():
    while True:
        await coroloop.sleep(0.05)       # spawned by the service, awaited by nobody


async def service():
    queue = coroloop.Queue(maxsize=4)
    lock = coroloop.Lock()
    handled = [0]
    beating = coroloop.create_task(heartbeat(), name="heartbeat")
    try:
        async with coroloop.TaskGroup() as group:   # the group's tasks: awaited by it
            group.create_task(producer(queue), name="producer")
            for n in (1, 2):
                group.create_task(worker(queue, lock, handled), name=f"worker-{n}")
            group.create_task(stuck(coroloop.Event()), name="stuck")
    finally:
        beating.cancel()


def ask_for_ps(path):
    """What ``python -m coroloop ps PID`` does, from a thread of this process."""
    with MonitorClient(path=path) as client:
        reply = client.request("snapshot")
    return coroloop.debug.format_ps(reply["snapshot"])


async def main(forever):
    endpoint = coroloop.debug.serve()      # run --monitor(-allow-cancel) made it already
    running = coroloop.create_task(service(), name="service")
    if forever:
        print(f"pid {os.getpid()}: serving {endpoint.path}", flush=True)
        try:
            await running
        except coroloop.CancelledError:
            print("service cancelled: exiting", flush=True)
    else:
        await coroloop.sleep(0.05)
        print(await coroloop.to_thread(ask_for_ps, endpoint.path))
        running.cancel()
        try:
            await running
        except coroloop.CancelledError:
            pass
    endpoint.close()


if __name__ == "__main__":
    coroloop.run(main("--forever" in sys.argv[1:]))

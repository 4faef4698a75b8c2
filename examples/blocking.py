"""Blocking the loop: find the call that holds it, while it still does.

A coroutine that calls ``time.sleep`` (or a slow parser, a synchronous HTTP client,
a CPU-heavy loop) stops every other task: the loop runs one thing at a time.
``coroloop.debug.watch_blocking(threshold)`` runs a watchdog thread that notices a
step still running after *threshold* seconds, samples the loop thread's stack then,
and reports the culprit line -- to ``on_block``, and as a warning on the
``coroloop.debug`` logger.  In debug mode (``coroloop.run(main(), debug=True)``,
``PYTHONASYNCIODEBUG=1`` or ``python -X dev``) a watch at the loop's
``slow_callback_duration`` (0.1 s) is on by default.

The fix is to move the blocking call to a thread (``coroloop.to_thread``), which the
second run shows: nothing is reported.
"""

import linecache
import logging
import os
import time

import coroloop
import coroloop.debug


def load_settings():
    time.sleep(0.2)  # a blocking call: the whole loop waits here
    return {"retries": 3}


async def blocking_startup():
    return load_settings()


async def threaded_startup():
    return await coroloop.to_thread(load_settings)


def report(block):
    filename, lineno, function = block.culprit
    source = linecache.getline(filename, lineno).strip()
    print(f"  blocked >= {block.threshold * 1000:.0f} ms in task {block.task.get_name()!r}: "
          f"{os.path.basename(filename)}:{lineno} in {function}: {source}")


async def main(startup):
    # Start the executor's thread before watching: Thread.start() waits until the new
    # thread runs, which on a loaded machine can itself hold the loop for 50 ms.
    await coroloop.to_thread(int)
    with coroloop.debug.watch_blocking(0.05, on_block=report):
        return await coroloop.create_task(startup(), name=startup.__name__)


if __name__ == "__main__":
    logging.getLogger("coroloop.debug").setLevel(logging.ERROR)  # on_block prints here
    for startup in (blocking_startup, threaded_startup):
        print(f"{startup.__name__}:")
        settings = coroloop.run(main(startup))
        print(f"  settings: {settings}")

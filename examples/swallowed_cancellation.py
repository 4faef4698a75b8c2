"""A swallowed cancellation, reported with the task and the line it returned at.

A task that catches ``CancelledError`` and returns normally (without ``uncancel()``)
breaks whoever cancelled it: a timeout never fires, a TaskGroup never stops.  Debug
mode reports it on the ``coroloop.debug`` logger, naming the task, the line it returned
at, and who cancelled it (``coroloop.debug.cancelled_by``).  The well-behaved way to
handle a cancellation is to clean up and re-raise it.
"""

import logging
import os
import sys

import coroloop
from coroloop.debug import cancelled_by

HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class ShortPaths(logging.Formatter):
    """Log records with this directory left out of paths (a stable transcript)."""

    def format(self, record):
        return super().format(record).replace(HERE, "")


async def stubborn():
    try:
        await coroloop.sleep(10)
    except coroloop.CancelledError:
        print("stubborn: caught the cancellation and carries on")
    return "not cancelled"           # <- the line debug mode reports


async def polite():
    try:
        await coroloop.sleep(10)
    except coroloop.CancelledError as exc:
        info = cancelled_by(exc)
        print(f"polite: cleaning up; cancelled by {info.canceller_name} via {info.via}")
        raise


async def main():
    stubborn_task = coroloop.create_task(stubborn(), name="stubborn")
    polite_task = coroloop.create_task(polite(), name="polite")
    await coroloop.sleep(0)
    stubborn_task.cancel()
    polite_task.cancel("shutting down")
    print("stubborn returned", repr(await stubborn_task))
    try:
        await polite_task
    except coroloop.CancelledError:
        print("polite was cancelled, as asked")


if __name__ == "__main__":
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(ShortPaths("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger("coroloop.debug").addHandler(handler)
    coroloop.run(main(), debug=True)

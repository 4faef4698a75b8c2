"""Debug mode with logging: what asyncio's debug mode reports, and what coroloop adds.

Turn debug mode on with ``coroloop.run(main(), debug=True)`` (or ``PYTHONASYNCIODEBUG=1``,
or ``python -X dev``) and send the ``asyncio`` and ``coroloop.debug`` loggers somewhere.
Here a task is left running when ``main()`` returns: ``run()`` cancels it, and debug
mode lists it with the line that created it.  Its cancellation is traced back too.
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


async def heartbeat():
    try:
        while True:
            await coroloop.sleep(0.01)
    except coroloop.CancelledError as exc:
        info = cancelled_by(exc)
        print(f"heartbeat cancelled via {info.via!r}, outside any task: {info.canceller_name is None}")
        raise


async def main():
    coroloop.create_task(heartbeat(), name="heartbeat")  # nobody awaits it
    await coroloop.sleep(0.025)
    print("main() returns; the heartbeat is still running")


if __name__ == "__main__":
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(ShortPaths("%(levelname)s %(name)s: %(message)s"))
    for name in ("asyncio", "coroloop.debug"):
        logging.getLogger(name).addHandler(handler)
    coroloop.run(main(), debug=True)

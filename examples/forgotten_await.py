"""A forgotten await, reported with the line that created the coroutine.

Calling a coroutine function without ``await`` makes a coroutine object and runs
nothing.  Python warns when that object is collected ("coroutine ... was never
awaited"); in debug mode coroloop turns on Python's coroutine origin tracking, so the
warning also says where the coroutine was created.  ``logging.captureWarnings`` sends
the warning to the log (here: stdout).
"""

import logging
import os
import sys

import coroloop

HERE = os.path.dirname(os.path.abspath(__file__)) + os.sep


class ShortPaths(logging.Formatter):
    """Log records with this directory left out of paths, and the frames of the
    library (coroloop's run() and loop) left out of stacks: a stable transcript."""

    def format(self, record):
        lines, skip = [], False
        for line in super().format(record).splitlines():
            if skip:
                skip = False
            elif line.startswith('  File "') and not line.startswith(f'  File "{HERE}'):
                skip = True  # a library frame and its source line
            else:
                lines.append(line.replace(HERE, ""))
        return "\n".join(lines)


async def save(record):
    await coroloop.sleep(0)
    print("saved", record)


async def main():
    await save("first")
    save("second")          # the bug: no await, nothing is saved
    print("main() is done")


if __name__ == "__main__":
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(ShortPaths("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger("py.warnings").addHandler(handler)
    logging.captureWarnings(True)
    coroloop.run(main(), debug=True)

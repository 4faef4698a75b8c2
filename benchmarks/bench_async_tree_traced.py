"""async_tree with a trace recording: the cost of coroloop.debug's timeline recorder.

The same gather tree as ``async_tree``, with a ``coroloop.debug.TraceRecorder`` on
the loop for the whole run: every step, wait, spawn and wake-up is recorded.  The
"trace on" row of docs/benchmarks.md; compare its coroloop column with
``async_tree``'s (the budget is 15%).  Writing the recording out as JSON happens
afterwards and is not timed here (docs/benchmarks.md gives that time apart).
Only coroloop has the recorder (asyncio and uvloop show n/a).
"""

import _async_tree as tree

ORDER = 91
DESCRIPTION = "async_tree with coroloop.debug recording a trace (trace on)"
SIZE = tree.DEPTH
QUICK_SIZE = tree.QUICK_DEPTH
REQUIRES = ("gather", "debug.TraceRecorder")


def warmup_size(size):
    return size - 1


def run(aio, loop, size):
    recorder = aio.debug.TraceRecorder(loop).start()
    try:
        return tree.run_gather(aio, loop, size)
    finally:
        recorder.stop()

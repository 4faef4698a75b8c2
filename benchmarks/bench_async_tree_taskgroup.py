"""async_tree with ``aio.TaskGroup``: each inner node starts its 6 children in a
TaskGroup instead of gathering them.  Same tree as ``async_tree``.
"""

import _async_tree as tree

ORDER = 91
DESCRIPTION = "as async_tree, children started in an aio.TaskGroup"
SIZE = tree.DEPTH
QUICK_SIZE = tree.QUICK_DEPTH
REQUIRES = ("TaskGroup",)


def warmup_size(size):
    return size - 1  # one level shallower: 1/6 of the nodes


def run(aio, loop, size):
    return tree.run_taskgroup(aio, loop, size)

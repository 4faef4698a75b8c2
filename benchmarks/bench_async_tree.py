"""async_tree, plain ``aio.gather``: a gather tree 6 deep, 6 branches per node.

Every inner node gathers 6 child coroutines; leaves ``await aio.sleep(0)``.
55,987 nodes.  Measures task creation and gather fan-in/fan-out at scale.
"""

import _async_tree as tree

ORDER = 90
DESCRIPTION = "gather tree, depth 6, 6 branches per node, leaves sleep(0)"
SIZE = tree.DEPTH
QUICK_SIZE = tree.QUICK_DEPTH
REQUIRES = ("gather",)


def warmup_size(size):
    return size - 1  # one level shallower: 1/6 of the nodes


def run(aio, loop, size):
    return tree.run_gather(aio, loop, size)

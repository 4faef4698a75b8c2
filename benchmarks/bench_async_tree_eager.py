"""async_tree with eager tasks: ``loop.set_task_factory(aio.eager_task_factory)``.

Same tree as ``async_tree``; each child task runs its first step synchronously
inside ``gather``.  Only where the ``aio`` module has ``eager_task_factory``
(stdlib asyncio from Python 3.12; coroloop when it provides it).
"""

import _async_tree as tree

ORDER = 92
DESCRIPTION = "as async_tree, with loop.set_task_factory(aio.eager_task_factory)"
SIZE = tree.DEPTH
QUICK_SIZE = tree.QUICK_DEPTH
REQUIRES = ("gather", "eager_task_factory")


def warmup_size(size):
    return size - 1  # one level shallower: 1/6 of the nodes


def run(aio, loop, size):
    return tree.run_eager(aio, loop, size)

"""Queues for tasks: Queue (FIFO), PriorityQueue, LifoQueue, with asyncio's API and 3.13's
``shutdown()`` on every supported Python.

Built only on the core's public API (the running loop and ``loop.create_future()``, through
``_LoopBound._new_waiter``).  A task
blocked in get() or put() awaits a future kept in the ``_getters`` / ``_putters`` deque;
whoever makes room or adds an item pops the oldest not-yet-done future and resolves it.  The
woken task then re-checks the queue (it may have to wait again if another task got there
first, exactly as in asyncio); if it is cancelled before it runs, it passes the wake-up on.

Storage is delegated to three hooks that subclasses override, as in asyncio: ``_init``
(create ``self._queue``), ``_put(item)`` and ``_get()``.  The size is ``len(self._queue)``.
``get()`` and ``put()`` of a plain Queue (not a subclass) do what ``get_nowait()`` /
``put_nowait()`` and the hooks do without calling them: two calls per item saved, and
nothing a subclass can override is skipped.
"""

from __future__ import annotations

import collections
import heapq
from asyncio import QueueEmpty, QueueFull
from typing import TYPE_CHECKING, Any, TypeVar

from .. import _bridge
from .._core.typed import Generic
from .locks import _LoopBound

if TYPE_CHECKING:
    from .._core.typed import SupportsRichComparison

__all__ = [
    "Queue",
    "PriorityQueue",
    "LifoQueue",
    "QueueEmpty",
    "QueueFull",
    "QueueShutDown"]

QueueShutDown = _bridge.QueueShutDown



_deque = collections.deque
_T = TypeVar("_T")
_OrderedT = TypeVar("_OrderedT", bound="SupportsRichComparison")  # PriorityQueue's items


def _wake_oldest(waiters):
    """Resolve the oldest future in *waiters* that is not done yet, dropping it and the
    done (cancelled) ones before it."""
    while waiters:
        fut = waiters.popleft()
        if not fut.done():
            fut.set_result(None)
            return


class Queue(_LoopBound, Generic[_T]):
    """A FIFO queue for coordinating producer and consumer tasks.

    If *maxsize* is <= 0 the queue is unbounded; otherwise ``await put()`` blocks while it
    holds *maxsize* items.  Unlike ``queue.Queue``, qsize() is exact: there are no threads.
    """

    def __init__(self, maxsize: int = 0) -> None:
        # Futures of tasks blocked in get() / put(), oldest first.  A future leaves the
        # deque when it is woken (popped by _wake_oldest or shutdown) or when its task
        # gives up waiting (removes it itself).
        self._getters: collections.deque[Any] = _deque()
        self._putters: collections.deque[Any] = _deque()
        self._maxsize = maxsize
        # Items put and not yet matched by task_done(); join() waits for it to reach 0.
        self._unfinished_tasks = 0
        # Futures of tasks blocked in join(); all resolved when _unfinished_tasks hits 0.
        self._joiners: list[Any] = []
        # Set once by shutdown(); never cleared.
        self._is_shutdown = False
        self._init(maxsize)

    # -- storage hooks (overridden by PriorityQueue, LifoQueue and user subclasses) -------

    def _init(self, maxsize: int) -> None:
        self._queue: Any = _deque()

    def _put(self, item: _T) -> None:
        self._queue.append(item)

    def _get(self) -> _T:
        return self._queue.popleft()

    # -- introspection --------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"<{type(self).__name__} at {id(self):#x} {self._format()}>"

    def __str__(self) -> str:
        return f"<{type(self).__name__} {self._format()}>"

    # Queue[int] is types.GenericAlias, as asyncio's: from the Generic base.

    def _format(self) -> str:
        parts = [f"maxsize={self._maxsize!r}"]
        items = getattr(self, "_queue", None)
        if items:
            parts.append(f"_queue={list(items)!r}")
        if self._getters:
            parts.append(f"_getters[{len(self._getters)}]")
        if self._putters:
            parts.append(f"_putters[{len(self._putters)}]")
        if self._unfinished_tasks:
            parts.append(f"tasks={self._unfinished_tasks}")
        if self._is_shutdown:
            parts.append("shutdown")
        return " ".join(parts)

    @property
    def maxsize(self) -> int:
        """Number of items allowed in the queue (<= 0: unbounded)."""
        return self._maxsize

    def qsize(self) -> int:
        """Return how many items the queue holds."""
        return len(self._queue)

    def full(self) -> bool:
        """Return True if the queue holds maxsize items (never, if maxsize <= 0)."""
        return 0 < self._maxsize <= len(self._queue)

    def empty(self) -> bool:
        """Return True if the queue is empty."""
        return len(self._queue) == 0

    # -- put --------------------------------------------------------------------------------

    async def put(self, item: _T) -> None:
        """Put *item* into the queue, waiting while it is full.

        Raises QueueShutDown if the queue is (or gets) shut down.
        """
        maxsize = self._maxsize
        while 0 < maxsize <= len(self._queue):
            if self._is_shutdown:
                raise QueueShutDown
            fut = self._new_waiter()
            self._putters.append(fut)
            try:
                await fut
            except BaseException:
                self._abandon(fut, self._putters, not self.full())
                raise
        if type(self) is not Queue:
            self.put_nowait(item)  # a subclass may override it or the storage hooks
            return
        # put_nowait() of a plain Queue, without its two calls (there is a free slot).
        if self._is_shutdown:
            raise QueueShutDown
        self._queue.append(item)
        self._unfinished_tasks += 1
        if self._getters:
            _wake_oldest(self._getters)

    def put_nowait(self, item: _T) -> None:
        """Put *item* without blocking; raise QueueFull if there is no free slot.

        Raises QueueShutDown if the queue has been shut down.
        """
        if self._is_shutdown:
            raise QueueShutDown
        maxsize = self._maxsize
        if 0 < maxsize <= len(self._queue):
            raise QueueFull
        self._put(item)
        self._unfinished_tasks += 1
        if self._getters:
            _wake_oldest(self._getters)

    # -- get --------------------------------------------------------------------------------

    async def get(self) -> _T:
        """Remove and return an item, waiting while the queue is empty.

        Raises QueueShutDown if the queue is shut down and empty (shutdown(immediate=True)
        empties it).
        """
        while not self._queue:
            if self._is_shutdown:
                raise QueueShutDown
            fut = self._new_waiter()
            self._getters.append(fut)
            try:
                await fut
            except BaseException:
                self._abandon(fut, self._getters, bool(self._queue))
                raise
        if type(self) is not Queue:
            return self.get_nowait()  # a subclass may override it or the storage hooks
        # get_nowait() of a plain Queue, without its two calls (there is an item).
        item = self._queue.popleft()
        if self._putters:
            _wake_oldest(self._putters)
        return item

    def get_nowait(self) -> _T:
        """Remove and return an item if one is available, else raise QueueEmpty.

        Raises QueueShutDown instead if the queue is empty and shut down.
        """
        if not self._queue:
            raise QueueShutDown if self._is_shutdown else QueueEmpty
        item = self._get()
        if self._putters:
            _wake_oldest(self._putters)
        return item

    @staticmethod
    def _abandon(waiter, waiters, can_proceed):
        # The task blocked on *waiter* stops waiting (cancelled, or an exception was
        # thrown in).  If it had already been woken, the wake-up is handed to the next
        # waiter when there is something for it to do; otherwise the future is cancelled
        # and removed so that no one wakes it.
        if waiter.done() and not waiter.cancelled():
            if can_proceed:
                _wake_oldest(waiters)
            return
        waiter.cancel()
        try:
            waiters.remove(waiter)
        except ValueError:
            pass  # already dropped by _wake_oldest() skipping it, or by shutdown()

    # -- task accounting --------------------------------------------------------------------

    def task_done(self) -> None:
        """Mark one item previously got from the queue as processed.

        When every item put has been marked, join() returns.  Raises ValueError if called
        more times than items were put.
        """
        if self._unfinished_tasks <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished_tasks -= 1
        if self._unfinished_tasks == 0 and self._joiners:
            self._release_joiners()

    async def join(self) -> None:
        """Wait until every item put into the queue has been marked with task_done()."""
        if self._unfinished_tasks == 0:
            return
        fut = self._new_waiter()
        joiners = self._joiners
        joiners.append(fut)
        try:
            await fut
        except BaseException:
            if fut in joiners:
                joiners.remove(fut)
            raise

    def _release_joiners(self):
        joiners, self._joiners = self._joiners, []
        for fut in joiners:
            if not fut.done():
                fut.set_result(None)

    # -- shutdown ---------------------------------------------------------------------------

    def shutdown(self, immediate: bool = False) -> None:
        """Shut the queue down: put() and put_nowait() raise QueueShutDown from now on.

        get() keeps returning the remaining items and raises QueueShutDown once the queue
        is empty.  With *immediate*, the remaining items are discarded first (each counts
        as task_done(), which may release join()).  Every task blocked in get() or put()
        is woken to re-check.
        """
        self._is_shutdown = True
        if immediate:
            while self._queue:
                self._get()
                # Each discarded item counts as done (but never below zero).
                self._unfinished_tasks = max(0, self._unfinished_tasks - 1)
            if self._unfinished_tasks == 0 and self._joiners:
                self._release_joiners()
        for waiters in (self._getters, self._putters):
            while waiters:
                fut = waiters.popleft()
                if not fut.done():
                    fut.set_result(None)


class PriorityQueue(Queue[_OrderedT]):
    """A queue that returns the lowest item first (entries are often ``(priority, data)``)."""

    def _init(self, maxsize: int) -> None:
        self._queue = []

    def _put(self, item: _OrderedT) -> None:
        heapq.heappush(self._queue, item)

    def _get(self) -> _OrderedT:
        return heapq.heappop(self._queue)


class LifoQueue(Queue[_T]):
    """A queue that returns the most recently put item first."""

    def _init(self, maxsize: int) -> None:
        self._queue = []

    def _get(self) -> _T:
        return self._queue.pop()

    def _put(self, item: _T) -> None:
        self._queue.append(item)

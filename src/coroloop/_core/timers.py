"""The loop's timers: which callbacks (and sleeps) are due at which loop time.

A timer is a ``TimerHandle`` (``call_later``/``call_at``) or a ``SleepFuture``
(``sleep()`` on coroloop's loop, which sits in the store itself).  Both carry
``_when``, ``_cancelled`` and ``_scheduled`` (True while in the store).

Layout, chosen for the scheduler's per-iteration cost:

* ``heap`` holds the *distinct* deadlines as plain floats: the cheapest comparison
  ``heapq`` can make (no tuple, no ``__lt__`` call);
* ``buckets`` maps each deadline to its timer, or to a list of its timers in
  scheduling order, so timers with equal deadlines fire first-in first-out;
* a cancelled timer stays where it is (``cancel()`` only counts it, through
  ``loop._timer_handle_cancelled``) and is skipped when due; when cancelled
  timers are most of the store, :meth:`TimerQueue.purge` rebuilds it, so what
  they reference is freed long before their deadline.

Invariants: ``count`` is the number of timers in the buckets, cancelled ones
included; ``cancelled`` the number of those that are cancelled; every key of
``buckets`` is in ``heap`` exactly once and vice versa; no key is NaN (the loop
puts a NaN deadline in as "now", see "Deadlines" in ``loop.py``).

The scheduler (``loop.py``) reads these fields directly on its hot path and
inlines two rules kept here once: inserting a timer (``push``) and firing one
(``fire``); ``tests/unit/test_hot_path_copies.py`` proves the copies equal.
"""

from __future__ import annotations

import heapq
from typing import Any

from .handles import TimerHandle

__all__ = ["TimerQueue"]

_heappush = heapq.heappush
_heappop = heapq.heappop

# Rebuild the store when more than this many timers, and more than half of
# them, are cancelled.
PURGE_MIN_CANCELLED = 64


class TimerQueue:
    """A loop's pending timers, ordered by deadline, FIFO among equal deadlines."""

    __slots__ = ("heap", "buckets", "count", "cancelled")

    def __init__(self) -> None:
        self.heap: list[float] = []
        self.buckets: dict = {}
        self.count = 0        # timers in the buckets, cancelled included
        self.cancelled = 0    # cancelled timers still in the buckets

    def __len__(self) -> int:
        """Live (not cancelled) timers."""
        return self.count - self.cancelled

    def push(self, when, timer) -> None:
        """Add *timer* (a TimerHandle or SleepFuture), due at loop time *when*."""
        # >>> rule timer-push
        self.count += 1
        first = self.buckets.setdefault(when, timer)
        if first is timer:
            _heappush(self.heap, when)
        else:
            self.share(when, first, timer)
        # <<< rule timer-push

    def share(self, when, first, timer) -> None:
        """*timer* is due at *when* like *first* (a timer or a list): after it."""
        if type(first) is list:
            first.append(timer)
        else:
            self.buckets[when] = [first, timer]

    def fire(self, timer, ready) -> None:
        """*timer* is due and out of the store: queue it on *ready* (a TimerHandle),
        complete it (a SleepFuture), or drop it (cancelled)."""
        # >>> rule timer-fire
        timer._scheduled = False
        if timer._cancelled:
            self.cancelled -= 1
        elif type(timer) is TimerHandle:
            ready.append(timer)
        else:
            timer._fire()  # a SleepFuture: wakes its task this iteration
        # <<< rule timer-fire

    def fire_all(self, due: list, ready) -> None:
        """The timers sharing one deadline, in the order they were scheduled."""
        self.count -= len(due)
        fire = self.fire
        for timer in due:
            fire(timer, ready)

    def tidy(self) -> None:
        """Called by the scheduler while cancelled timers are in the store: rebuild
        it when they are most of it, and forget the deadlines at the head whose
        timers are all cancelled, so they do not shorten the loop's sleep."""
        if self.cancelled > PURGE_MIN_CANCELLED and self.cancelled * 2 > self.count:
            self.purge()
        heap = self.heap
        buckets = self.buckets
        while heap:
            entry = buckets[heap[0]]
            if type(entry) is list:
                for timer in entry:
                    if not timer._cancelled:
                        return
                dead: list[Any] | tuple[Any] = entry
            elif entry._cancelled:
                dead = (entry,)
            else:
                return
            del buckets[_heappop(heap)]
            for timer in dead:
                timer._scheduled = False
            self.count -= len(dead)
            self.cancelled -= len(dead)

    def purge(self) -> None:
        """Rebuild the store without its cancelled timers, keeping the order."""
        old = self.buckets
        # New objects: the scheduler re-reads both after tidy().
        self.heap = []
        self.buckets = {}
        self.count = self.cancelled = 0
        for when, entry in old.items():
            for timer in entry if type(entry) is list else (entry,):
                if timer._cancelled:
                    timer._scheduled = False
                else:
                    self.push(when, timer)

    def clear(self) -> None:
        self.heap.clear()
        self.buckets.clear()
        self.count = 0
        self.cancelled = 0

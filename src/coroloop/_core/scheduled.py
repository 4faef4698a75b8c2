"""The scheduler's iteration under a scheduling policy (``new_event_loop(scheduler=...)``).

The default loop (no policy, or ``coroloop.testing.FIFO()``) never comes here: its
iteration is ``loop.run_until_stopped``, inlined for speed.  This module is
the same four steps written plainly, with three points where a policy decides what
asyncio leaves unordered -- and nothing else:

* **the batch**: the items ready when an iteration runs its callbacks (what the
  previous iteration scheduled, the handlers of the I/O events of this iteration's
  poll, the timers due) run in the order ``policy.order()`` returns;
* **timers with equal deadlines** are in that batch together, so they are reordered
  with it; timers with *different* deadlines never are: one iteration fires the
  timers of one deadline only (the next iteration fires the next one, as a loop that
  woke between the two deadlines would);
* **I/O events of one poll** are in the batch too.

One difference from the fast iteration, for virtual time: with nothing ready and
a timer pending, the descriptors are polled without waiting *before* the clock is
asked how long to sleep, so I/O that has already arrived (loopback data, always,
in a simulation) runs before a ``VirtualClock`` jumps to the timer.

Rules a policy cannot break, because this module keeps them:

1. What a callback schedules runs in a later iteration (no starvation), as always.
2. The items of one *lane* keep their order.  A lane is the object an item acts
   for: a task (its step, or the wakeup of a task waiting on a foreign future), else
   the object a bound-method callback belongs to (a transport, a protocol, a
   future, a list whose ``append`` it is), else the callback function itself (a
   ``functools.partial``: the function it wraps).  So ``call_soon(f, 1)`` runs before
   ``call_soon(f, 2)``, and a protocol's ``connection_made`` before its
   ``data_received``, under every policy.

A policy is any object with ``order(lanes, counts, now) -> list[int]``: *lanes* are
the distinct lanes of the batch in first-appearance order, ``counts[i]`` how many
items lane ``i`` has, and the answer a sequence in which each index ``i`` appears
``counts[i]`` times (lane ``i``'s items run in their own order at those places).
Optionally ``stalled(loop, watching_io)``: called when the loop would block with no
timer due -- return a poll timeout (real seconds, or None to block), or raise to end
``run_forever`` (a simulation reports a deadlock that way).
"""

from __future__ import annotations

import functools
import heapq

from .loop import MAX_POLL_TIMEOUT
from .tasks import Task

__all__ = ["lane_of", "run_scheduled"]

_heappop = heapq.heappop


def lane_of(item):
    """The object a ready-queue *item* acts for (see rule 2 above)."""
    if type(item) is Task or isinstance(item, Task):
        return item
    callback = item._callback
    while type(callback) is functools.partial:
        callback = callback.func
    owner = getattr(callback, "__self__", None)  # methods, builtin methods
    return owner if owner is not None else callback


def _check_order(order, counts, policy) -> None:
    seen = [0] * len(counts)
    for index in order:
        seen[index] += 1
    if seen != list(counts):
        raise RuntimeError(
            f"scheduling policy {policy!r} returned an order that is not a permutation of "
            f"the batch (lane counts {list(counts)}, got {list(order)}); "
            "order() must name each lane index as many times as it has items")


def run_scheduled(loop, policy) -> None:
    """``run_forever``'s iteration with *policy* ordering each batch."""
    ready = loop._ready
    popleft = ready.popleft
    append = ready.append
    timerq = loop._timers
    readiness = loop._readiness
    readers = readiness.readers
    writers = readiness.writers
    poll = readiness.poll
    clock = loop._clock
    now = loop._now
    resolution = clock.resolution
    order_batch = policy.order
    stalled = getattr(policy, "stalled", None)
    while True:
        if timerq.cancelled and timerq.heap:
            timerq.tidy()  # as the fast iteration: dead timers must not shorten a sleep
        timers = timerq.heap

        if ready or loop._stopping:
            if readers or writers:
                poll(0)
        elif timers and (readers or writers) and (poll(0) or ready):
            pass  # I/O already there comes first: a virtual clock must not jump past it
        elif timers:
            timeout = clock.sleep_time(timers[0])
            if timeout is not None and timeout > MAX_POLL_TIMEOUT:
                timeout = MAX_POLL_TIMEOUT
            if timeout is None and stalled is not None:
                timeout = stalled(loop, bool(readers or writers))
            poll(timeout)
        else:
            timeout = clock.sleep_time(None)
            if timeout is None and stalled is not None:
                timeout = stalled(loop, bool(readers or writers))
            poll(timeout)

        # One deadline per iteration (see the module docstring).
        if timers and timers[0] <= now() + resolution:
            due = timerq.buckets.pop(_heappop(timers))
            if type(due) is list:
                timerq.fire_all(due, ready)
            else:
                timerq.count -= 1
                timerq.fire(due, ready)

        count = len(ready)
        if count > 1:
            batch = [popleft() for _ in range(count)]
            lanes: list = []
            counts: list = []
            slots: list = []
            lane_index: dict = {}
            for item in batch:
                lane = lane_of(item)
                key = id(lane)
                index = lane_index.get(key)
                if index is None:
                    index = lane_index[key] = len(lanes)
                    lanes.append(lane)
                    counts.append(0)
                    slots.append([])
                counts[index] += 1
                slots[index].append(item)
            try:
                order = order_batch(lanes, counts, now())
                _check_order(order, counts, policy)
            except BaseException:
                ready.extendleft(reversed(batch))  # lose nothing: a later run sees it
                raise
            taken = [0] * len(lanes)
            for index in order:
                append(slots[index][taken[index]])
                taken[index] += 1
        elif count == 1:
            order_batch([lane_of(ready[0])], [1], now())
        if count:
            loop._run_ready_watched(count)
        if loop._stopping:
            return

"""Helpers for tests that need an order: ``wait_all_tasks_blocked`` and ``Sequencer``.

``wait_all_tasks_blocked()`` returns once no other task can run: every other task
waits on something (a future, a lock, a timer, I/O).  It watches the loop through
an instrument (``task_step_started``), so it uses only the loop's public API: no
other task stepping between two of its own steps, twice in a row (a policy may run
another task before our step in one batch and after it in the next), means every
other task is blocked -- timers due and I/O are seen in those iterations too.  A
chain of plain callbacks that wakes a task only after more than two iterations is
not seen.  On a ``VirtualClock`` time does not move while it
waits (it keeps the loop busy), except for the *cushion*, which is loop time.
"""

from __future__ import annotations

import asyncio
import contextlib

from .. import Instrument

__all__ = ["Sequencer", "wait_all_tasks_blocked"]


class _StepCounter(Instrument):
    """Counts the steps of every task but one."""

    hooks_catch_errors = True

    def __init__(self, waiter) -> None:
        self.waiter = waiter
        self.steps = 0

    def task_step_started(self, task) -> None:
        if task is not self.waiter:
            self.steps += 1


async def _until_quiet(counter) -> None:
    # One step of ours with no other task stepping since the last is not enough
    # under a scheduling policy: another task may have run just before our step
    # then and just after it now.  Two in a row cover one whole batch.
    quiet = 0
    while quiet < 2:
        before = counter.steps
        await asyncio.sleep(0)
        quiet = quiet + 1 if counter.steps == before else 0


async def wait_all_tasks_blocked(cushion: float = 0.0) -> None:
    """Return when every other task on this loop is blocked, and has stayed blocked
    for *cushion* seconds of loop time (virtual time on a ``VirtualClock``).

    Tasks sleeping on a timer count as blocked.  Needs coroloop's loop.
    """
    if cushion < 0 or cushion != cushion:
        raise ValueError(f"wait_all_tasks_blocked() cushion must be >= 0 seconds, got {cushion!r}")
    loop = asyncio.get_running_loop()
    add = getattr(loop, "add_instrument", None)
    if add is None:
        raise TypeError(f"wait_all_tasks_blocked() needs coroloop's event loop, not {loop!r} "
                        "(run the test with coroloop.new_event_loop or the coroloop plugin)")
    counter = _StepCounter(asyncio.current_task())
    add(counter)
    try:
        while True:
            await _until_quiet(counter)
            if not cushion:
                return
            before = counter.steps
            await asyncio.sleep(cushion)
            if counter.steps == before:
                return
    finally:
        loop.remove_instrument(counter)  # type: ignore[attr-defined]  # checked above


class Sequencer:
    """Force an order on blocks of code in different tasks::

        seq = Sequencer()

        async def worker_a():
            async with seq(0):
                ...   # runs first
            async with seq(2):
                ...   # runs third

        async def worker_b():
            async with seq(1):
                ...   # runs second, once seq(0)'s block has finished

    Each position is used once; ``seq(n)`` waits until the blocks ``0..n-1`` have
    finished.  If a block fails, every later position raises ``RuntimeError``
    instead of waiting forever.
    """

    def __init__(self) -> None:
        self._next = 0
        self._claimed: set[int] = set()
        self._broken = False
        self._changed: asyncio.Condition | None = None

    def __repr__(self) -> str:
        state = "broken" if self._broken else f"next={self._next}"
        return f"<Sequencer {state}>"

    @contextlib.asynccontextmanager
    async def __call__(self, position: int):
        if not isinstance(position, int) or position < 0:
            raise ValueError(f"Sequencer position must be an int >= 0, got {position!r}")
        if position in self._claimed:
            raise RuntimeError(f"Sequencer position {position} was already used; "
                               "each position runs once")
        self._claimed.add(position)
        if self._changed is None:
            self._changed = asyncio.Condition()
        try:
            async with self._changed:
                await self._changed.wait_for(lambda: self._broken or self._next == position)
        except BaseException:  # cancelled while waiting: later positions must not hang
            self._broken = True
            async with self._changed:
                self._changed.notify_all()
            raise
        if self._broken:
            raise RuntimeError(f"Sequencer position {position}: an earlier block failed")
        try:
            yield
        except BaseException:
            self._broken = True
            raise
        finally:
            async with self._changed:
                self._next += 1
                self._changed.notify_all()

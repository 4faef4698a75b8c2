"""Scheduling policies: who runs first among what is ready at the same time.

asyncio runs the items ready in one loop iteration in the order they became ready.
Where that order is an accident of timing (two tasks woken in one iteration, timers
with the same deadline, the I/O events of one poll), a program must not depend on
it -- and races are exactly the programs that do.  A policy, given to
``coroloop.new_event_loop(scheduler=...)``, decides that order; the loop keeps
everything else (``src/coroloop/_core/scheduled.py`` says exactly what a policy may
reorder: the batch, by *lanes* -- a task, or the object a callback belongs to --
each lane keeping its own order).

Three rules hold for every policy here:

1. Every decision comes from the policy's own ``random.Random(seed)``; nothing else
   in the loop is random, so one seed is one schedule.
2. Each choice among more than one candidate lane is recorded in ``decisions`` (the
   index picked among the candidates, in first-appearance order); ``ReplayOrder``
   plays such a list back, whatever policy produced it.
3. What ran is folded into ``trace_hash()``: the loop time of each batch and the
   lanes in the order they ran (each lane named by when it was first seen and by
   its kind, never by ``id()`` or a task's global number), so two runs of a
   deterministic program under one schedule hash the same.

``FIFO()`` is asyncio's order and costs nothing: the loop does not consult it.
"""

from __future__ import annotations

import hashlib
import random
import weakref

__all__ = ["FIFO", "PCT", "RandomOrder", "ReplayOrder", "SchedulingPolicy"]


def _lane_kind(lane) -> str:
    """A name for a lane that is the same in every run of the program."""
    qualname = getattr(lane, "__qualname__", None)
    if isinstance(qualname, str):
        return qualname
    coro = getattr(lane, "get_coro", None)
    if coro is not None:  # a task: its coroutine's name, not "Task-N"
        try:
            return "task:" + getattr(coro(), "__qualname__", "?")
        except Exception:  # a debugging aid never breaks the program
            return "task"
    return type(lane).__qualname__


class SchedulingPolicy:
    """Base class: orders each batch by repeated choices among the candidate lanes.

    Subclasses implement ``_choose(candidates) -> index`` (candidates are lanes that
    still have an item to run, in first-appearance order) and may override
    ``_ran(lane)``, called after each pick (one pick runs one item).
    """

    #: The loop consults the policy (``FIFO`` says False: the fast path runs).
    reorders = True
    #: Stop the run (raise ``step_limit_error``) past this many items; None: no limit.
    max_steps = None
    step_limit_error = RuntimeError

    def __init__(self, seed: int = 0) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise TypeError(f"{type(self).__name__}() seed must be an int, got {seed!r}")
        self.seed = seed
        #: The generator every decision of this policy comes from.
        self.random = random.Random(seed)
        #: Index picked at each choice among more than one candidate lane.
        self.decisions: list[int] = []
        #: Items ordered so far (one per item run): PCT's clock.
        self.steps = 0
        self._hash = hashlib.sha256()
        self._weak_ordinals: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._strong_ordinals: dict = {}  # lanes that cannot be weakly referenced
        self._next_ordinal = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.seed!r})"

    def _ordinal(self, lane) -> int:
        try:
            ordinal = self._weak_ordinals.get(lane)
            table = self._weak_ordinals
        except TypeError:
            key = id(lane)
            ordinal = self._strong_ordinals.get(key, (None,))[0]
            table = None
        if ordinal is None:
            ordinal = self._next_ordinal
            self._next_ordinal += 1
            if table is not None:
                table[lane] = ordinal
            else:  # keep the lane alive, so its id is not reused by another
                self._strong_ordinals[id(lane)] = (ordinal, lane)
            self._hash.update(f"+{ordinal}:{_lane_kind(lane)};".encode())
        return ordinal

    def order(self, lanes: list, counts: list, now: float) -> list:
        """The run order of one batch: lane indices, lane ``i`` named ``counts[i]`` times."""
        ordinals = [self._ordinal(lane) for lane in lanes]
        left = list(counts)
        candidates = list(range(len(lanes)))
        result = []
        choose = self._choose
        decisions = self.decisions
        while candidates:
            if len(candidates) == 1:
                pick = 0
            else:
                pick = choose([lanes[i] for i in candidates])
                decisions.append(pick)
            index = candidates[pick]
            result.append(index)
            self.steps += 1
            self._ran(lanes[index])
            left[index] -= 1
            if not left[index]:
                del candidates[pick]
        if self.max_steps is not None and self.steps > self.max_steps:
            raise self.step_limit_error(
                f"the program ran more than {self.max_steps} callbacks and task steps "
                f"under {self!r} without finishing (a livelock?)")
        self._hash.update(f"@{now!r}:{','.join(str(ordinals[i]) for i in result)};".encode())
        return result

    def _choose(self, candidates: list) -> int:
        raise NotImplementedError

    def _ran(self, lane) -> None:
        pass

    def trace_hash(self) -> str:
        """A digest of what ran so far, in order (hex)."""
        return self._hash.hexdigest()


class FIFO(SchedulingPolicy):
    """asyncio's order exactly: first ready, first run.  The default.

    The loop does not consult it (``reorders`` is False), so it costs nothing.
    """

    reorders = False

    def __init__(self) -> None:
        super().__init__(0)

    def __repr__(self) -> str:
        return "FIFO()"

    def _choose(self, candidates: list) -> int:
        return 0


class _TracedFIFO(FIFO):
    """FIFO that the loop consults, so a simulation gets its trace hash."""

    reorders = True


class RandomOrder(SchedulingPolicy):
    """Each pick is uniformly random among the lanes that still have an item."""

    def _choose(self, candidates: list) -> int:
        return self.random.randrange(len(candidates))


class PCT(SchedulingPolicy):
    """Probabilistic concurrency testing (Burckhardt et al., ASPLOS 2010).

    Every lane gets a random priority when first seen, above ``depth``; the
    highest-priority candidate always runs first.  At ``depth - 1`` change points,
    steps drawn at random in ``1..steps``, the lane running at that step drops to
    priority ``i`` (the i-th change point), below every initial priority.  A bug that
    needs *d* ordering constraints is found with probability at least
    ``1 / (n * steps**(d-1))`` per run for *n* lanes, where a uniformly random order
    needs luck at every step.  *steps* is the expected length of a run in items;
    ``explore()`` measures it.
    """

    def __init__(self, seed: int = 0, depth: int = 3, *, steps: int = 100) -> None:
        super().__init__(seed)
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"PCT depth must be an int >= 1 (1: no change point), got {depth!r}")
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f"PCT steps must be an int >= 1, got {steps!r}")
        self.depth = depth
        self.horizon = steps
        points = self.random.sample(range(1, steps + 1), min(depth - 1, steps))
        # step number -> the priority the lane running then drops to
        self._change_points = {step: rank for rank, step in enumerate(sorted(points), 1)}
        self._priorities: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._strong_priorities: dict = {}

    def __repr__(self) -> str:
        return f"PCT({self.seed!r}, depth={self.depth!r}, steps={self.horizon!r})"

    def _priority(self, lane) -> float:
        try:
            priority = self._priorities.get(lane)
        except TypeError:
            entry = self._strong_priorities.get(id(lane))
            priority = entry[0] if entry is not None else None
            if priority is None:
                priority = self.depth + self.random.random()
                self._strong_priorities[id(lane)] = (priority, lane)
            return priority
        if priority is None:
            priority = self._priorities[lane] = self.depth + self.random.random()
        return priority

    def _set_priority(self, lane, priority: float) -> None:
        try:
            self._priorities[lane] = priority
        except TypeError:
            self._strong_priorities[id(lane)] = (priority, lane)

    def _choose(self, candidates: list) -> int:
        priorities = [self._priority(lane) for lane in candidates]
        return priorities.index(max(priorities))

    def _ran(self, lane) -> None:
        rank = self._change_points.get(self.steps)
        if rank is not None:
            self._set_priority(lane, float(rank))


class ReplayOrder(SchedulingPolicy):
    """Plays back recorded ``decisions`` (from any policy); FIFO once they run out.

    ``diverged`` becomes True if a recorded index does not fit the candidates, or
    the program asks for more choices than were recorded: the program did not run
    as it did when recorded (it is not deterministic, or it changed).
    """

    def __init__(self, decisions, seed: int = 0) -> None:
        super().__init__(seed)
        self._recorded = [int(d) for d in decisions]
        self._next = 0
        self.diverged = False

    def __repr__(self) -> str:
        return f"ReplayOrder(<{len(self._recorded)} decisions>)"

    def _choose(self, candidates: list) -> int:
        if self._next >= len(self._recorded):
            self.diverged = True
            return 0
        pick = self._recorded[self._next]
        self._next += 1
        if not 0 <= pick < len(candidates):
            self.diverged = True
            return 0
        return pick

"""Deterministic simulation: run a program under one seeded schedule, explore many,
replay the one that failed.

``simulate(main, seed=...)`` runs ``main()`` on a fresh coroloop loop with a
scheduling policy seeded by *seed* and a ``VirtualClock``: the schedule, and so the
run, is a function of the seed.  ``explore()`` tries seed after seed and returns the
first failing run; its message names ``COROLOOP_SEED=<seed>``.  ``replay()`` plays a
run's recorded decisions back, from the result or from the file ``save()`` wrote.

A run fails when ``main()`` raises, or when the program deadlocks: nothing is ready,
no timer is pending and no descriptor is watched (or one is, but nothing arrived in
``IO_STALL_SECONDS`` of real time) -- a lost wake-up ends as a ``SimulationDeadlock``
naming the blocked tasks, never as a hang.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import sys
import threading
import warnings
from typing import Any, cast

from ._clock import VirtualClock
from .faults import Faults
from .scheduling import PCT, RandomOrder, ReplayOrder, SchedulingPolicy, _TracedFIFO

__all__ = ["NondeterminismWarning", "SimulationDeadlock", "SimulationResult",
           "check_determinism", "explore", "load_decisions", "replay", "simulate"]

#: Real seconds a simulation waits for I/O with nothing else to do before it calls
#: the run deadlocked (loopback I/O answers in microseconds).
IO_STALL_SECONDS = 2.0
#: Items a simulation may run before it is stopped as a livelock.
MAX_STEPS = 1_000_000
_FORMAT = "coroloop-simulation/1"


class SimulationDeadlock(RuntimeError):
    """No task can ever run again: every one waits on something nobody will do."""


class SimulationStepLimit(RuntimeError):
    """The simulation ran more than ``MAX_STEPS`` items (a livelock?)."""


class NondeterminismWarning(UserWarning):
    """The simulated program did something a seed cannot replay (real time, threads)."""


@dataclasses.dataclass
class SimulationResult:
    """One simulated run.  ``failed`` when ``exception`` is set."""

    seed: int
    policy: str
    trace_hash: str
    decisions: list
    result: object = None
    exception: BaseException | None = None
    #: Items the loop ran (the schedule's length).
    steps: int = 0
    #: How many runs explore() made up to and including this one.
    runs: int = 1
    virtual_time: bool = True
    main: object = dataclasses.field(default=None, repr=False)
    #: The ``Faults`` of the run, and what was injected (a ``FaultCounts``).
    faults: object = None
    fault_counts: object = None

    @property
    def failed(self) -> bool:
        """True if main() raised (the run found a failure)."""
        return self.exception is not None

    @property
    def message(self) -> str:
        """One line saying how the run ended, with the COROLOOP_SEED=... that replays it."""
        if not self.failed:
            return (f"simulation passed: seed {self.seed} under {self.policy}, "
                    f"trace {self.trace_hash[:16]}")
        return (f"simulation failed after {self.runs} run(s): "
                f"{type(self.exception).__name__}: {self.exception}\n"
                f"  schedule: {self.policy}, COROLOOP_SEED={self.seed}, "
                f"trace {self.trace_hash[:16]}, {len(self.decisions)} decisions\n"
                f"  replay: coroloop.testing.replay(result) or result.save(path) "
                f"then coroloop.testing.replay(path)")

    def __str__(self) -> str:
        return self.message

    def save(self, path) -> None:
        """Write the schedule (seed, policy, decisions, trace hash, main's name) as JSON."""
        record = {"format": _FORMAT, "seed": self.seed, "policy": self.policy,
                  "decisions": list(self.decisions), "trace_hash": self.trace_hash,
                  "virtual_time": self.virtual_time, "main": _qualified_name(self.main),
                  "faults": (None if self.faults is None
                             else dataclasses.asdict(cast(Faults, self.faults))),
                  "exception": None if self.exception is None else repr(self.exception)}
        with open(path, "w", encoding="utf-8") as file:
            json.dump(record, file)
            file.write("\n")


def _qualified_name(main) -> str | None:
    module = getattr(main, "__module__", None)
    qualname = getattr(main, "__qualname__", None)
    if module is None or qualname is None or "<locals>" in qualname:
        return None
    return f"{module}:{qualname}"


def load_decisions(path) -> dict:
    """Read what ``SimulationResult.save()`` wrote (a dict; ``replay()`` takes it)."""
    with open(path, encoding="utf-8") as file:
        record = json.load(file)
    if not isinstance(record, dict) or record.get("format") != _FORMAT:
        raise ValueError(f"{os.fspath(path)!r} is not a saved coroloop simulation "
                         f"(expected format {_FORMAT!r})")
    return record


def _make_policy(policy, seed, depth, steps) -> SchedulingPolicy:
    if isinstance(policy, SchedulingPolicy):
        return policy
    if policy == "random":
        return RandomOrder(seed)
    if policy == "pct":
        return PCT(seed, depth, steps=steps or 100)
    if policy == "fifo":
        return _TracedFIFO()
    raise ValueError(f"unknown policy {policy!r}: use 'random', 'pct', 'fifo' or a "
                     "SchedulingPolicy instance such as coroloop.testing.PCT(seed)")


class _Guard:
    """The policy's ``stalled`` and step-limit hooks during one simulation."""

    def __init__(self, policy) -> None:
        self.policy = policy
        self.threads = threading.active_count()
        self.steps_at_stall = -1

    def stalled(self, loop, watching_io):
        if threading.active_count() > self.threads:
            return IO_STALL_SECONDS  # a thread may still call back (see check_determinism)
        if watching_io and self.policy.steps != self.steps_at_stall:
            self.steps_at_stall = self.policy.steps
            return IO_STALL_SECONDS
        raise SimulationDeadlock(_describe_blocked(loop))


def _describe_blocked(loop) -> str:
    from .. import all_tasks
    tasks = [t for t in all_tasks(loop) if not t.done()]
    lines = [f"deadlock: {len(tasks)} task(s) wait and nothing can wake them "
             "(no callback ready, no timer pending, no I/O arriving)"]
    for task in tasks:
        waiting = task.waiting_on() if hasattr(task, "waiting_on") else None
        lines.append(f"  {task.get_name()} at {_where(task)} waits on {waiting!r}")
    return "\n".join(lines)


def _where(task) -> str:
    """The innermost frame of the program's own code the task is suspended in."""
    coro, frame = task.get_coro(), None
    while coro is not None:
        inner = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if inner is not None and not inner.f_code.co_filename.startswith(_PACKAGE_DIR):
            frame = inner
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    if frame is None:
        return "?"
    return f"{frame.f_code.co_qualname if hasattr(frame.f_code, 'co_qualname') else frame.f_code.co_name} " \
           f"({os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno})"


def simulate(main, *, seed: int, policy="random", virtual_time: bool = True,
             depth: int = 3, steps: int | None = None, faults=None) -> SimulationResult:
    """Run ``main()`` (an async function of no arguments) under one seeded schedule.

    *policy*: ``"random"`` (``RandomOrder(seed)``), ``"pct"`` (``PCT(seed, depth)``,
    *steps* the expected run length), ``"fifo"``, or a policy instance.  With
    *virtual_time* the loop runs on a fresh ``VirtualClock``.  Never raises what
    ``main`` raises: it is in ``result.exception``.  *faults* (a ``Faults``) makes
    the loop's TCP and Unix streams hostile, drawn from *seed* (``faults.py``);
    ``result.fault_counts`` says what was injected.
    """
    from .. import new_event_loop

    if not callable(main):
        raise TypeError(f"simulate() needs an async function to call, got {main!r}")
    if faults is not None and not isinstance(faults, Faults):
        raise TypeError(f"simulate(faults=...) expects a coroloop.testing.Faults, got {faults!r}")
    scheduler: Any = _make_policy(policy, seed, depth, steps)  # given simulate()'s attributes
    guard = _Guard(scheduler)
    scheduler.stalled = guard.stalled
    scheduler.max_steps = MAX_STEPS
    scheduler.step_limit_error = SimulationStepLimit
    loop = new_event_loop(clock=VirtualClock() if virtual_time else None,
                          scheduler=scheduler)
    plan = None
    if faults is not None:
        plan = faults.plan(seed)
        plan.install(loop)
    value = error = None
    try:
        try:
            value = loop.run_until_complete(_root(main))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            error = exc
        finally:
            try:
                scheduler.stalled = None  # cleanup may wait on what deadlocked
                _cancel_remaining(loop)
                loop.run_until_complete(loop.shutdown_asyncgens())
            except Exception:
                pass  # tearing down a failed run: its own failure is the report
    finally:
        loop.close()
        del scheduler.stalled, scheduler.max_steps, scheduler.step_limit_error
    return SimulationResult(seed=seed, policy=repr(scheduler),
                            trace_hash=scheduler.trace_hash(),
                            decisions=list(scheduler.decisions), result=value,
                            exception=error, steps=scheduler.steps,
                            virtual_time=virtual_time, main=main, faults=faults,
                            fault_counts=plan.counts if plan is not None else None)


def _cancel_remaining(loop) -> None:
    """Cancel the tasks the run left and let them finish (as asyncio.run does)."""
    from .. import all_tasks, gather

    tasks = [task for task in all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(gather(*tasks, return_exceptions=True))


async def _root(main):
    awaitable = main()
    if not hasattr(awaitable, "__await__"):
        raise TypeError(f"simulate(main): main() must return an awaitable (is "
                        f"{main!r} an async def?), it returned {awaitable!r}")
    return await awaitable


def explore(main, *, runs: int = 1000, policy="pct", depth: int = 3, seed: int = 0,
            virtual_time: bool = True, faults=None):
    """Run ``main`` under *runs* schedules (seeds ``seed``, ``seed+1``, ...) and return
    the first failing ``SimulationResult``, or None when all pass.

    For PCT the expected run length is measured first, by one run in asyncio's order.
    """
    steps = None
    if policy == "pct":
        steps = max(1, simulate(main, seed=seed, policy="fifo",
                                virtual_time=virtual_time).steps)
    for index in range(runs):
        result = simulate(main, seed=seed + index, policy=policy, depth=depth,
                          steps=steps, virtual_time=virtual_time, faults=faults)
        if result.failed:
            result.runs = index + 1
            return result
    return None


def replay(result_or_decisions, main=None) -> SimulationResult:
    """Run the schedule of a ``SimulationResult``, of a saved file (a path or what
    ``load_decisions`` returned), or of a plain list of decisions (then pass *main*),
    again.  The result's ``trace_hash`` equals the recorded one when the program is
    deterministic; a warning says so when it is not."""
    source = result_or_decisions
    if isinstance(source, (str, os.PathLike)):
        source = load_decisions(source)
    if isinstance(source, SimulationResult):
        decisions, seed, expected = source.decisions, source.seed, source.trace_hash
        virtual_time, main, faults = source.virtual_time, main or source.main, source.faults
    elif isinstance(source, dict):
        decisions, seed, expected = source["decisions"], source["seed"], source["trace_hash"]
        virtual_time = source.get("virtual_time", True)
        faults = Faults(**source["faults"]) if source.get("faults") else None
        if main is None:
            main = _import_main(source.get("main"))
    else:
        decisions, seed, expected, virtual_time, faults = list(source), 0, None, True, None
        if main is None:
            raise TypeError("replay(decisions) of a plain list needs main=")
    policy = ReplayOrder(decisions, seed)
    result = simulate(main, seed=seed, policy=policy, virtual_time=virtual_time, faults=faults)
    if policy.diverged or (expected is not None and result.trace_hash != expected):
        warnings.warn(NondeterminismWarning(
            f"replay of seed {seed} did not follow the recorded schedule (trace "
            f"{result.trace_hash[:16]}, recorded {str(expected)[:16]}): the program is not "
            "deterministic under a seed, or it changed; check_determinism() tells why"),
            stacklevel=2)
    return result


def _import_main(name):
    if not name:
        raise ValueError("this saved simulation does not name its main function "
                         "(a local function cannot be found again): pass main=")
    module, _, qualname = name.partition(":")
    target = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


# -- determinism check ------------------------------------------------------------------
_TIME_FUNCTIONS = {"time", "time_ns", "monotonic", "monotonic_ns", "perf_counter",
                   "perf_counter_ns", "process_time", "process_time_ns"}
_THREAD_FUNCTIONS = {"start_new_thread", "start_joinable_thread", "start_new"}
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _Watcher:
    """A profile function noting real-time reads and thread starts outside coroloop."""

    def __init__(self) -> None:
        self.time_reads: dict = {}
        self.thread_starts: dict = {}

    def __call__(self, frame, event, arg):
        if event != "c_call":
            return
        name = getattr(arg, "__name__", None)
        module = getattr(arg, "__module__", None)
        if name in _TIME_FUNCTIONS and module == "time":
            table = self.time_reads
        elif name in _THREAD_FUNCTIONS and module in ("_thread", "thread"):
            table = self.thread_starts
        else:
            return
        filename = frame.f_code.co_filename
        if filename.startswith(_PACKAGE_DIR) or "threading" in os.path.basename(filename) \
                and table is self.time_reads:
            return
        where = f"{filename}:{frame.f_lineno}"
        table.setdefault(f"{module}.{name}", where)


def check_determinism(main, seed: int, runs: int = 2, *, policy="random",
                      virtual_time: bool = True) -> SimulationResult:
    """Simulate ``main`` *runs* times under one seed and compare the trace hashes.

    Raises ``AssertionError`` when they differ; warns (``NondeterminismWarning``) when
    the program read real time (``time.time``, ``time.monotonic``, ...: use
    ``loop.time()``) or started threads during the simulation.  Returns the first run.
    """
    if runs < 2:
        raise ValueError(f"check_determinism() needs runs >= 2 to compare, got {runs!r}")
    watcher = _Watcher()
    previous = sys.getprofile()
    sys.setprofile(watcher)
    try:
        results = [simulate(main, seed=seed, policy=policy, virtual_time=virtual_time)
                   for _ in range(runs)]
    finally:
        sys.setprofile(previous)
    for what, table in (("read real time", watcher.time_reads),
                        ("started a thread", watcher.thread_starts)):
        if table:
            calls = ", ".join(f"{fn} at {where}" for fn, where in table.items())
            warnings.warn(NondeterminismWarning(
                f"the simulated program {what} ({calls}); a seed cannot replay that: "
                "use loop.time() and the loop's virtual clock, no threads"), stacklevel=2)
    hashes = [r.trace_hash for r in results]
    if len(set(hashes)) != 1:
        raise AssertionError(
            f"seed {seed} gave {len(set(hashes))} different schedules in {runs} runs "
            f"(trace hashes {', '.join(h[:16] for h in hashes)}): the program depends on "
            "something besides the seed (real time, threads, I/O timing, hash order)")
    return results[0]

"""simulate / check_determinism / explore / replay (coroloop.testing), on the race
examples of examples/races.py."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time

import pytest

from coroloop.testing import (NondeterminismWarning, SimulationDeadlock, check_determinism,
                              explore, load_decisions, replay, simulate)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
import races  # noqa: E402
from simulation_determinism import busy  # noqa: E402


chatty = busy  # producers, consumers, a lock, timers: a schedule with many decisions


def test_same_seed_same_trace():
    first = simulate(chatty, seed=42)
    assert first.exception is None and len(first.result) == 24
    assert first.decisions and first.steps > 24
    for _ in range(50):  # 1000 of 1000: examples/simulation_determinism.py
        again = simulate(chatty, seed=42)
        assert (again.trace_hash, again.result, again.decisions) == \
            (first.trace_hash, first.result, first.decisions)
    assert len({simulate(chatty, seed=s).trace_hash for s in range(10)}) > 5


def test_policies_and_virtual_time():
    pct = simulate(chatty, seed=1, policy="pct", depth=2)
    assert pct.policy.startswith("PCT(1, depth=2")
    fifo = simulate(chatty, seed=1, policy="fifo")
    assert set(fifo.decisions) <= {0} and fifo.policy == "FIFO()"

    async def sleepy():
        loop = asyncio.get_running_loop()
        await asyncio.sleep(3600)
        return loop.time()

    started = time.monotonic()
    assert simulate(sleepy, seed=0).result == 3600
    assert time.monotonic() - started < 5
    with pytest.raises(ValueError, match="unknown policy"):
        simulate(chatty, seed=0, policy="lifo")
    with pytest.raises(TypeError, match="async function"):
        simulate(42, seed=0)


def test_exception_is_the_result_not_raised():
    async def boom():
        await asyncio.sleep(0)
        raise KeyError("x")

    result = simulate(boom, seed=3)
    assert result.failed and isinstance(result.exception, KeyError)
    assert "COROLOOP_SEED=3" in result.message


def test_deadlock_is_reported_not_hung():
    async def stuck():
        await asyncio.get_running_loop().create_future()

    result = simulate(stuck, seed=0)
    assert isinstance(result.exception, SimulationDeadlock)
    assert "stuck" in str(result.exception)


def test_check_determinism_passes_and_warns_about_real_time_and_threads():
    assert check_determinism(chatty, seed=5).exception is None

    async def reads_clock():
        await asyncio.sleep(0)
        return time.monotonic()

    with pytest.warns(NondeterminismWarning, match="read real time.*time.monotonic"):
        check_determinism(reads_clock, seed=0)

    async def starts_thread():
        thread = threading.Thread(target=lambda: None)
        thread.start()
        thread.join()

    with pytest.warns(NondeterminismWarning, match="started a thread"):
        check_determinism(starts_thread, seed=0)


def test_check_determinism_catches_a_nondeterministic_program():
    state = {"n": 0}

    async def differs():
        state["n"] += 1
        for _ in range(state["n"]):
            await asyncio.sleep(0)

    with pytest.raises(AssertionError, match="different schedules"):
        check_determinism(differs, seed=0)


@pytest.mark.parametrize("program", [races.bank_race, races.lost_wakeup])
def test_races_pass_in_asyncio_order(program):
    assert simulate(program, seed=0, policy="fifo").exception is None


@pytest.mark.parametrize("program", [races.bank_race, races.lost_wakeup])
def test_explore_finds_each_race_and_replay_reproduces_it(program, tmp_path):
    found = explore(program, runs=1000, policy="pct", seed=0)
    assert found is not None and found.runs <= 1000
    assert isinstance(found.exception, AssertionError)
    assert f"COROLOOP_SEED={found.seed}" in found.message
    for _ in range(20):
        again = replay(found)
        assert type(again.exception) is AssertionError
        assert again.trace_hash == found.trace_hash
    path = tmp_path / "schedule.json"
    found.save(path)
    assert load_decisions(path)["decisions"] == found.decisions
    from_file = replay(path)  # main found again by its module and name
    assert from_file.trace_hash == found.trace_hash and from_file.failed
    from_list = replay(list(found.decisions), main=program)
    assert from_list.failed


def test_explore_returns_none_when_nothing_fails():
    assert explore(chatty, runs=20, policy="random") is None


def test_pct_finds_the_lost_wakeup_in_fewer_runs_than_random():
    """The measured claim of docs/guide/testing.md, on 5 starting seeds."""
    def mean_runs(policy):
        return sum(explore(races.lost_wakeup, runs=1000, policy=policy, seed=1000 * i).runs
                   for i in range(5)) / 5

    assert mean_runs("pct") < mean_runs("random")


def test_replay_warns_when_the_program_changed(tmp_path):
    found = explore(races.bank_race, runs=100, policy="random")

    async def other():
        await asyncio.gather(*(asyncio.sleep(0) for _ in range(3)))

    with pytest.warns(NondeterminismWarning, match="did not follow the recorded schedule"):
        replay(found, main=other)
    local = found
    local.main = other
    local.save(tmp_path / "x.json")
    with pytest.raises(ValueError, match="does not name its main"):
        replay(tmp_path / "x.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a saved coroloop simulation"):
        load_decisions(tmp_path / "bad.json")

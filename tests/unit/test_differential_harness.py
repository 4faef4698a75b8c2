"""The differential harness itself (tests/differential): its comparison, its
virtual-time stdlib loop, and that it reports a difference when there is one."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.join(os.path.dirname(HERE), "differential")
sys.path.insert(0, HARNESS)

import accepted  # noqa: E402
import generator  # noqa: E402
import traces  # noqa: E402
import vloop  # noqa: E402
import worker  # noqa: E402


def test_messages_may_carry_detail_after_asyncios_text():
    asyncio_line = "0.0 t1 f1.1 ! RuntimeError('cannot notify on un-acquired lock')"
    detailed = ("0.0 t1 f1.1 ! RuntimeError(\"cannot notify on un-acquired lock: acquire "
                "<Condition 'x'> before notify()\")")
    assert traces.same_line(asyncio_line, detailed)
    assert not traces.same_line(asyncio_line, detailed.replace("t1", "t2"))
    assert not traces.same_line("0.0 t1 x CancelledError('')", "0.0 t1 x CancelledError('msg')")
    assert not traces.same_line("0.0 t1 x E('a')", "0.0 t1 x E('ab')")   # no separator


def test_task_numbers_are_relative_to_main():
    loop = vloop.new_loop("asyncio")
    try:
        import asyncio
        tracer = traces.Tracer(asyncio, loop)

        async def main():
            tracer.log("step", asyncio.current_task(), "Task-99")

        task = loop.create_task(main())
        number = int(task.get_name().removeprefix("Task-"))
        tracer.set_main(task)
        loop.run_until_complete(task)
    finally:
        loop.close()
    assert tracer.lines == [f"0.0 Task-0 step <Task-0 pending> 'Task-{99 - number}'"]


def test_stdlib_virtual_loop_sleeps_no_real_time_and_keeps_timer_order():
    import asyncio
    loop = vloop.new_loop("asyncio")
    order = []

    async def sleeper(i):
        await asyncio.sleep(3600)
        order.append(i)

    async def main():
        await asyncio.gather(*(sleeper(i) for i in range(20)))
        return loop.time()

    started = time.monotonic()
    try:
        assert loop.run_until_complete(main()) == 3600.0
    finally:
        loop.close()
    assert time.monotonic() - started < 5
    assert order == list(range(20))   # equal deadlines: scheduling order


@pytest.mark.parametrize("impl", ["asyncio", "coroloop"])
def test_a_program_that_would_wait_for_ever_is_reported_as_stalled(impl):
    source = "async def main():\n    await asyncio.Event().wait()\n"
    trace = worker.run_program(impl, source, io=False)
    assert trace[0].startswith("STALLED")


def test_generated_programs_are_the_same_for_the_same_seed():
    first = generator.generate(7, (3, 12))
    assert first.source == generator.generate(7, (3, 12)).source
    assert first.source != generator.generate(8, (3, 12)).source
    assert generator.Program.from_text(first.text()) == first.__class__(
        first.seed, first.version, first.family, first.source, first.io)


def test_accepted_rule_is_narrow():
    program = generator.Program(1, (3, 12), "core",
                                "T.log('f1.2', 'wait_for', await asyncio.wait_for(tk['t3'], None))")
    a = ["0.0 t1 f1.1 x", "0.0 t1 f1.2 'wait_for' 'f3'"]
    assert accepted.accepted_by(program, a, ["0.0 t1 f1.1 x", "0.0 t1 f1.2 ! CancelledError()"], 1)
    assert accepted.accepted_by(program, a, ["0.0 t1 f1.1 x", "0.0 t2 other"], 1)  # unguarded
    assert not accepted.accepted_by(program, a, ["0.0 t1 f1.1 x", "0.0 t1 f1.2 'wait_for' 1"], 1)
    assert not accepted.accepted_by(
        program, a, ["0.0 t1 f1.1 x", "0.0 t1 f1.2 ! ValueError()"], 1)
    older = generator.Program(1, (3, 11), "core", program.source)
    assert not accepted.accepted_by(older, a, ["0.0 t1 f1.1 x", "0.0 t1 f1.2 ! CancelledError()"], 1)


def _run(*args):
    return subprocess.run([sys.executable, os.path.join(HARNESS, "run.py"), *args],
                          capture_output=True, text=True, timeout=300)


def test_runner_agrees_on_generated_programs_and_reports_a_planted_difference(tmp_path):
    agreed = _run("--count", "20", "--seed", "5", "--save", "")
    assert agreed.returncode == 0, agreed.stdout + agreed.stderr
    assert "20 programs" in agreed.stdout and "0 differences" in agreed.stdout

    planted = generator.Program(1, tuple(sys.version_info[:2]), "core",
                                "async def main():\n    T.log('which', asyncio.__name__)\n")
    path = tmp_path / "planted.py"
    path.write_text(planted.text())
    replayed = _run("--replay", str(path))
    assert replayed.returncode == 1
    assert "asyncio| 0.0 Task-0 which 'asyncio'" in replayed.stdout
    assert "coroloop| 0.0 Task-0 which 'coroloop'" in replayed.stdout

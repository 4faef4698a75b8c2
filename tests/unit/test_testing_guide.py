"""docs/guide/testing.md says what really happens: its samples run, and the output it
shows is what pytest prints.

Each ``python`` block names its file on its first line.  A ``text`` block that starts
``$ pytest FILE`` is that file's output: its lines after ``...`` must be in the real
output (task numbers and the wording of waits aside).  The loop-scope error is shown for test_server.py with a
loop per test (``pytestmark = pytest.mark.coroloop``), as the guide says.
"""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

GUIDE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "guide" / "testing.md"


def _blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), re.S)


def _samples() -> dict[str, str]:
    samples = {}
    for code in _blocks("python"):
        first = code.splitlines()[0]
        assert first.startswith("# "), f"a python block in {GUIDE.name} names no file: {first!r}"
        samples[first[2:].split()[0]] = code
    return samples


def _shown_outputs() -> list[tuple[list[str], list[str]]]:
    """``(pytest's arguments, the lines shown after "...")`` per output block."""
    outputs = []
    for text in _blocks("text"):
        lines = text.splitlines()
        if lines and lines[0].startswith("$ pytest "):
            outputs.append((lines[0].split()[2:], lines[lines.index("...") + 1:]))
    return outputs


def _shown_output(name: str) -> list[str]:
    return next(lines for args, lines in _shown_outputs() if args == [name])


def _pattern(line: str) -> str:
    """*line* as an fnmatch pattern: any task number, and any wording of a wait
    (``coroloop.debug`` owns it, and names some waits better as it grows; the tests
    of the plugin check the kinds)."""
    line = re.sub(r"Task-\d+", "Task-*", line.replace("[", "[[]"))
    return re.sub(r"waiting on [^;]*;", "waiting on *;", line)


def test_the_virtual_time_sample_prints_what_it_says(tmp_path):
    code = _samples()["a_week.py"]
    promised = re.search(r"at once: (\S+)", code).group(1)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == promised, done.stderr


@pytest.mark.parametrize("name, outcomes", [
    ("test_clock.py", {"passed": 1}),
    ("test_context.py", {"passed": 1}),
    ("test_server.py", {"passed": 2}),
    ("test_leak.py", {"failed": 1}),
    ("test_hang.py", {"failed": 1}),
    ("test_bank.py", {"passed": 1}),   # asyncio's order hides the race
])
def test_each_sample_runs_as_the_guide_says(pytester, run_pytest_on_coroloop, name, outcomes):
    pytester.makepyfile(**{name[:-3]: _samples()[name]})
    result = run_pytest_on_coroloop(pytester)
    result.assert_outcomes(**outcomes)
    if name in ("test_leak.py", "test_hang.py"):
        result.stdout.fnmatch_lines([_pattern(line) for line in _shown_output(name)])


def test_the_loop_scope_error_is_the_one_shown(pytester, run_pytest_on_coroloop):
    code = _samples()["test_server.py"]
    mark = 'pytestmark = pytest.mark.coroloop(loop_scope="module")'
    assert mark in code
    pytester.makepyfile(test_server=code.replace(mark, "pytestmark = pytest.mark.coroloop"))
    result = run_pytest_on_coroloop(pytester)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines([_pattern(line) for line in _shown_output("test_server.py")])


def test_exploring_the_bank_race_prints_what_the_guide_shows(pytester, run_pytest_on_coroloop):
    pytester.makepyfile(test_bank=_samples()["test_bank.py"])
    runs = [(args, lines) for args, lines in _shown_outputs()
            if any(arg.startswith("test_bank.py") for arg in args)]
    assert [args[-1].split("=")[0] for args, _ in runs] == ["--coroloop-explore",
                                                            "--coroloop-seed"]
    for args, lines in runs:
        result = run_pytest_on_coroloop(pytester, *args)
        result.stdout.fnmatch_lines([_pattern(line) for line in lines])
    # The fix the guide names makes every explored schedule pass.
    # (A lock per run: each run has a loop of its own, and a lock belongs to one.)
    sample = _samples()["test_bank.py"]
    fixed = sample.replace(
        "async def deposit(amount):\n    global balance\n",
        "async def deposit(amount):\n    async with lock:\n        await _deposit(amount)"
        "\n\n\nasync def _deposit(amount):\n    global balance\n").replace(
        "    global balance\n    balance = 0\n",
        "    global balance, lock\n    balance, lock = 0, asyncio.Lock()\n")
    assert fixed.count("lock") == 3, fixed
    pytester.makepyfile(test_bank=fixed)
    run_pytest_on_coroloop(pytester, "--coroloop-explore=100").assert_outcomes(passed=100)

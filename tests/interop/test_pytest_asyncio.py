"""An existing pytest-asyncio suite on coroloop's loop, as docs/guide/pytest_asyncio.md says.

The guide's code blocks are the test's input: its ``conftest.py`` (one factory, then
two) and its sample suite, which asserts the loop it runs on, run by pytest in a
subprocess (the main suite runs with pytest-asyncio's plugin off:
``-p no:asyncio`` in pyproject.toml).  Without the conftest the sample fails, so a
pass shows the hook took effect.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guide" / "pytest_asyncio.md"

pytestmark = pytest.mark.timeout(120)

PYTEST_INI = """\
[pytest]
asyncio_mode = strict
asyncio_default_fixture_loop_scope = function
asyncio_default_test_loop_scope = function
filterwarnings = error
"""


def _guide_blocks() -> dict[str, list[str]]:
    """The guide's python code blocks by the file named on their first line."""
    blocks: dict[str, list[str]] = {}
    for code in re.findall(r"```python\n(.*?)```", GUIDE.read_text(), re.S):
        first = code.splitlines()[0]
        assert first.startswith("# "), f"a code block in {GUIDE.name} names no file: {first!r}"
        blocks.setdefault(first[2:].split()[0], []).append(code)
    return blocks


def _run_pytest(directory: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTHONASYNCIODEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "asyncio", "-p", "no:cacheprovider",
         "-v", "--rootdir", str(directory), str(directory), *args],
        cwd=directory, env=env, capture_output=True, text=True, timeout=100)


@pytest.fixture
def sample(tmp_path):
    blocks = _guide_blocks()
    (tmp_path / "pytest.ini").write_text(PYTEST_INI)
    (tmp_path / "test_on_coroloop.py").write_text(blocks["test_on_coroloop.py"][0])
    return tmp_path, blocks["conftest.py"]


def test_guide_documents_the_three_setups():
    conftests = _guide_blocks()["conftest.py"]
    assert len(conftests) == 3
    assert "pytest_asyncio_loop_factories" in conftests[0]
    assert '"asyncio": asyncio.new_event_loop' in conftests[1]
    assert "event_loop_policy" in conftests[2]


def test_without_the_hook_the_sample_runs_on_stdlib(sample):
    directory, _ = sample
    done = _run_pytest(directory)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 2 passed" in done.stdout, done.stdout
    assert "test_runs_on_coroloop FAILED" in done.stdout


def test_one_factory_moves_the_suite_onto_coroloop(sample):
    directory, conftests = sample
    (directory / "conftest.py").write_text(conftests[0])
    done = _run_pytest(directory)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
    # Test names are unchanged with one factory.
    assert "test_on_coroloop.py::test_echo PASSED" in done.stdout


def test_two_factories_run_each_test_on_both_loops(sample):
    directory, conftests = sample
    (directory / "conftest.py").write_text(conftests[1])
    done = _run_pytest(directory)
    # On stdlib's loop the loop check fails, as it should; everything else passes.
    assert "test_runs_on_coroloop[asyncio] FAILED" in done.stdout, done.stdout
    for name in ("test_runs_on_coroloop[coroloop]", "test_echo[coroloop]",
                 "test_echo[asyncio]", "test_timeout[coroloop]", "test_timeout[asyncio]"):
        assert f"{name} PASSED" in done.stdout, done.stdout
    assert "1 failed, 5 passed" in done.stdout


def test_policy_fixture_of_older_releases(sample):
    """The pre-1.4 way still works on the installed release, which only warns that
    it is deprecated (the guide says so); the warning is let through here."""
    directory, conftests = sample
    (directory / "conftest.py").write_text(conftests[2])
    done = _run_pytest(directory, "-W", "default::pytest.PytestDeprecationWarning")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
    assert "event_loop_policy" in done.stdout  # the deprecation warning, in the summary


# -- coroloop's pytest plugin beside pytest-asyncio and anyio ---------------------------
def test_coroloop_plugin_beside_pytest_asyncio_and_anyio(pytester, run_pytest_on_coroloop):
    """Each plugin runs its own tests on its own loop, in strict mode and with
    coroloop's auto mode (which leaves the others' marked tests alone)."""
    pytester.makepyfile("""
        import asyncio, pytest, pytest_asyncio

        def on_coroloop():
            return type(asyncio.get_running_loop()).__module__.startswith("coroloop")

        @pytest_asyncio.fixture
        async def asyncio_fixture():
            return on_coroloop()

        @pytest.fixture
        async def coroloop_fixture():
            return on_coroloop()

        @pytest.mark.asyncio
        async def test_pytest_asyncio(asyncio_fixture):
            assert not on_coroloop() and asyncio_fixture is False

        @pytest.mark.anyio
        @pytest.mark.parametrize("anyio_backend", ["asyncio"])
        async def test_anyio(anyio_backend):
            assert not on_coroloop()

        @pytest.mark.coroloop
        async def test_coroloop(coroloop_fixture):
            assert on_coroloop() and coroloop_fixture is True
    """)
    for ini in ("asyncio_mode = strict\nasyncio_default_fixture_loop_scope = function",
                "asyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
                "coroloop_mode = auto"):
        result = run_pytest_on_coroloop(pytester, asyncio_plugin=True, ini=ini)
        result.assert_outcomes(passed=3)


def test_pytest_asyncio_auto_mode_claiming_a_coroloop_test_is_a_clear_error(
        pytester, run_pytest_on_coroloop):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.coroloop
        async def test_mine():
            pass
    """)
    result = run_pytest_on_coroloop(pytester, asyncio_plugin=True,
                 ini="asyncio_mode = auto\nasyncio_default_fixture_loop_scope = function")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_mine is marked both coroloop and asyncio*"])

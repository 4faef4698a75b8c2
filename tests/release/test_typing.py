"""mypy passes on src/coroloop, and the public API types as asyncio's does.

* ``src/coroloop`` with pyproject's ``[tool.mypy]``, for the stubs of each supported
  version (3.11-3.13: ``--python-version``, from the venv's one mypy);
* ``tests/typing/api_usage.py`` as written (on coroloop) and with asyncio in its
  place: the same ``assert_type``s hold and the same misuses are errors on both.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
USAGE = ROOT / "tests" / "typing" / "api_usage.py"
COROLOOP_IMPORT = "import coroloop as aio\n"


def _mypy(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mypy", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def _check_file(path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """mypy on *path* alone, with mypy's defaults and *flags*; coroloop from src/."""
    config = path.parent / "mypy.ini"
    # follow_imports=silent: coroloop's own errors are the other test's business.
    config.write_text(f"[mypy]\nmypy_path = {ROOT / 'src'}\nfollow_imports = silent\n",
                      encoding="utf-8")
    return _mypy("--config-file", str(config), "--cache-dir", str(path.parent / "cache"),
                 *flags, str(path), cwd=path.parent)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("version", ["3.11", "3.12", "3.13"])
def test_mypy_passes_on_the_package(version, tmp_path):
    result = _mypy("--python-version", version, "--cache-dir", str(tmp_path / "cache"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.timeout(600)
@pytest.mark.parametrize("implementation", ["coroloop", "asyncio"])
def test_public_api_types_as_asyncio_does(implementation, tmp_path):
    source = USAGE.read_text(encoding="utf-8")
    assert source.count(COROLOOP_IMPORT) == 1
    if implementation == "asyncio":
        source = source.replace(COROLOOP_IMPORT, "import asyncio as aio\n")
    usage = tmp_path / "api_usage.py"
    usage.write_text(source, encoding="utf-8")
    result = _check_file(usage, "--warn-unused-ignores", "--strict-equality")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_wrong_type_fails_the_usage_check(tmp_path):
    # The check itself: an assert_type that does not hold is reported.
    usage = tmp_path / "wrong.py"
    usage.write_text("from typing import assert_type\nimport coroloop\n"
                     "async def f() -> int:\n    return 1\n"
                     "assert_type(coroloop.run(f()), str)\n", encoding="utf-8")
    result = _check_file(usage)
    assert result.returncode == 1 and "assert-type" in result.stdout, result.stdout

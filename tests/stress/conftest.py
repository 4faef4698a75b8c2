"""The stress and fault suite: sizes, figures, and the shared fixtures.

Every scenario runs at two sizes: *small* in ``make test`` (the whole suite in a
minute or two) and *full* in ``make stress`` (``COROLOOP_STRESS=full``).  Each
records its figure (MB/s, connections, calls/s, RSS growth, bytes lost) with the
``figure`` fixture; they are printed together at the end of the run, and written to
``$COROLOOP_STRESS_FIGURES`` (one JSON object a line) when that is set.

The machine is shared and may be loaded: no assertion here depends on speed.  Time
limits exist only so that a hang ends; they are generous.
"""

from __future__ import annotations

import json
import os

import pytest

import stress_helpers

_FIGURES: list[tuple[str, str]] = []


@pytest.fixture
def figure(request):
    """figure(text, **numbers): this scenario's result, printed at the end of the run."""
    def record(text: str, **numbers) -> None:
        name = request.node.name
        _FIGURES.append((name, text))
        path = os.environ.get("COROLOOP_STRESS_FIGURES")
        if path:
            with open(path, "a") as out:
                out.write(json.dumps({"test": name, "size": stress_helpers.SIZE,
                                      "text": text, **numbers}) + "\n")
    return record


def pytest_terminal_summary(terminalreporter):
    if not _FIGURES:
        return
    terminalreporter.section(f"stress figures ({stress_helpers.SIZE} size)")
    for name, text in _FIGURES:
        terminalreporter.write_line(f"{name}: {text}")

"""Helpers for the command-line tests: run ``python -m coroloop`` as a user would."""

from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
import sys

from pty_session import PtySession

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROMPT = ">>> "


def coroloop_env(**extra: str) -> dict[str, str]:
    """The environment for a child ``python -m coroloop``: this checkout's coroloop
    first on the path, no asyncio debug mode or startup file inherited from the caller."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    for name in ("PYTHONASYNCIODEBUG", "PYTHONSTARTUP", "PYTHONDEVMODE"):
        env.pop(name, None)
    env.update(extra)
    return env


@contextlib.contextmanager
def repl_session(*args: str, **env: str):
    """``python -m coroloop`` on a pty, at its first prompt."""
    session = PtySession([sys.executable, "-m", "coroloop", *args],
                         coroloop_env(TERM="dumb", **env))
    try:
        session.expect("REPL")
        session.expect(PROMPT)
        yield session
    finally:
        session.close()


def run_coroloop(*args: str, cwd=None, timeout: float = 60, **env: str):
    """``python -m coroloop ARGS`` to completion (text output captured)."""
    return subprocess.run([sys.executable, "-m", "coroloop", *args], cwd=cwd,
                          env=coroloop_env(**env), capture_output=True, text=True,
                          timeout=timeout)

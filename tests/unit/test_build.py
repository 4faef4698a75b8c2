"""Which build runs: coroloop.COMPILED, COROLOOP_PURE at import time, the module list.

`make test` runs these on both builds: in the checkout's venv (pure Python) and in
.venv-compiled, where COROLOOP_EXPECT_COMPILED=1 says the compiled build must be the
one imported — so a compiled run that silently tested the .py files fails here.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import coroloop
from coroloop import _build

EXPECT_COMPILED = os.environ.get("COROLOOP_EXPECT_COMPILED") == "1"
SRC = pathlib.Path(__file__).resolve().parents[2] / "src"


def _python(code: str, **env) -> str:
    """Run *code* in a fresh interpreter importing the same coroloop as this one."""
    where = str(pathlib.Path(coroloop.__file__).parents[1])
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": where, **env})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_compiled_says_whether_compiled_modules_were_imported():
    assert coroloop.COMPILED == bool(_build.compiled_modules())
    assert coroloop.COMPILED == EXPECT_COMPILED
    if EXPECT_COMPILED:  # every module the build compiles, not just some
        assert _build.compiled_modules() == list(_build.COMPILED_MODULES)


def test_compiled_modules_exist_as_py_files():
    for name in _build.COMPILED_MODULES:
        assert (SRC / (name.replace(".", "/") + ".py")).is_file(), name


def test_coroloop_pure_at_import_time_loads_every_module_from_its_py_file():
    out = _python("import coroloop, sys; from coroloop import _build; "
                  "print(coroloop.COMPILED, all(sys.modules[m].__file__.endswith('.py') "
                  "for m in _build.COMPILED_MODULES))", COROLOOP_PURE="1")
    assert out == "False True"


def test_coroloop_pure_0_is_the_default_build():
    out = _python("import coroloop; print(coroloop.COMPILED)", COROLOOP_PURE="0")
    assert out == str(EXPECT_COMPILED)


def test_pure_requested_reads_the_environment(monkeypatch):
    for value, pure in (("1", True), ("yes", True), ("0", False), ("", False)):
        monkeypatch.setenv(_build.PURE_ENV, value)
        assert _build.pure_requested() is pure
    monkeypatch.delenv(_build.PURE_ENV)
    assert _build.pure_requested() is False


def test_no_extension_module_outside_the_list():
    # A stale extension (an earlier build's, of a module since left out) would be
    # imported instead of its .py file.
    import importlib.machinery
    package = pathlib.Path(coroloop.__file__).parent
    suffixes = sorted(importlib.machinery.EXTENSION_SUFFIXES, key=len, reverse=True)
    found = set()
    for path in package.rglob("*"):
        suffix = next((s for s in suffixes if path.name.endswith(s)), None)
        if suffix is not None:
            found.add(".".join(path.relative_to(package.parent).parts)[:-len(suffix)])
    assert found <= set(_build.COMPILED_MODULES)
    assert found == (set(_build.COMPILED_MODULES) if EXPECT_COMPILED else set())


def test_pxd_files_declare_only_modules_the_build_compiles():
    # A .pxd beside a module that is not compiled would be dead text that looks
    # like it speeds something up.
    for pxd in (SRC / "coroloop").rglob("*.pxd"):
        module = ".".join(pxd.relative_to(SRC).with_suffix("").parts)
        assert module in _build.COMPILED_MODULES, pxd
        assert pxd.with_suffix(".py").is_file(), pxd


def test_the_timer_store_is_typed_in_the_compiled_build():
    # timers.pxd makes TimerQueue an extension type whose fields the scheduler
    # (loop.pxd) reads as C fields; both builds expose the same fields to Python.
    from coroloop._core.timers import TimerQueue
    store = TimerQueue()
    store.count += 2
    store.cancelled += 1
    assert (store.heap, store.buckets, store.count, store.cancelled, len(store)) == ([], {}, 2, 1, 1)
    assert not hasattr(store, "__dict__")  # __slots__ in the .py, C fields compiled
    assert (type(TimerQueue).__name__, TimerQueue.__module__) == ("type", "coroloop._core.timers")
    compiled = "coroloop._core.timers" in _build.compiled_modules()
    assert compiled == EXPECT_COMPILED
    # Only an extension type refuses a new class attribute.
    try:
        TimerQueue._probe = 1
    except TypeError:
        refused = True
    else:
        del TimerQueue._probe
        refused = False
    assert refused == compiled

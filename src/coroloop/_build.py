"""Which build of coroloop is running: pure Python, or some modules compiled.

The compiled build is made from the same ``.py`` files: ``setup.py`` hands the
modules named in ``COMPILED_MODULES`` to Cython (pure-Python mode: the source is
ordinary Python, no ``.pyx``), and an installed package then holds, for each of
them, both the ``.py`` file and the extension module beside it.  Python's import
system prefers the extension module, so the compiled code runs unless
``COROLOOP_PURE=1`` is set: then ``force_pure()`` puts a finder in front of the
import system that loads those modules from their ``.py`` files.  Which build
runs is ``coroloop.COMPILED`` (and ``python -m coroloop info``).

Some of them have a ``.pxd`` file beside the ``.py``: C declarations (extension
types, typed locals) that Cython applies when it compiles that module and pure
Python never reads; only modules named here may have one.

``setup.py`` reads this file with ``runpy`` before coroloop is importable, so
it imports nothing but the standard library.  Why Cython and why these modules:
docs/architecture.md, "The compiled build".
"""

from __future__ import annotations

import importlib.machinery
import os
import sys

__all__ = ["COMPILED_MODULES", "PURE_ENV", "pure_requested", "force_pure", "compiled_modules"]

#: The environment variable that forces pure Python, at build time and at import time.
PURE_ENV = "COROLOOP_PURE"

#: The modules the compiled build compiles (dotted names; each is ``src/<name>.py``),
#: chosen by measurement (docs/architecture.md, "The compiled build"): modules whose
#: hot code is ``async def`` or a generator (sleep, futures, streams) are left out, as
#: Cython's coroutine and generator objects are not CPython's and measured slower;
#: so are tasks.py, whose attribute-heavy step ran slower compiled than under 3.11's
#: specialising interpreter, and the socket transports and buffers (_net), which
#: were no faster compiled.
COMPILED_MODULES = (
    "coroloop._core.loop",
    "coroloop._core.timers",      # (split out of loop.py, which was measured whole)
    "coroloop._core.readiness",
    "coroloop._core.handles",
    "coroloop._core.poller",
    "coroloop._core.clock",
    "coroloop._core.instrument",
)


def pure_requested() -> bool:
    """True if ``COROLOOP_PURE`` is set to anything but ``""`` or ``"0"``."""
    return os.environ.get(PURE_ENV, "") not in ("", "0")


class _SourceOnlyFinder:
    """Finds the compiled modules' ``.py`` files, never their extension modules."""

    _loaders = [(importlib.machinery.SourceFileLoader, importlib.machinery.SOURCE_SUFFIXES)]

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name not in COMPILED_MODULES or not path:
            return None
        for entry in path:
            spec = importlib.machinery.FileFinder(entry, *cls._loaders).find_spec(name)
            if spec is not None:
                return spec
        return None


def force_pure() -> None:
    """Load every module of ``COMPILED_MODULES`` from its ``.py`` file from now on.

    Must run before any of them is imported (``coroloop/__init__.py`` calls it
    first thing when ``COROLOOP_PURE`` is set).
    """
    if _SourceOnlyFinder not in sys.meta_path:
        sys.meta_path.insert(0, _SourceOnlyFinder)


def compiled_modules() -> list[str]:
    """The modules of ``COMPILED_MODULES`` imported from an extension module."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    found = []
    for name in COMPILED_MODULES:
        module = sys.modules.get(name)
        origin = getattr(getattr(module, "__spec__", None), "origin", None) or ""
        if origin.endswith(suffixes):
            found.append(name)
    return found

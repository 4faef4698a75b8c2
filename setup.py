"""coroloop's build: the pure-Python package, plus its hot modules compiled when possible.

The compiled modules come from the same ``.py`` files, through Cython in
pure-Python mode; ``src/coroloop/_build.py`` names them.  They are built only
when it can work, and the package installs as pure Python otherwise:

* ``COROLOOP_PURE=1`` in the environment: never compiled;
* no C compiler, or no Python headers (``Python.h``), or Cython not importable:
  pure Python, with a note saying why;
* a module that fails to compile is left out, with a note; the rest are kept.

Everything else (metadata, package data) is in ``pyproject.toml``.
"""

from __future__ import annotations

import importlib.machinery
import os
import runpy
import shlex
import shutil
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = runpy.run_path(os.path.join(HERE, "src", "coroloop", "_build.py"))

# Cython directives: the compiled modules must behave as the .py files do.
# annotation_typing=False: annotations stay documentation (Cython would otherwise
# turn ``x: float`` into a C double that rejects other objects); binding=True:
# functions keep __defaults__, __code__ and introspection like Python functions.
DIRECTIVES = {"language_level": 3, "annotation_typing": False, "binding": True,
              "always_allow_keywords": True, "emit_code_comments": False}


def note(message: str) -> None:
    print(f"coroloop build: {message}", file=sys.stderr)


def missing_toolchain() -> str | None:
    """Why the modules cannot be compiled here, or None if they can."""
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    if not cc or shutil.which(cc[0]) is None:
        return f"no C compiler ({' '.join(cc) or 'CC is empty'} not found)"
    include = sysconfig.get_paths().get("include") or ""
    if not os.path.isfile(os.path.join(include, "Python.h")):
        return f"no Python headers (Python.h not in {include or 'the include path'})"
    try:
        import Cython  # noqa: F401
    except ImportError:
        return "Cython is not installed"
    return None


def compiled_extensions() -> list[Extension]:
    if BUILD["pure_requested"]():
        note(f"{BUILD['PURE_ENV']}=1: pure Python")
        return []
    why = missing_toolchain()
    if why:
        note(f"{why}: pure Python")
        return []
    from Cython.Build import cythonize

    extensions = [Extension(name, [os.path.join("src", *name.split(".")) + ".py"])
                  for name in BUILD["COMPILED_MODULES"]]
    # include_path: the .pxd files beside the .py files cimport each other by their
    # package names (loop.pxd: ``from coroloop._core.timers cimport TimerQueue``).
    return cythonize(extensions, compiler_directives=DIRECTIVES, quiet=True,
                     include_path=[os.path.join(HERE, "src")],
                     build_dir=os.path.join("build", "cython"))


class OptionalBuildExt(build_ext):
    """build_ext that leaves out, with a note, a module that does not compile."""

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # a compiler error is reported and the .py stays
            note(f"{ext.name} not compiled ({type(exc).__name__}: {exc}); its .py is used")


class BuildPyWithoutStaleExtensions(build_py):
    """build_py that removes extension modules this build does not make.

    The build directory outlives a build (pip builds a checkout in place): an
    extension module compiled by an earlier build -- of a module since left out, or
    by a build that was not pure -- would otherwise go into the wheel beside the
    .py file, and win over it at import time.
    """

    def run(self):
        super().run()
        suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
        wanted = {ext.name for ext in self.distribution.ext_modules or ()}
        package = os.path.join(self.build_lib, "coroloop")
        for folder, _, files in os.walk(package):
            for name in files:
                suffix = next((s for s in suffixes if name.endswith(s)), None)
                if suffix is None:
                    continue
                path = os.path.join(folder, name)
                module = os.path.relpath(path[:-len(suffix)], self.build_lib)
                if module.replace(os.sep, ".") not in wanted:
                    os.remove(path)


setup(ext_modules=compiled_extensions(),
      cmdclass={"build_ext": OptionalBuildExt, "build_py": BuildPyWithoutStaleExtensions})

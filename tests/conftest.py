"""Plugins for every test directory: coroloop's own, and pytester (its tests run
pytest on sample suites).

Where coroloop is installed (the Makefile's venv) pytest loads the plugin through its
``pytest11`` entry point ``coroloop``.  From a source tree on PYTHONPATH (tests/unit on
3.12/3.13, the 3.14/3.15 chroot) there is no entry point: load it here.  Loading it
both ways would register one module twice, which pytest refuses.
"""

import importlib.metadata
import os

import pytest


def _entry_point_loads_plugin() -> bool:
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    return any(ep.name == "coroloop"
               for ep in importlib.metadata.entry_points(group="pytest11"))


pytest_plugins = ["pytester"]
if not _entry_point_loads_plugin():
    pytest_plugins.append("coroloop.testing.pytest_plugin")


_SAMPLE_INI = """\
[pytest]
filterwarnings = error
{extra}
"""


@pytest.fixture
def run_pytest_on_coroloop():
    """``run(pytester, *args, asyncio_plugin=False, ini="")``: pytest in-process on the
    sample suite in *pytester*'s directory, with coroloop's plugin (and pytest-asyncio's
    only if asked), *ini* added to its pytest.ini."""
    def run(pytester, *args, asyncio_plugin=False, ini=""):
        pytester.makeini(_SAMPLE_INI.format(extra=ini))
        plugins = [] if _entry_point_loads_plugin() else ["-p", "coroloop.testing.pytest_plugin"]
        if not asyncio_plugin:  # (else pytest-asyncio loads through its entry point)
            plugins += ["-p", "no:asyncio"]
        return pytester.runpytest(*plugins, "-p", "no:cacheprovider", *args)
    return run

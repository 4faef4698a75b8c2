"""The release artifacts: an sdist and a wheel that install and work without the checkout.

``python -m build`` runs on a copy of the project (so the checkout is left as it was),
``twine check --strict`` judges both artifacts, and the wheel is installed — not in
editable mode, without the network — into a fresh virtual environment for each
installed Python (3.11, and 3.12/3.13 where pyenv has them), where the examples run
with no path to the source tree and must print the transcripts the example tests
expect.  The default build is compiled (setup.py): a platform wheel for this Python
with the hot modules as extension modules; ``COROLOOP_PURE=1`` and a machine without a
C compiler give the pure-Python wheel, which the other Pythons install.
"""

from __future__ import annotations

import ast
import email.parser
import glob
import os
import pathlib
import runpy
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile

import pytest

from coroloop import _build

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

pytestmark = pytest.mark.timeout(300)

PYTHONS = [sys.executable] + sorted(
    glob.glob(os.path.expanduser("~/.pyenv/versions/3.12.*/bin/python3.12"))[:1]
    + glob.glob(os.path.expanduser("~/.pyenv/versions/3.13.*/bin/python3.13"))[:1])


def _source_version() -> str:
    """coroloop.__version__ as written in the source: the one place it is set."""
    tree = ast.parse((ROOT / "src" / "coroloop" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, "id", None) == "__version__" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("no __version__ in src/coroloop/__init__.py")


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONASYNCIODEBUG", "PYTHONSTARTUP",
                        "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _run(argv, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("env", _clean_env())
    return subprocess.run(argv, capture_output=True, text=True, timeout=200, **kwargs)


def _project_copy(tmp_path_factory) -> pathlib.Path:
    project = tmp_path_factory.mktemp("project")
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE", "CHANGELOG.md",
                 "MANIFEST.in"):
        shutil.copy(ROOT / name, project)
    for tree in ("src", "docs", "examples"):
        shutil.copytree(ROOT / tree, project / tree,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.so"))
    return project


def _python_build(source, out, *args, **env) -> subprocess.CompletedProcess:
    done = _run([sys.executable, "-m", "build", "--outdir", str(out), *args, str(source)],
                env={**_clean_env(), "PIP_DISABLE_PIP_VERSION_CHECK": "1", **env})
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    """sdist and (compiled) wheel built by ``python -m build`` from a copy of the project."""
    out = tmp_path_factory.mktemp("dist")
    _python_build(_project_copy(tmp_path_factory), out)
    wheels, sdists = list(out.glob("*.whl")), list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(out.iterdir())
    return wheels[0], sdists[0]


@pytest.fixture(scope="module")
def pure_wheel(tmp_path_factory):
    """The wheel ``COROLOOP_PURE=1 python -m build --wheel`` makes: pure Python."""
    out = tmp_path_factory.mktemp("pure")
    done = _python_build(_project_copy(tmp_path_factory), out, "--wheel", COROLOOP_PURE="1")
    assert "COROLOOP_PURE=1: pure Python" in done.stdout + done.stderr
    [wheel] = out.glob("*.whl")
    return wheel


CP_TAG = f"cp{sys.version_info[0]}{sys.version_info[1]}"
EXTENSION_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")


def _module_path(name: str) -> str:
    return name.replace(".", "/")


def test_the_default_wheel_is_compiled_for_this_python(dist):
    wheel, _ = dist
    assert wheel.name.startswith(f"coroloop-{_source_version()}-{CP_TAG}-{CP_TAG}-"), wheel.name
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for module in _build.COMPILED_MODULES:
        # The extension module, and the .py it was compiled from (COROLOOP_PURE=1 uses it).
        assert _module_path(module) + EXTENSION_SUFFIX in names, module
        assert _module_path(module) + ".py" in names, module
    assert not [n for n in names if n.endswith((".c", ".pyx"))]


def test_pure_wheel_has_no_extension_modules(pure_wheel):
    assert pure_wheel.name == f"coroloop-{_source_version()}-py3-none-any.whl"
    with zipfile.ZipFile(pure_wheel) as zf:
        assert not [n for n in zf.namelist() if n.endswith(".so")]


def test_sdist_without_a_c_compiler_installs_pure_python(dist, tmp_path):
    _, sdist = dist
    done = _python_build(sdist, tmp_path, "--wheel", CC="/nonexistent/cc")
    assert "no C compiler (/nonexistent/cc not found): pure Python" in done.stdout + done.stderr
    [wheel] = tmp_path.glob("*.whl")
    assert wheel.name == f"coroloop-{_source_version()}-py3-none-any.whl"


def test_twine_check_passes(dist):
    done = _run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dist)])
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 2, done.stdout


def test_metadata_has_one_version_urls_and_classifiers(dist):
    wheel, sdist = dist
    version = _source_version()
    assert sdist.name == f"coroloop-{version}.tar.gz"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta = email.parser.Parser().parsestr(
            zf.read(f"coroloop-{version}.dist-info/METADATA").decode())
        entry_points = zf.read(f"coroloop-{version}.dist-info/entry_points.txt").decode()
    # pytest finds coroloop's plugin wherever the wheel is installed.
    assert "[pytest11]\ncoroloop = coroloop.testing.pytest_plugin" in entry_points
    assert meta["Version"] == version
    assert meta["Requires-Python"] == ">=3.11"
    assert meta["License-Expression"] == "MIT"
    assert not [r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r], \
        "coroloop must not depend on anything at run time"
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL"))
    assert {"Homepage", "Documentation", "Changelog", "Source", "Issues"} <= set(urls)
    classifiers = meta.get_all("Classifier")
    for wanted in ("Framework :: AsyncIO", "Typing :: Typed",
                   "Programming Language :: Python :: 3.11",
                   "Programming Language :: Python :: 3.12",
                   "Programming Language :: Python :: 3.13"):
        assert wanted in classifiers
    assert "coroloop/py.typed" in names and "coroloop/__main__.py" in names
    assert "coroloop/debug/timeline.html" in names  # the timeline page's template
    assert not [n for n in names if n.startswith(("tests/", "docs/", "examples/"))]
    with tarfile.open(sdist) as tf:
        members = {m.split("/", 1)[1] for m in tf.getnames() if "/" in m}
    for wanted in ("CHANGELOG.md", "LICENSE", "README.md", "pyproject.toml", "setup.py",
                   "src/coroloop/__init__.py", "examples/gather.py", "docs/guide/gather.md",
                   "src/coroloop/_core/loop.pxd", "src/coroloop/_core/timers.pxd"):
        assert wanted in members, wanted


def _expected_transcripts() -> dict[str, str]:
    """The transcripts the example tests check, from those tests themselves."""
    expected = dict(runpy.run_path(str(ROOT / "tests" / "unit" / "test_examples.py"))["EXPECTED"])
    expected["worker_pool"] = runpy.run_path(
        str(ROOT / "tests" / "unit" / "test_example_worker_pool.py"))["EXPECTED"]
    return expected


@pytest.mark.parametrize("python", PYTHONS, ids=lambda p: "python" + ".".join(
    subprocess.run([p, "-c", "import sys; print(*sys.version_info[:2], sep='.')"],
                   capture_output=True, text=True).stdout.strip().split(".")))
def test_wheel_installs_into_a_fresh_venv_and_runs_the_examples(dist, pure_wheel, tmp_path,
                                                                python):
    # This Python gets the compiled wheel built for it; the others the pure one.
    compiled = python == sys.executable
    wheel = dist[0] if compiled else pure_wheel
    venv = tmp_path / "venv"
    done = _run([python, "-m", "venv", "--without-pip", str(venv)])
    assert done.returncode == 0, done.stderr
    venv_python = venv / "bin" / "python"
    # Installed by this environment's pip into the new one: no network, no index.
    done = _run([sys.executable, "-m", "pip", "--python", str(venv_python), "install",
                 "--no-index", "--no-deps", "--disable-pip-version-check", "-q", str(wheel)])
    assert done.returncode == 0, done.stdout + done.stderr

    where = _run([str(venv_python), "-c",
                  "import coroloop; print(coroloop.__file__); print(coroloop.__version__)"],
                 cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    location, version = where.stdout.split()
    assert location.startswith(str(venv)) and "site-packages" in location
    assert version == _source_version()

    info = _run([str(venv_python), "-m", "coroloop", "info"], cwd=tmp_path)
    assert info.returncode == 0, info.stderr
    assert f"coroloop {version} (" in info.stdout
    build = "build: compiled (Cython; " if compiled else "build: pure Python ("
    assert build in info.stdout, info.stdout
    if compiled:  # COROLOOP_PURE=1 at import time: the .py files, beside the compiled ones
        pure = _run([str(venv_python), "-c", "import coroloop; print(coroloop.COMPILED)"],
                    cwd=tmp_path, env={**_clean_env(), "COROLOOP_PURE": "1"})
        assert pure.stdout.strip() == "False", pure.stderr
        assert "build: pure Python (COROLOOP_PURE=1)" in _run(
            [str(venv_python), "-m", "coroloop", "info"], cwd=tmp_path,
            env={**_clean_env(), "COROLOOP_PURE": "1"}).stdout
    assert "pytest: not installed (missing pytest)" in info.stdout  # the wheel's extra

    # The debugging tools' package data comes with the wheel: a trace, then its page.
    traced = _run([str(venv_python), "-m", "coroloop", "trace", "-o", "trace.json",
                   str(EXAMPLES / "timeline.py")], cwd=tmp_path)
    assert traced.returncode == 0, traced.stderr
    drawn = _run([str(venv_python), "-m", "coroloop", "timeline", "trace.json"], cwd=tmp_path)
    assert drawn.returncode == 0, drawn.stderr
    assert "worker-1" in (tmp_path / "trace.html").read_text()

    expected = _expected_transcripts()
    for example in sorted(EXAMPLES.glob("*.py")):
        done = _run([str(venv_python), str(example)], cwd=tmp_path)
        assert done.returncode == 0, f"{example.name}:\n{done.stderr}"
        assert done.stderr == "", f"{example.name}:\n{done.stderr}"
        if example.stem in expected:
            assert done.stdout == expected[example.stem], example.name
        else:
            assert done.stdout.strip(), example.name

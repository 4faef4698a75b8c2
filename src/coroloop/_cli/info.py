"""``python -m coroloop info``: what this coroloop is and what it runs with.

For bug reports: coroloop's version and location, which build runs (pure Python or
compiled, and why), Python's, the poller a new loop
uses, how child processes are watched, the optional standard-library modules it uses
when present (ssl for TLS, readline for the REPL), which of the package's optional
extras are installed, and the versions of the libraries coroloop is tested against.
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
import sys

HELP = "versions, the poller in use and the installed extras"

__all__ = ["HELP", "INTEGRATIONS", "configure", "main", "describe"]

#: Third-party libraries coroloop's interop tests run on its loop (reported if present).
INTEGRATIONS = ("aiohttp", "httpx", "uvicorn", "hypercorn", "starlette", "websockets",
                "aiofiles", "anyio", "asyncpg", "redis", "distributed", "pytest-asyncio",
                "uvloop")


def configure(parser) -> None:
    """``info`` takes no arguments."""


def main(args) -> int:
    """Print ``describe()``."""
    print(describe())
    return 0


def describe() -> str:
    """The report ``info`` prints, as text."""
    import coroloop
    from coroloop._core.poller import default_poller
    from coroloop._net.process import pidfd_supported

    poller = default_poller()
    try:
        poller_name = type(poller).__name__
    finally:
        poller.close()
    lines = [
        f"coroloop {coroloop.__version__} ({coroloop.__file__.rsplit('/', 1)[0]})",
        f"Python {platform.python_version()} ({platform.python_implementation()}, "
        f"{sys.executable}) on {sys.platform}",
        f"poller: {poller_name}",
        "child processes: " + ("pidfd" if pidfd_supported() else "a waiting thread each"),
        f"TLS (ssl): {_ssl_status()}",
        f"REPL line editing (readline): {_module_status('readline')}",
        f"build: {_build_status()}",
        "extras (pip install 'coroloop[NAME]'):",
        *(f"  {line}" for line in _extras()),
        "libraries coroloop is tested with:",
        *(f"  {name}: {_version(name) or 'not installed'}" for name in INTEGRATIONS),
    ]
    return "\n".join(lines)


def _build_status() -> str:
    """Which build runs: compiled (and which modules), or pure Python and why."""
    import coroloop
    from coroloop import _build

    if coroloop.COMPILED:
        names = [name.removeprefix("coroloop.") for name in _build.compiled_modules()]
        return f"compiled (Cython; {len(names)} modules: {', '.join(names)})"
    if _build.pure_requested():
        return f"pure Python ({_build.PURE_ENV}=1)"
    return "pure Python (this installation has no compiled modules)"


def _ssl_status() -> str:
    try:
        import ssl
    except ImportError:
        return "unavailable (Python was built without OpenSSL)"
    return ssl.OPENSSL_VERSION


def _module_status(name: str) -> str:
    try:
        importlib.import_module(name)
    except ImportError:
        return "unavailable"
    return "available"


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _extras() -> list[str]:
    """One line per extra declared in coroloop's metadata: installed or what is missing."""
    try:
        meta = importlib.metadata.metadata("coroloop")
    except importlib.metadata.PackageNotFoundError:
        return ["(no package metadata: coroloop is imported from a source tree, not installed)"]
    requires = meta.get_all("Requires-Dist") or []
    lines = []
    for extra in meta.get_all("Provides-Extra") or []:
        wanted = [_requirement_name(r) for r in requires if _is_for_extra(r, extra)]
        missing = [name for name in wanted if _version(name) is None]
        if missing:
            lines.append(f"{extra}: not installed (missing {', '.join(missing)})")
        else:
            found = ", ".join(f"{name} {_version(name)}" for name in wanted)
            lines.append(f"{extra}: installed ({found})")
    return lines or ["(none declared)"]


def _requirement_name(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9._-]+", requirement)
    return name.group(0) if name else requirement


def _is_for_extra(requirement: str, extra: str) -> bool:
    _, _, marker = requirement.partition(";")
    return re.search(r"""extra\s*==\s*["']%s["']""" % re.escape(extra), marker) is not None

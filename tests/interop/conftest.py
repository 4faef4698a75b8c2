"""Fixtures for the interop tests: unmodified third-party asyncio libraries on coroloop.

The libraries do ``import asyncio``; coroloop only supplies the loop.  Every test body
is an ``async def`` run by the ``run`` fixture on a fresh loop, in each mode:

``coroloop``         ``asyncio.Runner(loop_factory=coroloop.new_event_loop)`` — stdlib's
                     runner, coroloop's loop (the way the libraries meet coroloop)
``coroloop-runner``  ``coroloop.Runner()`` — coroloop's own runner and loop
``asyncio``          stdlib's runner and loop, for comparison: a test failing in every
                     mode is a test (or library) bug, not a coroloop bug

``run`` also fails the test if anything reached the loop's exception handler ("Task
exception was never retrieved", "Unclosed client session", errors in callbacks, ...)
or if the body left tasks pending behind it.

Servers are real, on 127.0.0.1, port 0 (the bound port is read back).

Warnings are errors (pyproject.toml).  A third-party DeprecationWarning that is not about
coroloop would be filtered here, exactly and with the reason; with the versions in
requirements.txt none is needed (the tests avoid deprecated APIs: websockets.asyncio, not
websockets.legacy; uvicorn's "websockets-sansio" protocol; aiohttp AppKey keys).
"""

from __future__ import annotations

import asyncio
import gc
import pathlib
import ssl

import pytest

import coroloop
from db_servers import postgres, private_redis_server, redis_server  # noqa: F401 (fixtures)

MODES = ["coroloop", "coroloop-runner", "asyncio"]

# Reuse the unit tests' throwaway CA and server certificate (CN/SAN localhost, 127.0.0.1).
CERTS = pathlib.Path(__file__).parent.parent / "unit" / "net" / "certs"


def pytest_collection_modifyitems(items):
    for item in items:
        # 30 s unless the test or its module says otherwise (servers in processes,
        # a dask cluster).
        if "tests/interop/" in str(item.fspath).replace("\\", "/") \
                and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(30))


# --- the runner fixture ---------------------------------------------------------------------
def _make_runner(mode: str):
    if mode == "coroloop":
        return asyncio.Runner(loop_factory=coroloop.new_event_loop)
    if mode == "coroloop-runner":
        return coroloop.Runner()
    if mode == "asyncio":
        return asyncio.Runner(loop_factory=asyncio.new_event_loop)
    raise AssertionError(mode)


async def _settle_tasks(rounds: int = 20):
    """Let callbacks that libraries schedule on close (connection_lost, ...) run."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class _Run:
    def __init__(self, mode: str):
        self.mode = mode
        self.errors: list[dict] = []
        self.loop = None

    def __call__(self, async_fn, *args, check_leftovers: bool = True):
        """Run ``async_fn(*args)`` on a fresh loop of this mode and return its result."""
        __tracebackhide__ = True
        with _make_runner(self.mode) as runner:
            loop = runner.get_loop()
            self.loop = loop
            if self.mode.startswith("coroloop"):
                assert isinstance(loop, coroloop.EventLoop), loop
            loop.set_exception_handler(lambda _loop, ctx: self.errors.append(ctx))
            result = runner.run(self._main(async_fn, args, check_leftovers))
            # Collect garbage while the loop is still open, so "Unclosed ..." and
            # "Task was destroyed but it is pending" reach the handler.
            gc.collect()
        assert loop.is_closed()
        if self.errors:
            pytest.fail("the loop's exception handler was called:\n"
                        + "\n".join(_describe(ctx) for ctx in self.errors))
        return result

    async def _main(self, async_fn, args, check_leftovers):
        me = asyncio.current_task()
        assert me is not None, "asyncio.current_task() is None inside the runner"
        result = await async_fn(*args)
        if check_leftovers:
            await _settle_tasks()
            leftover = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
            assert not leftover, f"the test body left tasks pending: {leftover!r}"
        return result


def _describe(ctx: dict) -> str:
    exc = ctx.get("exception")
    return f"  {ctx.get('message')!r} exception={exc!r} " + ", ".join(
        f"{k}={v!r}" for k, v in ctx.items() if k not in ("message", "exception"))


@pytest.fixture(params=MODES)
def run(request):
    """``run(async_fn, *args)`` runs the body on a fresh loop (see module docstring)."""
    return _Run(request.param)


@pytest.fixture
def coroloop_run():
    """Like ``run`` but only in the ``coroloop`` mode (for coroloop-specific checks)."""
    return _Run("coroloop")


# --- TLS ------------------------------------------------------------------------------------
@pytest.fixture
def server_ssl_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(CERTS / "server.pem"), str(CERTS / "server.key"))
    return ctx


@pytest.fixture
def client_ssl_context():
    return ssl.create_default_context(cafile=str(CERTS / "ca.pem"))

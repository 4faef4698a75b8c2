"""Fixtures for coroloop's unit tests.

``loop``          a fresh coroloop event loop, closed after the test
``virtual_loop``  the same on a ``coroloop.testing.VirtualClock`` (autojump): sleeps
                  and timeouts finish at once, in deadline order
``impl_loop``     a stdlib asyncio loop, then a coroloop loop (parametrized)
``errors``        records what reaches a loop's exception handler

Teardown fails a test that leaves tasks pending on its loop (they are cancelled
and awaited first, so one leaky test does not spill into the next) and checks
that the loop really closed.  No loop is left installed as the current one.
"""

from __future__ import annotations

import asyncio
import gc

import pytest

import coroloop
from coroloop.testing import VirtualClock, new_virtual_loop


def _finish_loop(loop) -> None:
    __tracebackhide__ = True
    if loop.is_running():  # only if the test crashed badly; nothing sane to do
        pytest.fail(f"{loop!r} is still running at teardown")
    leftover = []
    if not loop.is_closed():
        leftover = [t for t in asyncio.all_tasks(loop) if not t.done()]
        if leftover:
            for task in leftover:
                task.cancel()
            loop.run_until_complete(_settle(leftover))
        loop.close()
    asyncio.set_event_loop(None)
    assert loop.is_closed(), f"{loop!r} did not close"
    if leftover:
        pytest.fail(f"test left {len(leftover)} task(s) pending on its loop: {leftover!r}")


async def _settle(tasks):
    for task in tasks:
        try:
            await task
        except BaseException:
            pass


@pytest.fixture
def loop():
    """A new coroloop loop; closed (and checked for leftover tasks) afterwards."""
    the_loop = coroloop.new_event_loop()
    yield the_loop
    _finish_loop(the_loop)


# Each implementation's loop, for tests that run the same steps on both and compare.
IMPLS = {"asyncio": asyncio.new_event_loop, "coroloop": coroloop.new_event_loop}


@pytest.fixture(params=list(IMPLS))
def impl_loop(request):
    """A new loop of stdlib asyncio, then of coroloop; closed afterwards."""
    the_loop = IMPLS[request.param]()
    yield the_loop
    if not the_loop.is_closed():
        the_loop.run_until_complete(the_loop.shutdown_default_executor())
        the_loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture
def virtual_loop():
    """A new coroloop loop on an autojump VirtualClock (``virtual_loop.clock``)."""
    the_loop = new_virtual_loop()
    assert isinstance(the_loop.clock, VirtualClock)
    yield the_loop
    _finish_loop(the_loop)


class ErrorLog:
    """An exception handler that keeps every context it is given."""

    def __init__(self) -> None:
        self.contexts: list[dict] = []

    def __call__(self, loop, context) -> None:
        self.contexts.append(context)

    def install(self, loop):
        loop.set_exception_handler(self)
        return self

    @property
    def messages(self) -> list[str]:
        return [c.get("message", "") for c in self.contexts]

    @property
    def exceptions(self) -> list:
        return [c.get("exception") for c in self.contexts]


@pytest.fixture
def errors():
    """Call ``errors.install(loop)``; then ``errors.contexts`` lists what was reported."""
    log = ErrorLog()
    yield log
    # Objects that report in __del__ (futures, tasks) must do so inside the test.
    gc.collect()

"""Fixtures shared by the networking tests."""

from __future__ import annotations

import asyncio

import pytest

import coroloop


@pytest.fixture
def loop():
    """A coroloop loop, closed after the test; leftover tasks fail the test."""
    the_loop = coroloop.new_event_loop()
    yield the_loop
    pending = []
    if not the_loop.is_closed():
        pending = [t for t in asyncio.all_tasks(the_loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            the_loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        the_loop.close()
    assert not pending, f"test left tasks pending: {pending!r}"

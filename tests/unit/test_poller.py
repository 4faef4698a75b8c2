"""The poller and descriptors closed behind the loop's back (see _core/poller.py).

epoll registers open file descriptions, not numbers: a descriptor closed before
its reader was removed stays in the epoll set while a duplicate keeps it open,
and can no longer be removed.  coroloop's EpollPoller notices and rebuilds its set;
these tests make such a stale entry on purpose and check that the loop neither
spins on it nor hands its events to the next user of the number.
"""

from __future__ import annotations

import logging
import os
import socket

import pytest

import coroloop
from coroloop._core import poller as poller_module

pytestmark = pytest.mark.skipif(not hasattr(poller_module, "EpollPoller"),
                                reason="the quirk is epoll's")


class _EventCounts:
    """An instrument: how many events each poll returned."""

    def __init__(self):
        self.counts = []

    def io_wait_ended(self, n_events):
        self.counts.append(n_events)


def _iterate(loop, times):
    for _ in range(times):
        loop.run_until_complete(coroloop.sleep(0))


@pytest.fixture
def idle_reader(loop):
    # A watched descriptor that never becomes ready, so that every iteration polls.
    c, d = socket.socketpair()
    loop.add_reader(c, lambda: None)
    yield
    loop.remove_reader(c)
    c.close()
    d.close()


def test_a_stale_entry_does_not_keep_the_loop_busy(loop, idle_reader, caplog):
    a, b = socket.socketpair()
    number = a.fileno()
    duplicate = os.dup(number)  # keeps a's open file description alive
    try:
        loop.add_reader(number, lambda: None)
        a.close()                      # the mistake: closed before remove_reader
        loop.remove_reader(number)     # too late: epoll cannot find it any more
        b.send(b"x")                   # the orphaned description becomes readable
        events = _EventCounts()
        loop.add_instrument(events)
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            _iterate(loop, 4)
        # One poll reports the stale entry; after the rebuild, nothing does.
        assert events.counts[0] == 1
        assert set(events.counts[1:]) == {0}
        [record] = [r for r in caplog.records if "rebuilt its epoll set" in r.getMessage()]
        assert f"fd {number} was closed" in record.getMessage()
        assert "remove_reader()/remove_writer() before closing" in record.getMessage()
    finally:
        os.close(duplicate)
        b.close()


def test_a_reused_number_gets_only_its_own_events(loop, idle_reader):
    a, b = socket.socketpair()
    number = a.fileno()
    duplicate = os.dup(number)
    fresh, fresh_peer = socket.socketpair()
    fresh.setblocking(False)
    calls = []

    def read_new():
        try:
            calls.append(os.read(number, 10))
        except BlockingIOError:
            calls.append("woken for nothing")

    try:
        loop.add_reader(number, lambda: calls.append("old"))
        a.close()
        loop.remove_reader(number)
        os.dup2(fresh.fileno(), number)  # the number now names another socket
        loop.add_reader(number, read_new)
        b.send(b"x")                     # events of the old, orphaned description
        _iterate(loop, 3)
        assert calls == []
        fresh_peer.send(b"y")            # and the new one still works
        _iterate(loop, 2)
        assert calls == [b"y"]
        loop.remove_reader(number)
    finally:
        os.close(number)
        os.close(duplicate)
        for sock in (b, fresh, fresh_peer):
            sock.close()


def test_a_writer_closed_behind_the_loops_back(loop, idle_reader):
    # A stale entry watching for writability: a socket is nearly always writable.
    a, b = socket.socketpair()
    number = a.fileno()
    duplicate = os.dup(number)
    try:
        loop.add_writer(number, lambda: None)
        a.close()
        loop.remove_writer(number)
        events = _EventCounts()
        loop.add_instrument(events)
        _iterate(loop, 3)
        assert events.counts[0] == 1 and set(events.counts[1:]) == {0}
    finally:
        os.close(duplicate)
        b.close()


def test_no_rebuild_when_descriptors_are_removed_first(loop, idle_reader, caplog):
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        for _ in range(20):
            a, b = socket.socketpair()
            duplicate = os.dup(a.fileno())
            loop.add_reader(a, lambda: None)
            loop.remove_reader(a)        # the right order
            a.close()
            b.send(b"x")
            os.close(duplicate)
            b.close()
        _iterate(loop, 2)
    assert not [r for r in caplog.records if "epoll" in r.getMessage()]

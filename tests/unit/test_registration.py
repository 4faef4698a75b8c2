"""add_reader/add_writer bookkeeping: the loop's tables and the poller always agree.

A refused registration (EBADF, EPERM) leaves nothing behind, so a later socket
reusing the descriptor number is watched; a socket closed after it was registered
still finds its registration by the object, as asyncio's (selectors') does.  Every
expectation here is what stdlib asyncio does on 3.11-3.13.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import tempfile

import pytest

import coroloop


def reads_on(loop, sock_pair, timeout=5.0):
    """True if a reader registered by fd on sock_pair[0] sees data sent to it."""
    receiver, sender = sock_pair
    got = loop.create_future()

    def on_readable():
        if not got.done():
            got.set_result(receiver.recv(16))

    loop.add_reader(receiver.fileno(), on_readable)
    sender.send(b"ping")
    try:
        return loop.run_until_complete(asyncio.wait_for(got, timeout)) == b"ping"
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(receiver.fileno())


@pytest.fixture
def pairs():
    made = []

    def make(*args):
        pair = socket.socketpair(*args)
        made.extend(pair)
        return pair

    yield make
    for sock in made:
        sock.close()


@pytest.mark.parametrize("method", ["add_reader", "add_writer"])
def test_refused_closed_fd_does_not_poison_the_number(loop, pairs, method):
    a, b = pairs()
    fd = a.fileno()
    a.close()
    with pytest.raises(OSError) as info:
        getattr(loop, method)(fd, lambda: None)
    assert info.value.errno == errno.EBADF
    assert loop.remove_reader(fd) is False and loop.remove_writer(fd) is False
    reused = pairs()
    assert reused[0].fileno() == fd  # the lowest free number is taken again
    assert reads_on(loop, reused)  # hung forever before: never registered with epoll


@pytest.mark.parametrize("method", ["add_reader", "add_writer"])
def test_regular_file_is_refused_and_leaves_nothing(loop, pairs, method):
    with tempfile.TemporaryFile() as f:
        with pytest.raises(PermissionError):
            getattr(loop, method)(f.fileno(), lambda: None)
        with pytest.raises(PermissionError):
            getattr(loop, method)(f, lambda: None)
        assert loop.remove_reader(f) is False
        assert loop.remove_writer(f.fileno()) is False
    assert reads_on(loop, pairs())


@pytest.mark.parametrize("direction", ["reader", "writer"])
def test_remove_by_a_socket_closed_after_registration(loop, pairs, direction):
    add = getattr(loop, f"add_{direction}")
    remove = getattr(loop, f"remove_{direction}")
    a, _ = pairs()
    add(a, lambda: None)
    a.close()
    assert remove(a) is True  # raised ValueError: Invalid file descriptor: -1
    with pytest.raises(ValueError, match=r"^Invalid file descriptor: -1$"):
        remove(a)  # gone now, as on asyncio
    assert reads_on(loop, pairs())


@pytest.mark.parametrize("direction", ["reader", "writer"])
def test_replace_by_a_socket_closed_after_registration(loop, pairs, direction):
    add = getattr(loop, f"add_{direction}")
    remove = getattr(loop, f"remove_{direction}")
    a, _ = pairs()
    add(a, lambda: None)
    a.close()
    assert add(a, lambda: None) is None
    assert remove(a) is True
    assert reads_on(loop, pairs())


def test_closed_socket_both_directions_fails_once_and_forgets_both(loop, pairs):
    # asyncio: the poller cannot change a closed descriptor's mask (EBADF); selectors
    # then drops the descriptor, and the error reaches the caller.
    a, _ = pairs()
    loop.add_reader(a, lambda: None)
    loop.add_writer(a, lambda: None)
    a.close()
    with pytest.raises(OSError) as info:
        loop.remove_reader(a)
    assert info.value.errno == errno.EBADF
    with pytest.raises(ValueError, match=r"^Invalid file descriptor: -1$"):
        loop.remove_writer(a)
    assert reads_on(loop, pairs())


def test_add_writer_on_closed_socket_with_a_reader_forgets_both(loop, pairs):
    a, _ = pairs()
    loop.add_reader(a, lambda: None)
    fd = a.fileno()
    a.close()
    with pytest.raises(OSError):
        loop.add_writer(a, lambda: None)
    assert loop.remove_reader(fd) is False
    reused = pairs()
    assert reused[0].fileno() == fd
    assert reads_on(loop, reused)


def test_never_registered_closed_socket_is_asyncios_error(loop, pairs):
    a, _ = pairs()
    a.close()
    with pytest.raises(ValueError, match=r"^Invalid file descriptor: -1$"):
        loop.remove_reader(a)
    with pytest.raises(ValueError, match=r"^Invalid file descriptor: -1$"):
        loop.add_reader(a, lambda: None)


class RefusingPoller:
    """Wraps a real poller; refuses the next modify() with the given error."""

    def __init__(self, inner):
        self._inner = inner
        self.READABLE = inner.READABLE
        self.WRITABLE = inner.WRITABLE
        self.refuse_next = None

    def modify(self, fd, readable, writable):
        error, self.refuse_next = self.refuse_next, None
        if error is not None and (readable or writable):
            raise error
        self._inner.modify(fd, readable, writable)

    def poll(self, timeout):
        return self._inner.poll(timeout)

    def close(self):
        self._inner.close()


def test_whatever_the_poller_raises_the_tables_follow(pairs):
    from coroloop._core.poller import default_poller
    poller = RefusingPoller(default_poller())
    loop = coroloop.new_event_loop(poller=poller)
    try:
        a, b = pairs()
        poller.refuse_next = KeyboardInterrupt()
        with pytest.raises(KeyboardInterrupt):
            loop.add_reader(a.fileno(), lambda: None)
        assert loop.remove_reader(a.fileno()) is False
        assert reads_on(loop, (a, b))
    finally:
        loop.close()


def test_a_refused_unregistration_forgets_the_descriptor_everywhere(pairs):
    from coroloop._core.poller import default_poller
    poller = RefusingPoller(default_poller())
    loop = coroloop.new_event_loop(poller=poller)
    try:
        a, b = pairs()
        loop.add_reader(a.fileno(), lambda: None)
        loop.add_writer(a.fileno(), lambda: None)
        poller.refuse_next = OSError(errno.EBADF, "refused")
        with pytest.raises(OSError):
            loop.remove_reader(a.fileno())  # the poller fails to keep the writer only
        assert loop.remove_writer(a.fileno()) is False  # forgotten with it
        assert reads_on(loop, (a, b))  # and registrable again from scratch
    finally:
        loop.close()


# (A datagram send never waits on a socketpair: there is no pending send to close.)
@pytest.mark.parametrize("op, kind", [("recv", socket.SOCK_STREAM), ("recv", socket.SOCK_DGRAM),
                                      ("send", socket.SOCK_STREAM)],
                         ids=["recv-stream", "recv-dgram", "send-stream"])
def test_close_during_a_pending_sock_operation(loop, pairs, kind, op):
    x, y = pairs(socket.AF_UNIX, kind)
    x.setblocking(False)

    async def main():
        if op == "recv":
            pending = asyncio.ensure_future(loop.sock_recv(x, 16))
        else:
            pending = asyncio.ensure_future(loop.sock_sendall(x, b"x" * 10_000_000))
        await asyncio.sleep(0.01)
        assert not pending.done()
        x.close()
        await asyncio.sleep(0.01)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending

    loop.run_until_complete(main())
    assert reads_on(loop, pairs())


@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_DGRAM], ids=["stream", "dgram"])
def test_transport_closed_with_a_pending_write(loop, pairs, kind):
    x, y = pairs(socket.AF_UNIX, kind)

    async def main():
        if kind == socket.SOCK_STREAM:
            transport, _ = await loop.create_unix_connection(asyncio.Protocol, sock=x)
            transport.write(b"x" * 10_000_000)  # more than the socket buffer holds
        else:
            transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=x)
            transport.sendto(b"x" * 100, None)
        transport.close()
        assert transport.is_closing()
        await asyncio.sleep(0.01)
        transport.abort()
        await asyncio.sleep(0)

    loop.run_until_complete(main())
    assert reads_on(loop, pairs())

"""Pipe transports (loop.connect_read_pipe / connect_write_pipe).

Each behavioural test runs on coroloop's loop and on the standard library's
selector loop, so the expectations are asyncio's, checked against asyncio itself.
"""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import os
import socket

import pytest

import coroloop


def new_coroloop_loop():
    return coroloop.new_event_loop()


@pytest.fixture(params=["coroloop", "asyncio"])
def loop(request):
    the_loop = new_coroloop_loop() if request.param == "coroloop" else asyncio.new_event_loop()
    yield the_loop
    the_loop.close()
    asyncio.set_event_loop(None)


def run(loop, coro, timeout=10):
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


class Recorder(asyncio.Protocol):
    """Records every protocol call; ``done`` resolves on connection_lost."""

    def __init__(self, loop):
        self.events = []
        self.data = bytearray()
        self.transport = None
        self.done = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")

    def data_received(self, data):
        self.data += data
        if not self.events or self.events[-1] != "data":
            self.events.append("data")

    def eof_received(self):
        self.events.append("eof")

    def pause_writing(self):
        self.events.append("pause")

    def resume_writing(self):
        self.events.append("resume")

    def connection_lost(self, exc):
        self.events.append(("lost", type(exc).__name__ if exc else None))
        self.done.set_result(exc)


async def until(predicate, loop, limit=2000):
    for _ in range(limit):
        if predicate():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never became true")


@pytest.fixture
def os_pipe():
    r, w = os.pipe()
    ends = {"r": r, "w": w}
    yield ends
    for fd in ends.values():
        if fd is not None:
            try:
                os.close(fd)
            except OSError:
                pass


# -- read pipes ----------------------------------------------------------------------------
def test_read_pipe_delivers_data_then_eof_then_lost(loop, os_pipe):
    pipe = io.open(os_pipe["r"], "rb", 0)
    os_pipe["r"] = None  # owned by the transport now

    async def main():
        proto = Recorder(loop)
        transport, p = await loop.connect_read_pipe(lambda: proto, pipe)
        assert p is proto and proto.transport is transport
        assert proto.events == ["made"]  # connection_made ran before connect returned
        assert transport.get_extra_info("pipe") is pipe
        assert transport.is_reading() and not transport.is_closing()
        os.write(os_pipe["w"], b"hello ")
        await until(lambda: proto.data == b"hello ", loop)
        os.write(os_pipe["w"], b"world")
        os.close(os_pipe["w"])
        os_pipe["w"] = None
        assert await proto.done is None
        assert proto.data == b"hello world"
        assert proto.events == ["made", "data", "eof", ("lost", None)]
        assert transport.is_closing()
        assert pipe.closed

    run(loop, main())


def test_read_pipe_pause_and_resume(loop, os_pipe):
    pipe = io.open(os_pipe["r"], "rb", 0)
    os_pipe["r"] = None

    async def main():
        proto = Recorder(loop)
        transport, _ = await loop.connect_read_pipe(lambda: proto, pipe)
        transport.pause_reading()
        assert not transport.is_reading()
        os.write(os_pipe["w"], b"held back")
        for _ in range(5):
            await asyncio.sleep(0)
        assert proto.data == b""
        transport.resume_reading()
        assert transport.is_reading()
        await until(lambda: proto.data == b"held back", loop)
        transport.close()
        assert await proto.done is None
        # close() is not EOF: eof_received is not called.
        assert proto.events == ["made", "data", ("lost", None)]
        assert pipe.closed

    run(loop, main())


def test_read_pipe_close_is_idempotent_and_pause_after_close_is_a_noop(loop, os_pipe):
    pipe = io.open(os_pipe["r"], "rb", 0)
    os_pipe["r"] = None

    async def main():
        proto = Recorder(loop)
        transport, _ = await loop.connect_read_pipe(lambda: proto, pipe)
        transport.close()
        transport.close()
        transport.pause_reading()
        transport.resume_reading()
        await proto.done
        assert proto.events == ["made", ("lost", None)]

    run(loop, main())


def test_read_pipe_refuses_a_regular_file(loop, tmp_path):
    path = tmp_path / "regular"
    path.write_bytes(b"data")

    async def main():
        with open(path, "rb") as f:
            with pytest.raises(ValueError, match="pipe"):
                await loop.connect_read_pipe(asyncio.Protocol, f)
            with pytest.raises(ValueError, match="pipe"):
                await loop.connect_write_pipe(asyncio.BaseProtocol, f)

    run(loop, main())


def test_read_pipe_on_a_socket(loop):
    a, b = socket.socketpair()

    async def main():
        proto = Recorder(loop)
        pipe = io.open(a.detach(), "rb", 0)
        await loop.connect_read_pipe(lambda: proto, pipe)
        b.sendall(b"through a socket")
        b.close()
        await proto.done
        assert proto.data == b"through a socket"

    run(loop, main())


# -- write pipes ---------------------------------------------------------------------------
def read_available(fd) -> bytes:
    os.set_blocking(fd, False)
    out = bytearray()
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return bytes(out)
        if not chunk:
            return bytes(out)
        out += chunk


def test_write_pipe_writes_and_closes(loop, os_pipe):
    pipe = io.open(os_pipe["w"], "wb", 0)
    os_pipe["w"] = None

    async def main():
        proto = Recorder(loop)
        transport, _ = await loop.connect_write_pipe(lambda: proto, pipe)
        assert proto.events == ["made"]
        assert transport.can_write_eof()
        transport.write(b"abc")
        transport.write(bytearray(b"def"))
        transport.write(memoryview(b"ghi"))
        transport.writelines([b"j", b"k"])
        transport.write(b"")
        assert read_available(os_pipe["r"]) == b"abcdefghijk"
        transport.close()
        assert transport.is_closing()
        assert await proto.done is None
        assert proto.events == ["made", ("lost", None)]
        assert pipe.closed
        assert os.read(os_pipe["r"], 10) == b""  # EOF for the reader

    run(loop, main())


def test_write_pipe_rejects_str(loop, os_pipe):
    pipe = io.open(os_pipe["w"], "wb", 0)
    os_pipe["w"] = None

    async def main():
        proto = Recorder(loop)
        transport, _ = await loop.connect_write_pipe(lambda: proto, pipe)
        with pytest.raises((TypeError, AssertionError)):
            transport.write("text")
        transport.close()
        await proto.done

    run(loop, main())


def test_write_pipe_flow_control_and_ordering(loop, os_pipe):
    pipe = io.open(os_pipe["w"], "wb", 0)
    os_pipe["w"] = None
    payload = bytes(range(256)) * 8192  # 2 MiB: far more than a pipe holds

    async def main():
        proto = Recorder(loop)
        transport, _ = await loop.connect_write_pipe(lambda: proto, pipe)
        transport.set_write_buffer_limits(high=64 * 1024)
        assert transport.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        transport.write(payload)
        assert proto.events == ["made", "pause"]
        assert transport.get_write_buffer_size() > 0
        received = bytearray()
        read_fd = os_pipe["r"]
        loop.add_reader(read_fd, lambda: received.extend(read_available(read_fd)))
        try:
            await until(lambda: "resume" in proto.events, loop)
            transport.write_eof()  # EOF once the buffer drained
            await proto.done
            await until(lambda: len(received) == len(payload), loop)
        finally:
            loop.remove_reader(read_fd)
        assert received == payload
        assert proto.events == ["made", "pause", "resume", ("lost", None)]
        assert transport.get_write_buffer_size() == 0

    run(loop, main())


def test_write_pipe_notices_reader_going_away(loop, os_pipe):
    pipe = io.open(os_pipe["w"], "wb", 0)
    os_pipe["w"] = None

    async def main():
        proto = Recorder(loop)
        transport, _ = await loop.connect_write_pipe(lambda: proto, pipe)
        os.close(os_pipe["r"])
        os_pipe["r"] = None
        # Nothing was pending: a clean close, noticed without writing.
        assert await proto.done is None
        assert transport.is_closing()

    run(loop, main())


def test_write_pipe_reader_gone_with_pending_data_is_broken_pipe(loop, os_pipe):
    pipe = io.open(os_pipe["w"], "wb", 0)
    os_pipe["w"] = None

    async def main():
        proto = Recorder(loop)
        transport, _ = await loop.connect_write_pipe(lambda: proto, pipe)
        transport.write(b"x" * (4 << 20))  # the pipe fills; the rest is buffered
        assert transport.get_write_buffer_size() > 0
        os.close(os_pipe["r"])
        os_pipe["r"] = None
        exc = await proto.done
        assert isinstance(exc, BrokenPipeError)
        assert transport.get_write_buffer_size() == 0

    run(loop, main())


def test_write_pipe_on_a_socket_disconnects_when_peer_closes(loop):
    a, b = socket.socketpair()

    async def main():
        proto = Recorder(loop)
        pipe = io.open(a.detach(), "wb", 0)
        transport, _ = await loop.connect_write_pipe(lambda: proto, pipe)
        transport.write(b"1")
        assert b.recv(10) == b"1"
        b.close()
        assert await proto.done is None

    run(loop, main())


def test_write_pipe_abort_drops_buffer(loop, os_pipe):
    pipe = io.open(os_pipe["w"], "wb", 0)
    os_pipe["w"] = None

    async def main():
        proto = Recorder(loop)
        transport, _ = await loop.connect_write_pipe(lambda: proto, pipe)
        transport.write(b"y" * (4 << 20))
        assert transport.get_write_buffer_size() > 0
        transport.abort()
        assert await proto.done is None
        assert transport.get_write_buffer_size() == 0

    run(loop, main())


def test_writes_after_close_are_dropped_and_eventually_logged(loop, os_pipe, caplog):
    pipe = io.open(os_pipe["w"], "wb", 0)
    os_pipe["w"] = None

    async def main():
        proto = Recorder(loop)
        transport, _ = await loop.connect_write_pipe(lambda: proto, pipe)
        transport.close()
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            for _ in range(7):
                transport.write(b"late")
        await proto.done
        assert read_available(os_pipe["r"]) == b""
        assert any("pipe closed by peer" in r.getMessage() for r in caplog.records)

    run(loop, main())


def test_write_eof_after_pending_data_delivers_it_first(loop, os_pipe):
    pipe = io.open(os_pipe["w"], "wb", 0)
    os_pipe["w"] = None
    payload = b"z" * (1 << 20)

    async def main():
        proto = Recorder(loop)
        transport, _ = await loop.connect_write_pipe(lambda: proto, pipe)
        transport.write(payload)
        transport.write_eof()
        assert transport.is_closing()
        got = bytearray()
        read_fd = os_pipe["r"]
        loop.add_reader(read_fd, lambda: got.extend(read_available(read_fd)))
        try:
            await proto.done
            await until(lambda: len(got) == len(payload), loop)
        finally:
            loop.remove_reader(read_fd)
        assert got == payload

    run(loop, main())


# -- cleanup -------------------------------------------------------------------------------
def test_unclosed_pipe_transport_warns_and_closes_its_pipe(os_pipe):
    loop = new_coroloop_loop()
    pipe = io.open(os_pipe["r"], "rb", 0)
    os_pipe["r"] = None
    try:
        transport, _ = loop.run_until_complete(
            loop.connect_read_pipe(asyncio.Protocol, pipe))
    finally:
        loop.close()
    # asyncio issue #314: the repr works after the loop is closed.
    assert "open" in repr(transport)
    with pytest.warns(ResourceWarning, match="unclosed transport"):
        del transport
        gc.collect()
    assert pipe.closed

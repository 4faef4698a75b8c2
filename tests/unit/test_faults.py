"""Faults: a seeded hostile network for coroloop's TCP and Unix streams in a simulation,
tested with a length-prefixed framing protocol (a correct one and a naive one)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import tempfile

import pytest

from coroloop.testing import Faults, simulate

MESSAGES = [bytes([i]) * (1 + 37 * i) for i in range(30)]


def frame(payload: bytes) -> bytes:
    return struct.pack("!I", len(payload)) + payload


class FramedReceiver(asyncio.Protocol):
    """Correct: buffers bytes until a whole frame is there."""

    def __init__(self, done):
        self.buffer = bytearray()
        self.messages = []
        self.done = done

    def data_received(self, data):
        self.buffer += data
        while len(self.buffer) >= 4:
            (size,) = struct.unpack("!I", self.buffer[:4])
            if len(self.buffer) < 4 + size:
                break
            self.messages.append(bytes(self.buffer[4:4 + size]))
            del self.buffer[:4 + size]
        if len(self.messages) == len(MESSAGES) and not self.done.done():
            self.done.set_result(self.messages)

    def connection_lost(self, exc):
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("closed early"))


class NaiveReceiver(FramedReceiver):
    """Wrong: takes every read for exactly one frame."""

    def data_received(self, data):
        (size,) = struct.unpack("!I", data[:4])
        self.messages.append(bytes(data[4:4 + size]))
        if len(self.messages) == len(MESSAGES) and not self.done.done():
            self.done.set_result(self.messages)


def exchange(receiver_class, unix=False):
    async def main():
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        receivers = []

        def factory():
            receivers.append(receiver_class(done))
            return receivers[-1]

        if unix:
            path = os.path.join(tempfile.mkdtemp(), "s")
            server = await loop.create_unix_server(factory, path)
            reader, writer = await asyncio.open_unix_connection(path)
        else:
            server = await loop.create_server(factory, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i, payload in enumerate(MESSAGES):
                writer.write(frame(payload))  # one write, one frame: no help from the sender
                await writer.drain()
                for _ in range(1000):  # the next frame once this one is in (no coalescing)
                    if done.done() or receivers and len(receivers[0].messages) > i:
                        break
                    await asyncio.sleep(0)
            messages = await asyncio.wait_for(done, 10)
            assert messages == MESSAGES, "frames garbled"
            return messages
        finally:
            writer.close()
            server.close()
            await asyncio.sleep(0)  # let the server side see the end
            if done.done() and not done.cancelled():
                done.exception()  # the sender's failure is the report, not this one
            await server.wait_closed()
            if unix:
                with contextlib.suppress(FileNotFoundError):  # 3.13's server removes it
                    os.unlink(path)
                os.rmdir(os.path.dirname(path))

    return main


@pytest.mark.parametrize("unix", [False, True], ids=["tcp", "unix"])
def test_framing_survives_short_reads_and_writes(unix):
    for seed in range(5):
        result = simulate(exchange(FramedReceiver, unix), seed=seed,
                          faults=Faults(short_io=0.5))
        assert result.exception is None, result.message
        assert result.result == MESSAGES
        assert result.fault_counts.short_reads > 3
        assert result.fault_counts.short_writes > 3


def test_naive_framing_is_caught_by_short_io_only():
    assert simulate(exchange(NaiveReceiver), seed=0).result == MESSAGES
    broken = simulate(exchange(NaiveReceiver), seed=0, faults=Faults(short_io=0.5))
    assert broken.failed  # a chunk taken for a frame: wrong bytes, or a bad length


def test_faults_are_a_function_of_the_seed():
    runs = [simulate(exchange(FramedReceiver), seed=3, faults=Faults(short_io=0.3))
            for _ in range(3)]
    assert len({r.fault_counts.short_reads for r in runs}) == 1
    assert len({r.fault_counts.short_writes for r in runs}) == 1


def test_reset_is_a_connection_error_the_program_sees():
    result = simulate(exchange(FramedReceiver), seed=1, faults=Faults(reset=0.05))
    assert result.fault_counts.resets >= 1
    assert isinstance(result.exception, (ConnectionError, asyncio.IncompleteReadError)), \
        result.message


def test_connect_delay_is_virtual_time():
    async def main():
        loop = asyncio.get_running_loop()
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        started = loop.time()
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        took = loop.time() - started
        writer.close()
        server.close()
        await server.wait_closed()
        return took

    result = simulate(main, seed=0, faults=Faults(connect_delay=30.0))
    assert result.fault_counts.delayed_connects == 1
    assert 0 < result.result <= 30.0  # virtual seconds; the test takes none


def test_faults_arguments_are_checked():
    with pytest.raises(ValueError, match="probability"):
        Faults(short_io=1.5)
    with pytest.raises(ValueError, match="connect_delay"):
        Faults(connect_delay=-1)
    with pytest.raises(TypeError, match="Faults"):
        simulate(exchange(FramedReceiver), seed=0, faults={"short_io": 0.1})

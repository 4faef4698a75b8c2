"""Echo soak through a loopback proxy that injects resets.

coroloop's echo server and clients talk through a TCP proxy on 127.0.0.1 that runs
on stdlib asyncio in its own thread (an independent implementation in the middle).
Clients send random chunks of 1 B-256 KiB (log-uniform, so tiny and large writes
both occur) and half-close; the server echoes until EOF.  The proxy resets a few
connections (RST on both sides) after a random number of bytes.

Promise checked: on every connection the proxy left intact, every byte comes back,
in order (0 bytes lost); a reset connection ends with a clean error or an early
EOF -- never a hang -- and what it did receive is still correct.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
import time

import pytest

import coroloop
from stress_helpers import mb_per_s, size

CONNECTIONS = size(24, 128)
MEAN_BYTES = size(1_500_000, 2_000_000)   # per connection: ~36 MB small, ~256 MB full
RESET_PROBABILITY = size(0.12, 0.04)
CONCURRENCY = size(12, 32)
MAX_CHUNK = 256 * 1024
SEED = 20261201
# A pseudo-random block of prime length: connection i's byte k is
# BLOCK[(offset_i + k) % len]; a prime period makes a lost or repeated chunk show.
BLOCK_LEN = 1_000_003
_rng = random.Random(SEED)
BLOCK = _rng.randbytes(BLOCK_LEN)
DOUBLED = BLOCK + BLOCK  # any slice of up to BLOCK_LEN bytes without wrapping


def expected(offset: int, pos: int, n: int) -> bytes:
    start = (offset + pos) % BLOCK_LEN
    return DOUBLED[start:start + n]


class ResettingProxy:
    """A TCP proxy on stdlib asyncio, in a thread; resets chosen connections."""

    def __init__(self, upstream, probability, seed):
        self.upstream = upstream
        self.probability = probability
        self.rng = random.Random(seed)
        self.reset_ports: set[int] = set()     # client ports whose connection was reset
        self.ready = threading.Event()
        self._tasks = set()
        self.loop = None
        self.port = None
        self._thread = threading.Thread(target=self._run, name="reset-proxy", daemon=True)

    def start(self):
        self._thread.start()
        assert self.ready.wait(30), "proxy did not start"
        return self

    def stop(self):
        self.loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        assert not self._thread.is_alive(), "proxy thread did not stop"

    def _run(self):
        asyncio.run(self._main())

    async def _main(self):
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=512)
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            await server.wait_closed()

    async def _handle(self, creader, cwriter):
        # Strong references to every task of the connection: asyncio's stream
        # protocols hold their StreamReader weakly, so a task waiting on a reader is
        # otherwise reachable only through itself, and the gc may collect it.
        self._tasks.add(asyncio.current_task())
        try:
            await self._proxy(creader, cwriter)
        finally:
            self._tasks.discard(asyncio.current_task())

    async def _proxy(self, creader, cwriter):
        client_port = cwriter.get_extra_info("peername")[1]
        reset_after = None
        if self.rng.random() < self.probability:
            reset_after = self.rng.randrange(0, MEAN_BYTES // 2)
        try:
            ureader, uwriter = await asyncio.open_connection(*self.upstream)
        except OSError:
            cwriter.close()
            return
        done = asyncio.Event()
        counted = [0]

        def reset_both():
            self.reset_ports.add(client_port)
            for writer in (cwriter, uwriter):
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
            done.set()

        async def pump(reader, writer, count):
            try:
                while True:
                    data = await reader.read(65536)
                    if not data:
                        if writer.can_write_eof():
                            writer.write_eof()
                        return
                    if count and reset_after is not None:
                        if counted[0] + len(data) > reset_after:
                            reset_both()
                            return
                        counted[0] += len(data)
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, OSError):
                pass  # the other direction sees it too

        up = asyncio.ensure_future(pump(creader, uwriter, True))
        down = asyncio.ensure_future(pump(ureader, cwriter, False))
        stopper = asyncio.ensure_future(done.wait())
        self._tasks.update((up, down, stopper))
        await asyncio.wait({up, down, stopper} if reset_after is not None else {up, down},
                           return_when=asyncio.ALL_COMPLETED if reset_after is None
                           else asyncio.FIRST_COMPLETED)
        if done.is_set():
            for task in (up, down):
                task.cancel()
            await asyncio.gather(up, down, return_exceptions=True)
        elif reset_after is not None:
            await asyncio.wait({up, down})
        stopper.cancel()
        self._tasks.difference_update((up, down, stopper))
        for writer in (cwriter, uwriter):
            writer.close()


async def echo(reader, writer):
    try:
        while data := await reader.read(MAX_CHUNK):
            writer.write(data)
            await writer.drain()
        writer.write_eof()
    except (ConnectionError, OSError):
        pass  # a connection the proxy reset
    finally:
        writer.close()


async def client(port, index, results):
    rng = random.Random(SEED * 1000 + index)
    total = max(1, int(rng.expovariate(1 / MEAN_BYTES)))
    offset = rng.randrange(BLOCK_LEN)
    chunks = []
    left = total
    while left:
        n = min(left, int(2 ** rng.uniform(0, 18)))  # 1 B .. 256 KiB, log-uniform
        chunks.append(n)
        left -= n
    reader, writer = await coroloop.open_connection("127.0.0.1", port)
    my_port = writer.get_extra_info("sockname")[1]
    received = 0
    corrupt = False
    error = None

    async def send():
        pos = 0
        for n in chunks:
            writer.write(expected(offset, pos, n))
            pos += n
            await writer.drain()
        writer.write_eof()

    async def receive():
        nonlocal received, corrupt
        while True:
            data = await reader.read(65536)
            if not data:
                return
            if data != expected(offset, received, len(data)):
                corrupt = True
            received += len(data)

    sender = asyncio.ensure_future(send())
    try:
        await receive()
        await sender
    except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
        error = exc
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
    finally:
        writer.close()
    results.append({"port": my_port, "sent": total, "received": received,
                    "corrupt": corrupt, "error": error})


@pytest.mark.timeout(size(240, 1800))
def test_echo_soak_through_a_resetting_proxy(figure):
    async def main():
        server = await coroloop.start_server(echo, "127.0.0.1", 0, backlog=512)
        port = server.sockets[0].getsockname()[1]
        proxy = ResettingProxy(("127.0.0.1", port), RESET_PROBABILITY, SEED).start()
        results = []
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(index):
            async with gate:
                # Bounded: a hang fails the test instead of waiting for the suite's timeout.
                await asyncio.wait_for(client(proxy.port, index, results), size(180, 1500))

        started = time.perf_counter()
        try:
            await asyncio.gather(*(one(i) for i in range(CONNECTIONS)))
        finally:
            elapsed = time.perf_counter() - started
            proxy.stop()
            server.close()
            await server.wait_closed()
        return results, proxy.reset_ports, elapsed

    results, reset_ports, elapsed = coroloop.run(main())
    assert len(results) == CONNECTIONS
    intact = [r for r in results if r["port"] not in reset_ports]
    reset = [r for r in results if r["port"] in reset_ports]
    lost = sum(r["sent"] - r["received"] for r in intact)
    echoed = sum(r["received"] for r in results)
    figure(f"{mb_per_s(echoed, elapsed):.1f} MB/s echoed through the proxy "
           f"({echoed / 1e6:.1f} MB, {len(intact)} intact + {len(reset)} reset connections), "
           f"{lost} bytes lost on intact connections",
           mb_per_s=mb_per_s(echoed, elapsed), bytes_lost=lost, connections=len(results),
           reset=len(reset))
    for r in intact:
        assert r["error"] is None, r
        assert not r["corrupt"], r
        assert r["received"] == r["sent"], r
    assert lost == 0
    for r in reset:
        # A clean end: an error from the socket, or an early EOF; never wrong bytes.
        assert not r["corrupt"], r
        assert r["error"] is not None or r["received"] <= r["sent"], r
    assert reset, "the proxy reset no connection: raise RESET_PROBABILITY"

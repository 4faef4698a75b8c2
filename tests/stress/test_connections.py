"""Many concurrent connections: 10,000 (make stress) or 1,000 (make test) at once.

coroloop's server runs in this process; the clients run on stdlib asyncio in a
child process (each side needs one descriptor per connection, and the hard
RLIMIT_NOFILE here is often 20,000 for a process).  Every client connects, and
only once all are connected does each send a line and wait for its echo, so the
server holds every connection open at the same time.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time

import pytest

import coroloop
from stress_helpers import raise_nofile, size

WANTED = size(1_000, 10_000)
HEADROOM = 100  # descriptors besides the connections (listener, epoll, pytest, ...)

CLIENT = textwrap.dedent("""
    import asyncio, json, resource, sys
    port, count = int(sys.argv[1]), int(sys.argv[2])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 100), hard))

    async def main():
        all_open = asyncio.Event()
        opened = 0
        connect_gate = asyncio.Semaphore(200)  # a SYN flood would only test the kernel
        answers = []

        async def one(i):
            nonlocal opened
            async with connect_gate:
                for attempt in range(20):
                    try:
                        reader, writer = await asyncio.open_connection("127.0.0.1", port)
                        break
                    except OSError:
                        await asyncio.sleep(0.05 * (attempt + 1))
                else:
                    raise RuntimeError(f"client {i} could not connect")
            opened += 1
            if opened == count:
                all_open.set()
            await all_open.wait()
            line = f"{i}\\n".encode()
            writer.write(line)
            answers.append(await reader.readline() == line)
            writer.close()
            await writer.wait_closed()

        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(count))), 600)
        print(json.dumps({"answered": sum(answers), "count": count}))

    asyncio.run(main())
""")


class Echo(asyncio.Protocol):
    live = 0
    peak = 0
    served = 0

    def connection_made(self, transport):
        self.transport = transport
        cls = type(self)
        cls.live += 1
        cls.peak = max(cls.peak, cls.live)

    def data_received(self, data):
        self.transport.write(data)
        type(self).served += 1

    def connection_lost(self, exc):
        type(self).live -= 1


@pytest.mark.timeout(size(300, 900))
def test_many_concurrent_connections(figure):
    limit = raise_nofile(WANTED + HEADROOM)
    count = min(WANTED, limit - HEADROOM)
    assert count >= size(200, 1_000), f"RLIMIT_NOFILE too low for the test: {limit}"

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Echo, "127.0.0.1", 0, backlog=4096)
        port = server.sockets[0].getsockname()[1]
        started = time.perf_counter()
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CLIENT, str(port), str(count),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(child.communicate(), size(280, 880))
        elapsed = time.perf_counter() - started
        server.close()
        await server.wait_closed()
        assert child.returncode == 0, err.decode()[-3000:]
        return json.loads(out), elapsed

    result, elapsed = coroloop.run(main())
    figure(f"{Echo.peak} connections open at once (of {count} wanted; RLIMIT_NOFILE "
           f"{limit}), {result['answered']} answered, {elapsed:.1f} s",
           connections=Echo.peak, answered=result["answered"], seconds=elapsed)
    assert result["answered"] == count
    assert Echo.peak == count
    assert Echo.live == 0

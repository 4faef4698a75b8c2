"""A slow reader must not make the writer's memory grow.

The writer (coroloop streams, this process) sends far more than any buffer holds,
1 MiB per write, awaiting ``drain()``; the reader (a child process with a blocking
socket) reads 64 KiB at a time with a pause between reads.  Flow control must keep
the writer's resident memory flat: the bound below is a fraction of what is sent,
so a writer that buffered everything fails, whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time

import pytest

import coroloop
from stress_helpers import mb_per_s, rss_bytes, size

TOTAL = size(96, 512) * 1024 * 1024
CHUNK = 1024 * 1024
RSS_BOUND = 32 * 1024 * 1024  # << TOTAL: only flow control keeps us under it

READER = textwrap.dedent("""
    import socket, sys, time
    sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    buf = bytearray(65536)
    total = 0
    while n := sock.recv_into(buf):
        total += n
        time.sleep(0.0005)  # slower than the writer
    print(total)
""")


@pytest.mark.timeout(size(180, 900))
def test_slow_reader_keeps_the_writer_bounded(figure):
    async def main():
        connected = asyncio.get_running_loop().create_future()

        async def on_client(reader, writer):
            connected.set_result(writer)

        server = await coroloop.start_server(on_client, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", READER, str(port), stdout=asyncio.subprocess.PIPE)
        writer = await asyncio.wait_for(connected, 60)
        baseline = rss_bytes()
        peak = baseline
        started = time.perf_counter()
        for i in range(TOTAL // CHUNK):
            writer.write(bytes((i & 255,)) * CHUNK)  # a new object each time
            await writer.drain()
            peak = max(peak, rss_bytes())
        writer.close()
        await writer.wait_closed()
        out, _ = await asyncio.wait_for(child.communicate(), size(170, 880))
        elapsed = time.perf_counter() - started
        server.close()
        await server.wait_closed()
        return int(out), peak - baseline, elapsed

    received, growth, elapsed = coroloop.run(main())
    figure(f"peak RSS growth {growth / 1e6:.1f} MB while writing {TOTAL / 1e6:.0f} MB "
           f"to a slow reader ({mb_per_s(TOTAL, elapsed):.1f} MB/s), {TOTAL - received} bytes lost",
           rss_growth_bytes=growth, mb_per_s=mb_per_s(TOTAL, elapsed),
           bytes_lost=TOTAL - received)
    assert received == TOTAL
    assert growth < RSS_BOUND, f"writer grew {growth} bytes: flow control is not working"

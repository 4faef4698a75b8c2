"""EMFILE under load: a server limited to 64 descriptors, thousands of clients.

The coroloop echo server runs in a child process whose RLIMIT_NOFILE is 64, so it
can hold about 50 connections; many more clients than that connect at once.  Each
client must be served (its line echoed) or refused cleanly (a connection error or
an early EOF) -- never left hanging -- and the server must keep going, reporting
the condition once per episode.  Accepting resumes as soon as one of the server's
connections closes, so in practice every client is served.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
import time

import pytest

import coroloop
from stress_helpers import size

CLIENTS = size(300, 3_000)
CONCURRENCY = size(150, 400)
SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")

SERVER = textwrap.dedent("""
    import asyncio, json, resource, sys
    sys.path.insert(0, sys.argv[1])
    import coroloop

    async def echo(reader, writer):
        try:
            line = await reader.readline()
            writer.write(line)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def main():
        loop = asyncio.get_running_loop()
        reports = []
        loop.set_exception_handler(lambda lp, ctx: reports.append(ctx["message"]))
        server = await coroloop.start_server(echo, "127.0.0.1", 0, backlog=128)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
        print(server.sockets[0].getsockname()[1], flush=True)
        await loop.run_in_executor(None, sys.stdin.read)  # until the test is done
        server.close()
        await server.wait_closed()
        print(json.dumps({"reports": reports}), flush=True)

    coroloop.run(main())
""")


@pytest.mark.timeout(size(300, 900))
def test_emfile_under_load_serves_or_refuses_every_client(figure):
    async def main():
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SERVER, SRC, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        port = int(await asyncio.wait_for(child.stdout.readline(), 60))
        outcomes = {"served": 0, "refused": 0, "hung": 0}
        gate = asyncio.Semaphore(CONCURRENCY)

        async def client(i):
            line = f"client {i}\n".encode()
            async with gate:
                try:
                    async with asyncio.timeout(size(120, 600)):
                        reader, writer = await asyncio.open_connection("127.0.0.1", port)
                        try:
                            writer.write(line)
                            answer = await reader.readline()
                        finally:
                            writer.close()
                    outcomes["served" if answer == line else "refused"] += 1
                except (ConnectionError, OSError):
                    outcomes["refused"] += 1
                except TimeoutError:
                    outcomes["hung"] += 1

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(CLIENTS)))
        elapsed = time.perf_counter() - started
        child.stdin.close()
        out, err = await asyncio.wait_for(child.communicate(), 120)
        assert child.returncode == 0, err.decode()[-3000:]
        return outcomes, json.loads(out.splitlines()[-1])["reports"], elapsed

    outcomes, reports, elapsed = coroloop.run(main())
    emfile_reports = reports.count("socket.accept() out of system resource")
    figure(f"{outcomes['served']} of {CLIENTS} clients served, {outcomes['refused']} refused "
           f"cleanly, {outcomes['hung']} hung, by a server limited to 64 fds, in {elapsed:.1f} s; "
           f"{emfile_reports} EMFILE report(s)",
           served=outcomes["served"], refused=outcomes["refused"], hung=outcomes["hung"],
           connections=CLIENTS, seconds=elapsed)
    assert outcomes["hung"] == 0
    assert outcomes["served"] + outcomes["refused"] == CLIENTS
    assert set(reports) <= {"socket.accept() out of system resource"}, reports
    assert emfile_reports < CLIENTS // 10, "reported per failure, not once per episode"

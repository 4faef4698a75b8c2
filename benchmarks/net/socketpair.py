#!/usr/bin/env python3
"""One-process echo over a socket pair: the loop's CPU per round trip, with low noise.

Both ends run on the loop under test, in one thread: the server end is a transport
(``--api protocol``: a Protocol whose data_received() writes the data back;
``--api streams``: a StreamReaderProtocol whose handler loops read(64 KiB) / write() /
drain()), the client end a plain non-blocking socket watched with ``loop.add_reader``
that sends the next message once the echo is complete.  One round trip = one message
of SIZE bytes there and back.  The figure is the process's CPU time
(``time.process_time``) per round trip: it includes the kernel's work for both ends
and the client callback, the same on every loop, and no scheduler effects between
processes -- so a change on the I/O path shows up here when echo.py's noise (clients
competing with the server for the cores) hides it.  It is not a server CPU figure:
quote echo.py for the targets, this for before/after.

  python benchmarks/net/socketpair.py --baseline /tmp/main/src --repeat 5
  python benchmarks/net/socketpair.py --api streams --size 1024 --impl uvloop,coroloop

One subprocess per measurement (implementations never share an interpreter),
interleaved rounds, medians.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as H  # noqa: E402

APIS = ("protocol", "streams")
SIZES = (1024, 10 * 1024, 100 * 1024)
# Round trips per measurement, by size: each takes ~0.5-1 s on this machine.
ROUND_TRIPS = {1024: 60_000, 10 * 1024: 40_000, 100 * 1024: 8_000}


def worker(impl, api, size, count):
    aio, new_loop = H.make_impl(impl)
    loop = new_loop()
    server_end, client_end = socket.socketpair()
    server_end.setblocking(False)
    client_end.setblocking(False)
    message = b"x" * size
    inbox = bytearray(256 * 1024)  # recv_into: a fresh 256 KiB bytes could be mmap'd
    left = [count + count // 10]   # the first tenth warms up
    got = [0]
    timing = {}
    done = loop.create_future()

    class Echo(aio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.transport.write(data)

    async def handler(reader, writer):
        while data := await reader.read(64 * 1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    def client_readable():
        got[0] += client_end.recv_into(inbox)
        if got[0] < size:
            return
        if got[0] > size:
            raise AssertionError(f"echoed {got[0]} bytes for a {size}-byte message")
        got[0] = 0
        left[0] -= 1
        if left[0] == count:
            timing["t0"] = time.process_time()
        if left[0] == 0:
            timing["t1"] = time.process_time()
            loop.remove_reader(client_end.fileno())
            done.set_result(None)
            return
        client_end.send(message)

    async def main():
        if api == "protocol":
            factory = Echo
        else:
            def factory():
                return aio.StreamReaderProtocol(aio.StreamReader(loop=loop), handler, loop=loop)
        transport, _ = await loop.create_connection(factory, sock=server_end)
        loop.add_reader(client_end.fileno(), client_readable)
        client_end.send(message)
        await done
        client_end.close()  # the handler sees EOF and closes its side
        await aio.sleep(0.01)
        transport.close()

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    H.emit({"us": (timing["t1"] - timing["t0"]) / count * 1e6})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--impl", default="uvloop,coroloop", help="comma-separated implementations")
    p.add_argument("--api", action="append", choices=APIS, help="server API (repeatable)")
    p.add_argument("--size", action="append", type=int, help="message size (repeatable)")
    p.add_argument("--compiled", metavar="SITE", help="also run coroloop-compiled from SITE")
    p.add_argument("--baseline", metavar="SRC", help="also run the coroloop package in SRC")
    p.add_argument("--baseline-compiled", metavar="SITE",
                   help="also run the compiled build in SITE (the before of --compiled)")
    p.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        impl, api, size, count = a.worker
        return worker(impl, api, int(size), int(count))
    if a.compiled:
        os.environ[H.COMPILED_ENV] = os.path.abspath(a.compiled)
        a.impl += ",coroloop-compiled"
    if a.baseline:
        os.environ[H.BASELINE_ENV] = os.path.abspath(a.baseline)
        a.impl += ",baseline"
    if a.baseline_compiled:
        os.environ[H.BASELINE_COMPILED_ENV] = os.path.abspath(a.baseline_compiled)
        a.impl += ",baseline-compiled"
    impls, notes = H.available_impls(a.impl)
    apis, sizes = a.api or list(APIS), a.size or list(SIZES)
    H.header_lines(sys.argv[1:] if argv is None else argv, Path(sys.argv[0]))
    me = str(Path(__file__).resolve())
    samples = {(api, size, impl): [] for api in apis for size in sizes for impl in impls}
    failed = {}
    for _ in range(a.repeat):
        for key in samples:
            if key in failed:
                continue
            api, size, impl = key
            count = ROUND_TRIPS.get(size, 20_000)
            proc = subprocess.run([sys.executable, me, "--worker", impl, api, str(size),
                                   str(count)], capture_output=True, text=True, timeout=300)
            lines = [l for l in proc.stdout.splitlines() if l.startswith(H.PREFIX)]
            if proc.returncode or not lines:
                failed[key] = (proc.stderr.strip().splitlines() or ["no result"])[-1]
                continue
            samples[key].append(json.loads(lines[-1][len(H.PREFIX):])["us"])
    ref = "uvloop" if "uvloop" in impls else None
    print()
    print("| api | size | impl | CPU µs/round trip | vs uvloop | vs baseline |")
    print("|---|---|---|---:|---:|---:|")
    for api in apis:
        for size in sizes:
            med = {i: statistics.median(samples[(api, size, i)])
                   for i in impls if samples[(api, size, i)]}
            for impl in impls:
                if impl not in med:
                    print(f"| {api} | {size} | {impl} | n/a ({failed.get((api, size, impl), '')[:60]}) | | |")
                    continue
                vs_uv = f"{med[impl] / med[ref]:.2f}" if ref in med and impl != ref else ""
                before = {v: k for k, v in H.BEFORE_OF.items()}.get(impl)
                vs_base = f"{med[impl] / med[before]:.2f}" if before in med else ""
                print(f"| {api} | {size} | {impl} | {med[impl]:.2f} | {vs_uv} | {vs_base} |")
    print(f"\nMedians of {a.repeat} interleaved round(s), one process per measurement.")
    for n in notes:
        print(f"Note: {n}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""TCP echo benchmark (vmbench style): asyncio vs uvloop vs coroloop servers.

The echo server runs in its own process on one implementation's loop, with one of
three server APIs:

  protocol  loop.create_server() with a Protocol whose data_received() writes the
            data back
  streams   aio.start_server(); the handler loops reader.read(64 KiB) /
            writer.write() / await writer.drain()   (aio = asyncio for asyncio and
            uvloop, coroloop for coroloop)
  sock      loop.sock_accept() on a listening socket; one task per connection
            looping loop.sock_recv(64 KiB) / await loop.sock_sendall()

The load is the same for every implementation: --clients processes (default 2),
each with --conns blocking-socket connections (default 2, one thread each),
doing ping-pong -- send a SIZE-byte message, read SIZE bytes back, check they
are equal, repeat.  A request is one round trip.

Reported per (api, size, implementation), as medians of --repeat interleaved
rounds: req/s, and the server process's CPU time (user+sys, getrusage) per
request, with the user/sys split and the server's CPU utilisation.  Ratios are
against stdlib asyncio: req/s ratio >1 and CPU/req ratio <1 mean faster.

  python benchmarks/net/echo.py                 # ~2.5 min on 2 cores
  python benchmarks/net/echo.py --quick         # smoke run, ~20 s
  python benchmarks/net/echo.py --api protocol --size 1024 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as H  # noqa: E402

APIS = ("protocol", "streams", "sock")
SIZES = (1024, 10 * 1024, 100 * 1024)
READ_SIZE = 64 * 1024


# -- server process ------------------------------------------------------------------

def serve(impl, api):
    aio, new_loop = H.make_impl(impl)
    loop = new_loop()
    lsock = H.listening_socket()
    # Read before the loop takes the socket: rloop's create_server(sock=) takes over
    # the descriptor and closes the Python socket object.
    port = lsock.getsockname()[1]
    conns = set()

    class EchoProtocol(aio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.transport.write(data)

    async def stream_handler(reader, writer):
        try:
            while True:
                data = await reader.read(READ_SIZE)
                if not data:
                    break
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def sock_conn(sock):
        with sock:
            try:
                while True:
                    data = await loop.sock_recv(sock, READ_SIZE)
                    if not data:
                        break
                    await loop.sock_sendall(sock, data)
            except ConnectionError:
                pass

    async def sock_accept_loop():
        while True:
            sock, _ = await loop.sock_accept(lsock)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = aio.create_task(sock_conn(sock))
            conns.add(task)
            task.add_done_callback(conns.discard)

    async def main():
        stop = loop.create_future()
        server = acceptor = None
        if api == "protocol":
            server = await loop.create_server(EchoProtocol, sock=lsock)
        elif api == "streams":
            server = await aio.start_server(stream_handler, sock=lsock)
        elif api == "sock":
            lsock.setblocking(False)
            acceptor = aio.create_task(sock_accept_loop())
        else:
            raise ValueError(f"unknown api {api!r}")
        H.start_control(lambda: loop.call_soon_threadsafe(
            lambda: stop.done() or stop.set_result(None)))
        H.emit({"port": port})
        await stop
        if server is not None:
            server.close()
        if acceptor is not None:
            acceptor.cancel()
        for t in list(conns):
            t.cancel()
        await aio.sleep(0)

    try:
        loop.run_until_complete(main())
    except BaseException as exc:
        H.emit({"error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        loop.close()


# -- client process ------------------------------------------------------------------

def message(size):
    pattern = bytes(range(256))
    return (pattern * (size // 256 + 1))[:size]


def client(port, size, conns):
    msg = message(size)

    def conn(state):
        with socket.create_connection((H.HOST, port), timeout=15) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buf = bytearray(size)
            view = memoryview(buf)
            recv_into, sendall, now = s.recv_into, s.sendall, time.monotonic
            while True:
                sendall(msg)
                got = 0
                while got < size:
                    n = recv_into(view[got:])
                    if not n:
                        raise ConnectionError("server closed the connection")
                    got += n
                if buf != msg:
                    raise AssertionError("echoed data differs from what was sent")
                if not state.tick(now()):
                    break

    H.run_client(conn, conns)


# -- orchestrator ----------------------------------------------------------------------

_DURATION = (1.0, 0.4)  # measured window, s: (default, --quick)
_WARMUP = (0.3, 0.2)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    H.add_common_arguments(p, conns_help="connections per client process",
                           duration=_DURATION, warmup=_WARMUP)
    p.add_argument("--api", action="append", choices=APIS, help="server API (repeatable)")
    p.add_argument("--size", action="append", type=int, help="message size (repeatable)")
    p.add_argument("--serve", nargs=2, metavar=("IMPL", "API"), help=argparse.SUPPRESS)
    a = H.finish_common_arguments(p.parse_args(argv), duration=_DURATION, warmup=_WARMUP)
    a.apis = a.api or list(APIS)
    a.sizes = a.size or list(SIZES)
    return a


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.serve:
        return serve(*args.serve)
    if args.client:
        return client(**json.loads(args.client))

    impls, notes = H.available_impls(args.impl)

    command = H.header_lines(argv, Path(sys.argv[0]))
    print(f"Load:    {args.clients} client processes x {args.conns} blocking connections, "
          f"ping-pong; window {args.duration:g} s after {args.warmup:g} s warm-up; "
          f"{args.repeat} round(s)")
    sys.stdout.flush()
    me = str(Path(__file__).resolve())
    samples = {(api, size, impl): [] for api in args.apis for size in args.sizes for impl in impls}
    failed = {}
    started = time.monotonic()
    total, done = len(samples) * args.repeat, 0
    for rnd in range(1, args.repeat + 1):
        for api in args.apis:
            for impl in impls:
                todo = [s for s in args.sizes if (api, s, impl) not in failed]
                if not todo:
                    done += len(args.sizes)
                    continue
                try:
                    server = H.ServerProc([sys.executable, me, "--serve", impl, api])
                except H.ProcError as exc:
                    for s in todo:
                        failed[(api, s, impl)] = str(exc)
                    done += len(args.sizes)
                    print(f"round {rnd} {api:8} {impl:9} {exc}", file=sys.stderr, flush=True)
                    continue
                try:
                    for size in todo:
                        done += 1
                        key = (api, size, impl)

                        def cmd(size=size):
                            spec = dict(port=server.port, size=size, conns=args.conns)
                            return [sys.executable, me, "--client", json.dumps(spec)]
                        try:
                            res = H.measure_window(server, cmd, args.clients,
                                                   args.warmup, args.duration)
                        except H.ProcError as exc:
                            failed[key] = str(exc)
                            status = f"error: {exc}"
                            if server.proc.poll() is not None:
                                for s in todo:
                                    failed.setdefault((api, s, impl), str(exc))
                                break
                        else:
                            samples[key].append(res)
                            status = (f"{H.fmt_rate(res['rps'])} req/s, "
                                      f"{res['us_per_req']:.1f} µs CPU/req "
                                      f"({res['cpu_util']:.0%} CPU)")
                        print(f"[{done}/{total}] round {rnd} {api:8} {size:6} {impl:9} {status}",
                              file=sys.stderr, flush=True)
                finally:
                    note = server.quit()
                    if note:
                        note = f"{api}/{impl}: {note}"
                        if note not in notes:
                            notes.append(note)

    cells = {k: H.summarize(v, failed.get(k)) for k, v in samples.items()}
    keys = [(api, size) for api in args.apis for size in args.sizes]
    print()
    H.print_table(("api", "size"), [(a, _size_label(s)) for a, s in keys], impls,
                  {(a, _size_label(s), i): c for (a, s, i), c in cells.items()})
    print()
    print(f"Medians of {args.repeat} interleaved round(s); one server process per "
          f"(round, api, impl). server CPU = user+sys of the server process per request "
          f"(its CPU utilisation in the 'server CPU' column); CPU/req ratio <1 and req/s "
          f"ratio >1 mean better than asyncio. Total {time.monotonic() - started:.0f} s.")
    noisy = H.noisy_note(cells)
    if noisy:
        notes.append("noisy (max-min > 20% of median): " + ", ".join(noisy))
    for n in notes:
        print(f"Note: {n}")
    if args.json:
        H.write_json(args.json, command, {"bench": "echo", "repeat": args.repeat,
                                          "clients": args.clients, "conns": args.conns,
                                          "duration": args.duration}, cells)
    if args.check and "coroloop" in impls:
        bad = H.check_failed([(a, s) for a, s in keys], cells)
        if bad:
            print(f"Check failed: coroloop errors or uses more CPU/req than asyncio on: "
                  f"{', '.join(bad)}")
            return 1
    return 0


def _size_label(size):
    return f"{size // 1024} KiB" if size % 1024 == 0 else f"{size} B"


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""HTTP benchmark: uvicorn + Starlette on asyncio vs uvloop vs coroloop.

The server process creates the event loop itself (``new_event_loop()`` of the
implementation) and runs ``uvicorn.Server(config).serve(sockets=[sock])`` on it
with ``loop.run_until_complete`` -- uvicorn's own ``loop=`` option is not used,
so the same code path serves all three.  uvicorn and Starlette call stdlib
``asyncio`` functions (``asyncio.get_running_loop()``, anyio's task machinery),
so on coroloop this also exercises coroloop's loop under stdlib asyncio.

The app (access log off, log level warning, lifespan on) has two endpoints:

  plaintext  GET /plaintext -> 13-byte text/plain "Hello, world!"
  json       GET /json      -> a small JSON object (JSONResponse)

The load: --clients processes (default 2) x --conns keep-alive HTTP/1.1
connections (default 2, one thread each, blocking sockets, no pipelining); each
sends a GET, reads the response (Content-Length framed), checks status and body,
repeats.  Reported as medians of --repeat interleaved rounds: req/s and the
server process's CPU (user+sys, getrusage) per request, with ratios vs asyncio.

The HTTP parser is uvicorn's --http option (default "h11": pure Python, always
installed; "httptools" needs the httptools package).

  python benchmarks/net/httpbench.py            # ~1 min on 2 cores
  python benchmarks/net/httpbench.py --quick    # smoke run, ~10 s
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

ENDPOINTS = ("plaintext", "json")
PLAINTEXT = b"Hello, world!"
JSON_PAYLOAD = {"message": "Hello, world!", "id": 4, "tags": ["asyncio", "loop", "bench"],
                "ok": True, "score": 0.5}


def expected_body(endpoint):
    if endpoint == "plaintext":
        return PLAINTEXT
    # Starlette's JSONResponse.render(): compact separators, ensure_ascii=False
    return json.dumps(JSON_PAYLOAD, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":")).encode()


# -- server process ------------------------------------------------------------------

def make_app():
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    async def plaintext(request):
        return PlainTextResponse("Hello, world!")

    async def json_endpoint(request):
        return JSONResponse(JSON_PAYLOAD)

    return Starlette(routes=[Route("/plaintext", plaintext), Route("/json", json_endpoint)])


def serve(impl, http):
    import uvicorn
    aio, new_loop = H.make_impl(impl)
    loop = new_loop()
    sock = H.listening_socket()
    port = sock.getsockname()[1]  # before the loop takes the socket (rloop closes it)
    config = uvicorn.Config(make_app(), http=http, access_log=False, log_level="warning",
                            lifespan="on", server_header=False, date_header=False)
    server = uvicorn.Server(config)

    async def main():
        task = aio.ensure_future(server.serve(sockets=[sock]))
        while not server.started:           # startup done, sockets listening
            if task.done():
                task.result()
                raise RuntimeError("uvicorn exited during startup")
            await aio.sleep(0.01)
        H.start_control(lambda: setattr(server, "should_exit", True))
        H.emit({"port": port, "http": type(config.http_protocol_class).__name__
                if not isinstance(config.http_protocol_class, type)
                else config.http_protocol_class.__name__})
        await task

    try:
        loop.run_until_complete(main())
    except BaseException as exc:
        H.emit({"error": f"{type(exc).__name__}: {exc}"})
        raise
    finally:
        loop.close()


# -- client process ------------------------------------------------------------------

def client(port, endpoint, conns):
    request = (f"GET /{endpoint} HTTP/1.1\r\nHost: {H.HOST}:{port}\r\n"
               f"User-Agent: coroloop-bench\r\n\r\n").encode()
    body_expected = expected_body(endpoint)

    def conn(state):
        with socket.create_connection((H.HOST, port), timeout=15) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            recv, sendall, now = s.recv, s.sendall, time.monotonic
            buf = b""
            while True:
                sendall(request)
                while True:
                    end = buf.find(b"\r\n\r\n")
                    if end >= 0:
                        break
                    chunk = recv(65536)
                    if not chunk:
                        raise ConnectionError("server closed the connection")
                    buf += chunk
                head = buf[:end].decode("latin-1").split("\r\n")
                status = head[0].split(" ", 2)
                if len(status) < 2 or status[1] != "200":
                    raise AssertionError(f"unexpected status line {head[0]!r}")
                length = None
                for h in head[1:]:
                    name, _, value = h.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if length is None:
                    raise AssertionError("response without Content-Length")
                need = end + 4 + length
                while len(buf) < need:
                    chunk = recv(65536)
                    if not chunk:
                        raise ConnectionError("server closed the connection")
                    buf += chunk
                if buf[end + 4:need] != body_expected:
                    raise AssertionError(f"unexpected body {buf[end + 4:need][:80]!r}")
                buf = buf[need:]
                if buf:
                    raise AssertionError("extra bytes after the response")
                if not state.tick(now()):
                    break

    H.run_client(conn, conns)


# -- orchestrator ----------------------------------------------------------------------

_DURATION = (2.0, 0.5)  # measured window, s: (default, --quick)
_WARMUP = (0.5, 0.3)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    H.add_common_arguments(p, conns_help="keep-alive connections per client process",
                           duration=_DURATION, warmup=_WARMUP)
    p.add_argument("--endpoint", action="append", choices=ENDPOINTS, help="(repeatable)")
    p.add_argument("--http", default="h11", help="uvicorn HTTP parser: h11 (default), "
                   "httptools (if installed), auto")
    p.add_argument("--serve", nargs=2, metavar=("IMPL", "HTTP"), help=argparse.SUPPRESS)
    a = H.finish_common_arguments(p.parse_args(argv), duration=_DURATION, warmup=_WARMUP)
    a.endpoints = a.endpoint or list(ENDPOINTS)
    return a


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.serve:
        return serve(*args.serve)
    if args.client:
        return client(**json.loads(args.client))

    import importlib.util
    impls, notes = H.available_impls(args.impl)
    for mod in ("uvicorn", "starlette"):
        if importlib.util.find_spec(mod) is None:
            print(f"{mod} is not installed for {sys.executable}; skipping the HTTP benchmark "
                  f"(pip install uvicorn starlette)")
            return 0

    command = H.header_lines(argv, Path(sys.argv[0]))
    import starlette
    import uvicorn
    print(f"Server:  uvicorn {uvicorn.__version__} (--http {args.http}) + "
          f"Starlette {starlette.__version__}, access log off")
    print(f"Load:    {args.clients} client processes x {args.conns} keep-alive connections, "
          f"one request at a time; window {args.duration:g} s after {args.warmup:g} s "
          f"warm-up; {args.repeat} round(s)")
    sys.stdout.flush()
    me = str(Path(__file__).resolve())
    samples = {(ep, impl): [] for ep in args.endpoints for impl in impls}
    failed = {}
    started = time.monotonic()
    total, done = len(samples) * args.repeat, 0
    for rnd in range(1, args.repeat + 1):
        for impl in impls:
            todo = [e for e in args.endpoints if (e, impl) not in failed]
            if not todo:
                done += len(args.endpoints)
                continue
            try:
                server = H.ServerProc([sys.executable, me, "--serve", impl, args.http])
            except H.ProcError as exc:
                for e in todo:
                    failed[(e, impl)] = str(exc)
                done += len(args.endpoints)
                print(f"round {rnd} {impl:9} {exc}", file=sys.stderr, flush=True)
                continue
            try:
                for ep in todo:
                    done += 1

                    def cmd(ep=ep):
                        spec = dict(port=server.port, endpoint=ep, conns=args.conns)
                        return [sys.executable, me, "--client", json.dumps(spec)]
                    try:
                        res = H.measure_window(server, cmd, args.clients,
                                               args.warmup, args.duration)
                    except H.ProcError as exc:
                        failed[(ep, impl)] = str(exc)
                        status = f"error: {exc}"
                        if server.proc.poll() is not None:
                            for e in todo:
                                failed.setdefault((e, impl), str(exc))
                            break
                    else:
                        samples[(ep, impl)].append(res)
                        status = (f"{H.fmt_rate(res['rps'])} req/s, "
                                  f"{res['us_per_req']:.1f} µs CPU/req "
                                  f"({res['cpu_util']:.0%} CPU)")
                    print(f"[{done}/{total}] round {rnd} {ep:10} {impl:9} {status}",
                          file=sys.stderr, flush=True)
            finally:
                note = server.quit()
                if note:
                    note = f"{impl}: {note}"
                    if note not in notes:
                        notes.append(note)

    cells = {k: H.summarize(v, failed.get(k)) for k, v in samples.items()}
    keys = [(ep,) for ep in args.endpoints]
    print()
    H.print_table(("endpoint",), keys, impls, cells)
    print()
    print(f"Medians of {args.repeat} interleaved round(s); one server process per "
          f"(round, impl). server CPU = user+sys of the server process per request; "
          f"CPU/req ratio <1 and req/s ratio >1 mean better than asyncio. "
          f"Total {time.monotonic() - started:.0f} s.")
    noisy = H.noisy_note(cells)
    if noisy:
        notes.append("noisy (max-min > 20% of median): " + ", ".join(noisy))
    for n in notes:
        print(f"Note: {n}")
    if args.json:
        H.write_json(args.json, command, {"bench": "http", "repeat": args.repeat,
                                          "http": args.http, "clients": args.clients,
                                          "conns": args.conns, "duration": args.duration},
                     cells)
    if args.check and "coroloop" in impls:
        bad = H.check_failed(keys, cells)
        if bad:
            print(f"Check failed: coroloop errors or uses more CPU/req than asyncio on: "
                  f"{', '.join(bad)}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Shared machinery of the network benchmarks (echo.py, httpbench.py).

Three kinds of processes take part in a measurement:

* the **orchestrator** (``python benchmarks/net/echo.py``) starts servers and
  clients, tells them *when* to measure and prints the tables;
* one **server** process per (round, api, implementation): it binds
  127.0.0.1:0, prints its port, serves on its own event loop in the main thread
  and runs a small control thread that reads commands from stdin;
* a fixed number of **client** processes per measurement, each with a fixed
  number of blocking-socket connections (one thread each) doing ping-pong.
  Clients use only the standard library's blocking sockets, so the client load
  is identical whatever loop the server runs.

A measurement is a time window ``[t0, t1)`` on the system-wide monotonic clock
(CLOCK_MONOTONIC is shared by all processes on Linux).  The clients connect and
report "ready" once every connection has completed a request; the orchestrator
then opens the window ``--warmup`` seconds later and sends ``window t0 t1 t_end``
to the clients and the server.  Clients count the requests *completed* inside
the window and keep the load on until t_end (a little after t1), so the server
is loaded during the whole window; the server's control thread sleeps until t0,
takes ``resource.getrusage(RUSAGE_SELF)``, sleeps until t1 and takes it again.

    req/s            = requests completed in the window / window length
    server CPU/req   = (user + sys CPU seconds of the server) / server wall
                       seconds / (req/s)

The CPU figure is per request, so it is less sensitive than req/s to the
clients competing with the server for the machine's cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import select
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

IMPLS = ("asyncio", "uvloop", "rloop", "coroloop")
# Peer loops from PyPI, skipped with a note where they do not import.
PEERS = ("uvloop", "rloop")
# --compiled SITE: implementation "coroloop-compiled", the compiled build installed in
# SITE (a site-packages directory), which the server process puts first on sys.path.
COMPILED_ENV = "COROLOOP_BENCH_COMPILED"
# --baseline SRC: implementation "baseline", the coroloop package of another source tree
# (e.g. the src/ of a checkout of main): a change's "before", measured in the same rounds.
BASELINE_ENV = "COROLOOP_BENCH_BASELINE"
# --baseline-compiled SITE: implementation "baseline-compiled", the compiled build of the
# "before" installed in SITE, compared with coroloop-compiled in the same rounds.
BASELINE_COMPILED_ENV = "COROLOOP_BENCH_BASELINE_COMPILED"
PREFIX = "@@net-bench "
HOST = "127.0.0.1"


# -- implementations (same mapping as benchmarks/run.py) ---------------------------

def make_impl(name):
    """Return (aio module, loop factory) for an implementation name."""
    if name == "asyncio":
        import asyncio as aio
        return aio, aio.new_event_loop
    if name in PEERS:
        import asyncio as aio
        return aio, importlib.import_module(name).new_event_loop
    if name in ("coroloop-compiled", "baseline-compiled"):
        site = COMPILED_ENV if name == "coroloop-compiled" else BASELINE_COMPILED_ENV
        sys.path.insert(0, os.environ[site])
        import coroloop as aio
        if not aio.COMPILED:
            raise RuntimeError(f"coroloop from {aio.__file__} is not the compiled build")
        return aio, aio.new_event_loop
    if name == "baseline":
        sys.path.insert(0, os.environ[BASELINE_ENV])
        import coroloop as aio
        return aio, aio.new_event_loop
    if name == "coroloop":
        import coroloop as aio
        return aio, aio.new_event_loop
    raise ValueError(f"unknown implementation {name!r}; choose from {', '.join(IMPLS)}")


def emit(obj):
    sys.stdout.write(PREFIX + json.dumps(obj) + "\n")
    sys.stdout.flush()


def listening_socket():
    import socket
    # proto=IPPROTO_TCP as getaddrinfo() gives create_server(host, port): stdlib
    # asyncio (3.11) sets TCP_NODELAY on accepted sockets only when sock.proto is
    # IPPROTO_TCP, and without it HTTP responses written in two pieces wait ~40 ms
    # (Nagle + delayed ACK).  uvloop and coroloop set it regardless.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    sock.listen(128)
    return sock


# -- server side ---------------------------------------------------------------------

def _sleep_until(t):
    while True:
        d = t - time.monotonic()
        if d <= 0:
            return
        time.sleep(d)


def start_control(stop):
    """Run the control thread of a server process.

    Commands on stdin, one per line:
      ``window T0 T1`` -- sleep until T0, getrusage, sleep until T1, getrusage,
                          print the difference;
      ``quit`` (or EOF) -- call ``stop()`` (which must be thread-safe, e.g. via
                          loop.call_soon_threadsafe).
    """
    def run():
        try:
            for line in sys.stdin:
                cmd = line.split()
                if not cmd:
                    continue
                if cmd[0] == "window":
                    t0, t1 = float(cmd[1]), float(cmd[2])
                    _sleep_until(t0)
                    w0 = time.monotonic()
                    r0 = resource.getrusage(resource.RUSAGE_SELF)
                    _sleep_until(t1)
                    w1 = time.monotonic()
                    r1 = resource.getrusage(resource.RUSAGE_SELF)
                    emit({"user": r1.ru_utime - r0.ru_utime, "sys": r1.ru_stime - r0.ru_stime,
                          "wall": w1 - w0, "late": w0 - t0,
                          "ctx_vol": r1.ru_nvcsw - r0.ru_nvcsw,
                          "ctx_invol": r1.ru_nivcsw - r0.ru_nivcsw})
                elif cmd[0] == "quit":
                    break
        finally:
            stop()
    threading.Thread(target=run, name="bench-control", daemon=True).start()


# -- client side ---------------------------------------------------------------------

def run_client(conn_fn, conns):
    """In a client process: run ``conn_fn(state)`` in ``conns`` threads.

    ``conn_fn(state)`` connects, then does one request after another; after each
    completed request it calls ``state.tick(time.monotonic())``, and stops when
    that returns False.  Once every connection has completed a request the
    process prints a ``{"ready": ...}`` line; the orchestrator answers on stdin
    with ``window T0 T1 T_END``.  Requests completed in [T0, T1) are counted; the
    load continues until T_END.  Finally prints {"requests": N, ...}.
    """
    inf = float("inf")
    states = [_ConnState() for _ in range(conns)]
    threads = [threading.Thread(target=_guard, args=(conn_fn, s), daemon=True)
               for s in states]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 30
    while any(s.ready is None and s.error is None for s in states):
        if time.monotonic() > deadline:
            break
        time.sleep(0.005)
    errors = [s.error for s in states if s.error]
    if errors or any(s.ready is None for s in states):
        emit({"error": errors[0] if errors else "connections not ready within 30 s"})
        for s in states:
            s.t0, s.t1, s.t_end = 0.0, 0.0, 0.0     # stop the others
        return
    emit({"ready": max(s.ready for s in states)})
    line = sys.stdin.readline().split()
    if not line or line[0] != "window":
        t0 = t1 = t_end = 0.0
    else:
        t0, t1, t_end = map(float, line[1:4])
    for s in states:
        s.t1, s.t_end = t1, t_end
        s.t0 = t0                       # last: tick() looks at t0 first
    for th in threads:
        th.join(max(t_end - time.monotonic(), 0) + 20)
    errors = [s.error for s in states if s.error]
    out = {"requests": sum(s.count for s in states), "per_conn": [s.count for s in states]}
    if errors:
        out["error"] = errors[0]
    elif any(th.is_alive() for th in threads):
        out["error"] = "a connection did not finish within 20 s of the end of the load"
    emit(out)


class _ConnState:
    __slots__ = ("t0", "t1", "t_end", "count", "ready", "error")

    def __init__(self):
        inf = float("inf")
        self.t0 = self.t1 = self.t_end = inf
        self.count = 0
        self.ready = None   # time the first request completed
        self.error = None

    def tick(self, now):
        if self.ready is None:
            self.ready = now
        if now < self.t0:
            return True
        if now < self.t1:
            self.count += 1
            return True
        return now < self.t_end


def _guard(conn_fn, state):
    try:
        conn_fn(state)
    except BaseException as exc:
        state.error = f"{type(exc).__name__}: {exc}"


# -- orchestrator side ---------------------------------------------------------------

class ProcError(Exception):
    pass


class _Lines:
    """Read PREFIX result lines from a subprocess's stdout with a deadline."""

    def __init__(self, proc):
        self.proc = proc
        self.fd = proc.stdout.fileno()
        self.buf = b""

    def next_result(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                text = line.decode("utf-8", "replace")
                if text.startswith(PREFIX):
                    return json.loads(text[len(PREFIX):])
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProcError(f"no answer within {timeout:g} s")
            r, _, _ = select.select([self.fd], [], [], remaining)
            if r:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    raise ProcError("exited without answering")
                self.buf += chunk


def _stderr_tail(f, n=1):
    try:
        f.seek(0)
        lines = [l for l in f.read().decode("utf-8", "replace").splitlines() if l.strip()]
    except Exception:
        return ""
    return " | ".join(lines[-n:])


class ServerProc:
    """A server subprocess speaking the control protocol of start_control()."""

    def __init__(self, cmd, start_timeout=30.0):
        self.cmd = cmd
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr)
        self.lines = _Lines(self.proc)
        try:
            hello = self.lines.next_result(start_timeout)
        except ProcError as exc:
            self.kill()
            raise ProcError(f"server {exc}: {_stderr_tail(self.stderr, 3)}") from None
        if "error" in hello:
            self.kill()
            raise ProcError(f"server: {hello['error']}")
        self.info = hello
        self.port = hello["port"]

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def window(self, t0, t1, timeout):
        self.send(f"window {t0!r} {t1!r}")
        try:
            return self.lines.next_result(timeout)
        except ProcError as exc:
            raise ProcError(f"server {exc}: {_stderr_tail(self.stderr, 3)}") from None

    def quit(self, timeout=10.0):
        """Stop the server; return None or a note if it did not exit cleanly."""
        try:
            self.send("quit")
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return f"server did not exit within {timeout:g} s after quit (killed)"
        finally:
            self.proc.stdout.close()
        if rc != 0:
            return f"server exited {rc}: {_stderr_tail(self.stderr, 2)}"
        tail = _stderr_tail(self.stderr, 2)
        if "Traceback" in _stderr_tail(self.stderr, 1000):
            return f"server printed a traceback: {tail}"
        return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def measure_window(server, client_cmd, n_clients, warmup, duration, timeout=30.0):
    """One measurement: start n_clients client processes, time a window.

    ``client_cmd()`` returns the argv of one client process.  Once every client
    is connected and has completed a request, the window opens ``warmup``
    seconds later and lasts ``duration`` seconds.
    Returns a dict with rps, us_per_req, user/sys us per request, cpu utilisation.
    Raises ProcError on any failure (server died, client error, client timeout).
    """
    errs = [tempfile.TemporaryFile() for _ in range(n_clients)]
    clients = [subprocess.Popen(client_cmd(), stdout=subprocess.PIPE, stdin=subprocess.PIPE,
                                stderr=errs[k])
               for k in range(n_clients)]
    readers = [_Lines(c) for c in clients]

    def result(k, timeout):
        try:
            res = readers[k].next_result(timeout)
        except ProcError as exc:
            raise ProcError(f"client {exc}: {_stderr_tail(errs[k], 2)}") from None
        if "error" in res:
            raise ProcError(f"client: {res['error']}")
        return res

    try:
        for k in range(n_clients):
            result(k, timeout)                       # {"ready": ...}
        t0 = time.monotonic() + warmup
        t1 = t0 + duration
        t_end = t1 + 0.1
        for c in clients:
            c.stdin.write(f"window {t0!r} {t1!r} {t_end!r}\n".encode())
            c.stdin.flush()
        srv = server.window(t0, t1, timeout=t1 - time.monotonic() + timeout)
        results = [result(k, max(t_end - time.monotonic(), 0) + timeout)
                   for k in range(n_clients)]
        for c in clients:
            c.wait(timeout)
    finally:
        for c in clients:
            if c.poll() is None:
                c.kill()
                c.wait()
            c.stdout.close()
            try:
                c.stdin.close()
            except OSError:
                pass
    reqs = sum(r["requests"] for r in results)
    if reqs == 0:
        raise ProcError("no request completed in the window")
    rps = reqs / duration
    per_sec = lambda x: x / srv["wall"]
    return {
        "requests": reqs, "rps": rps,
        "us_per_req": per_sec(srv["user"] + srv["sys"]) / rps * 1e6,
        "user_us": per_sec(srv["user"]) / rps * 1e6,
        "sys_us": per_sec(srv["sys"]) / rps * 1e6,
        "cpu_util": per_sec(srv["user"] + srv["sys"]),
        "late_ms": srv["late"] * 1e3,
        "per_conn": [n for r in results for n in r["per_conn"]],
    }


# -- results and tables --------------------------------------------------------------

METRICS = ("rps", "us_per_req", "user_us", "sys_us", "cpu_util")


def summarize(samples, failure):
    if failure:
        return {"error": failure}
    if not samples:
        return None
    cell = {m: statistics.median(s[m] for s in samples) for m in METRICS}
    rps = [s["rps"] for s in samples]
    cpu = [s["us_per_req"] for s in samples]
    cell["rps_spread"] = (max(rps) - min(rps)) / cell["rps"]
    cell["cpu_spread"] = (max(cpu) - min(cpu)) / cell["us_per_req"]
    cell["samples"] = samples
    return cell


def fmt_rate(v):
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.0f}"


#: The implementation each "before" is compared with.
BEFORE_OF = {"baseline": "coroloop", "baseline-compiled": "coroloop-compiled"}


def print_table(key_names, keys, impls, cells):
    """cells[(key..., impl)] -> summarized cell; one row per (key, impl).

    CPU/req ratios against asyncio, and -- when they ran -- against uvloop (the
    target peer) and, on coroloop's rows, against the baseline (a change's before).
    """
    extra = [peer for peer in ("uvloop", "baseline", "baseline-compiled") if peer in impls]
    header = list(key_names) + ["impl", "req/s", "server CPU µs/req", "user / sys µs",
                                "server CPU", "req/s vs asyncio", "CPU/req vs asyncio"]
    header += [f"CPU/req vs {peer}" for peer in extra]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if k <= len(key_names) else "---:"
                         for k in range(len(header))) + "|")

    def cpu_ratio(c, ref):
        if ref and "us_per_req" in ref:
            return f"{c['us_per_req'] / ref['us_per_req']:.2f}"
        return ""

    for key in keys:
        base = cells.get((*key, "asyncio"))
        for impl in impls:
            c = cells.get((*key, impl))
            row = [str(k) for k in key] + [impl]
            if c is None:
                row += ["—"] * (6 + len(extra))
            elif "error" in c:
                msg = c["error"].replace("|", "\\|").replace("\n", " ")
                row += [f"n/a ({msg[:80]})"] + [""] * (5 + len(extra))
            else:
                row += [fmt_rate(c["rps"]), f"{c['us_per_req']:.1f}",
                        f"{c['user_us']:.1f} / {c['sys_us']:.1f}", f"{c['cpu_util']:.0%}"]
                if impl != "asyncio" and base and "rps" in base:
                    row += [f"{c['rps'] / base['rps']:.2f}x", cpu_ratio(c, base)]
                else:
                    row += ["", ""]
                for peer in extra:
                    mine = impl == BEFORE_OF.get(peer) or \
                        peer == "uvloop" and impl.startswith(("coroloop", "baseline"))
                    row.append(cpu_ratio(c, cells.get((*key, peer))) if mine else "")
            print("| " + " | ".join(row) + " |")


def noisy_note(cells, limit=0.2):
    out = []
    for key, c in cells.items():
        if c and "cpu_spread" in c and (c["cpu_spread"] > limit or c["rps_spread"] > limit):
            out.append(f"{'/'.join(map(str, key))} (req/s ±{c['rps_spread'] / 2:.0%}, "
                       f"CPU ±{c['cpu_spread'] / 2:.0%})")
    return out


def add_common_arguments(p, *, conns_help, duration, warmup):
    """The options every network benchmark takes.  *duration* and *warmup* are
    (default, quick) pairs in seconds."""
    p.add_argument("--repeat", type=int, help="interleaved rounds (default 3; --quick: 1)")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 round, short windows")
    p.add_argument("--impl", default=",".join(IMPLS), help="comma-separated implementations")
    p.add_argument("--clients", type=int, default=2, help="client processes (default 2)")
    p.add_argument("--conns", type=int, default=2, help=f"{conns_help} (default 2)")
    p.add_argument("--duration", type=float,
                   help=f"measured window, s (default {duration[0]}; quick {duration[1]})")
    p.add_argument("--warmup", type=float,
                   help=f"load before the window, s (default {warmup[0]}; quick {warmup[1]})")
    p.add_argument("--json", metavar="FILE", help="also write all samples to FILE")
    p.add_argument("--compiled", metavar="SITE",
                   help="also run the compiled build of coroloop installed in SITE (a "
                        "site-packages directory) as implementation 'coroloop-compiled'")
    p.add_argument("--baseline", metavar="SRC",
                   help="also run the coroloop package in the source directory SRC (e.g. "
                        "/tmp/main/src, a checkout of main) as implementation 'baseline', "
                        "with a CPU/req vs baseline column")
    p.add_argument("--baseline-compiled", metavar="SITE",
                   help="also run the compiled build installed in SITE (the before of "
                        "--compiled) as implementation 'baseline-compiled'")
    p.add_argument("--check", action="store_true",
                   help="exit 1 if coroloop errors or uses more server CPU/req than asyncio")
    p.add_argument("--client", metavar="JSON", help=argparse.SUPPRESS)


def finish_common_arguments(a, *, duration, warmup):
    """Fill the defaults that depend on --quick (see add_common_arguments)."""
    a.repeat = a.repeat or (1 if a.quick else 3)
    if a.compiled:
        os.environ[COMPILED_ENV] = os.path.abspath(a.compiled)  # the servers inherit it
        if "coroloop-compiled" not in a.impl.split(","):
            a.impl += ",coroloop-compiled"
    if a.baseline:
        os.environ[BASELINE_ENV] = os.path.abspath(a.baseline)
        if "baseline" not in a.impl.split(","):
            a.impl += ",baseline"
    if a.baseline_compiled:
        os.environ[BASELINE_COMPILED_ENV] = os.path.abspath(a.baseline_compiled)
        if "baseline-compiled" not in a.impl.split(","):
            a.impl += ",baseline-compiled"
    a.duration = a.duration or (duration[1] if a.quick else duration[0])
    a.warmup = a.warmup or (warmup[1] if a.quick else warmup[0])
    return a


def available_impls(spec):
    """The implementations named in --impl that can run here, and notes on the rest."""
    impls = [name.strip() for name in spec.split(",") if name.strip()]
    notes = []
    for peer in PEERS:
        if peer in impls and importlib.util.find_spec(peer) is None:
            impls.remove(peer)
            notes.append(f"{peer} is not installed; its rows are skipped")
    if "baseline" in impls and not os.environ.get(BASELINE_ENV):
        impls.remove("baseline")
        notes.append("baseline needs --baseline SRC; its rows are skipped")
    if "coroloop-compiled" in impls and not os.environ.get(COMPILED_ENV):
        impls.remove("coroloop-compiled")
        notes.append("coroloop-compiled needs --compiled SITE; its rows are skipped")
    if "baseline-compiled" in impls and not os.environ.get(BASELINE_COMPILED_ENV):
        impls.remove("baseline-compiled")
        notes.append("baseline-compiled needs --baseline-compiled SITE; its rows are skipped")
    return impls, notes


def header_lines(argv, script):
    import platform
    command = " ".join(shlex.quote(a) for a in [sys.executable, str(script)] + list(argv))
    print(f"Command: `{command}`")
    print(f"Python:  {sys.version.split()[0]} ({platform.python_implementation()}, "
          f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs)")
    sys.stdout.flush()
    return command


def write_json(path, command, extra, cells):
    import platform
    out = {"command": command, "python": sys.version, "platform": platform.platform(),
           **extra,
           "results": [{"key": list(k), **(c or {})} for k, c in cells.items()]}
    Path(path).write_text(json.dumps(out, indent=2) + "\n")
    print(f"Wrote {path}")


def check_failed(keys, cells):
    """Keys where coroloop errors or spends more server CPU per request than asyncio."""
    bad = []
    for key in keys:
        c, a = cells.get((*key, "coroloop")), cells.get((*key, "asyncio"))
        if c and "error" in c:
            bad.append("/".join(map(str, key)))
        elif c and a and "us_per_req" in c and "us_per_req" in a \
                and c["us_per_req"] > a["us_per_req"]:
            bad.append("/".join(map(str, key)))
    return bad

#!/usr/bin/env python3
"""Run coroloop's benchmarks on stdlib asyncio, uvloop, rloop and coroloop, side by side.

Every measurement runs in its own subprocess (``run.py --worker IMPL BENCH``),
so implementations cannot interfere through imported modules, event-loop
policies, the GC heap or leftover tasks.  Rounds are interleaved -- round 1 runs
every benchmark on asyncio, uvloop, coroloop in turn, then round 2, ... -- so a
drift in machine speed (thermal throttling, a noisy neighbour) hits every
implementation alike instead of biasing whichever ran last.

Each benchmark is a module ``bench_NAME.py`` next to this file defining::

    DESCRIPTION  one line for the table's legend
    SIZE         workload size of a normal run (QUICK_SIZE for --quick)
    REQUIRES     names the ``aio`` module must provide, e.g. ("eager_task_factory",)
    ORDER        sort key for the table
    warmup_size(size) -> int   optional; default size // 10 (0 = no warm-up)
    run(aio, loop, size) -> int
        runs the workload on ``loop`` (via loop.run_until_complete) using the
        functions of module ``aio`` and returns the number of operations done;
        raises if the result is wrong, so a broken loop cannot post a fast time.

The worker runs the workload once at ``warmup_size(size)`` to warm up, then once
timed at full size on the same loop; ops/s = operations / wall time.  The table
shows the median over --repeat rounds.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
IMPLS = ("asyncio", "uvloop", "rloop", "coroloop", "coroloop+debug")
# "coroloop+debug": coroloop with the debugging tools on every loop -- the task graph
# (coroloop.debug.TaskMonitor), the blocking detector and deadlock detection (issue 9's
# "debug on" budget: <= 5% on async_tree, <= 10% on the worst micro benchmark).
# "coroloop+detectors" (not run by default): the two detectors without the task graph.
# "coroloop+serve" (not run by default): coroloop with the monitor endpoint serving
# the loop (coroloop.debug.serve(): issue 10's cost of being attachable).
EXTRA_IMPLS = ("coroloop+detectors", "coroloop+serve")
# Peer loops from PyPI: each is a column where it imports, skipped with a note where not.
PEERS = {"uvloop": "`pip install uvloop`", "rloop": "`pip install rloop` (Rust; wheels for "
         "some platforms only)"}
# Implementations that are coroloop imported from another directory, put first on the
# worker's PYTHONPATH, so they are measured in the same interleaved rounds:
# --baseline SRC: "baseline", e.g. the src/ of a checkout of main (a change's before);
# --compiled SITE: "coroloop-compiled", the compiled build (setup.py) installed in SITE,
# e.g. .venv-compiled's site-packages, as `make bench` passes it.
TREE_OPTIONS = {"baseline": "--baseline", "coroloop-compiled": "--compiled"}
TREE_ENV = "COROLOOP_BENCH_TREE"
# The table's ratio columns (numerator/denominator), those whose both are measured.
RATIOS = (("coroloop", "asyncio"), ("coroloop", "uvloop"), ("coroloop", "rloop"),
          ("coroloop", "baseline"), ("coroloop+debug", "coroloop"),
          ("coroloop+detectors", "coroloop"), ("coroloop+serve", "coroloop"),
          ("coroloop-compiled", "asyncio"),
          ("coroloop-compiled", "uvloop"), ("coroloop-compiled", "rloop"),
          ("coroloop-compiled", "coroloop"))
RESULT_PREFIX = "@@coroloop-bench-result "


# -- implementations ---------------------------------------------------------------

def make_impl(name):
    """Return (aio module, loop factory) for an implementation name."""
    if name == "asyncio":
        import asyncio as aio
        return aio, aio.new_event_loop
    if name in PEERS:
        import asyncio as aio
        return aio, importlib.import_module(name).new_event_loop
    if name == "coroloop" or name in TREE_OPTIONS:
        import coroloop as aio
        expected = os.environ.get(TREE_ENV) if name in TREE_OPTIONS else None
        if expected and not Path(aio.__file__).resolve().is_relative_to(Path(expected).resolve()):
            raise RuntimeError(f"{name} coroloop came from {aio.__file__}, not {expected}")
        if name == "coroloop-compiled" and not aio.COMPILED:
            raise RuntimeError(f"coroloop from {expected} is not the compiled build "
                               "(coroloop.COMPILED is False)")
        return aio, aio.new_event_loop
    if name in ("coroloop+debug", "coroloop+detectors"):
        import coroloop as aio
        import coroloop.debug
        monitor = name == "coroloop+debug"
        return aio, lambda: with_debug_tools(aio.new_event_loop(), monitor=monitor)
    if name == "coroloop+serve":
        import coroloop as aio
        import coroloop.debug

        def served_loop():
            loop = aio.new_event_loop()
            aio.debug.serve(loop)
            return loop
        return aio, served_loop
    raise ValueError(f"unknown implementation {name!r}; choose from {', '.join(IMPLS)}")


def with_debug_tools(loop, monitor=True):
    """*loop* with coroloop.debug's task graph (*monitor*), blocking and deadlock
    detectors on (the watchdog thread ends when the loop closes)."""
    import coroloop.debug as debug
    if monitor:
        debug.TaskMonitor(loop).start()
    debug.watch_blocking(0.1, loop=loop)
    debug.detect_deadlocks(loop)
    return loop


# -- benchmark discovery -----------------------------------------------------------

def load_benchmark(name):
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return importlib.import_module(f"bench_{name}")


def discover():
    """All benchmark names, in ORDER."""
    names = [p.stem[len("bench_"):] for p in HERE.glob("bench_*.py")]
    return sorted(names, key=lambda n: (getattr(load_benchmark(n), "ORDER", 1000), n))


# -- worker: one measurement in this process ----------------------------------------

def provides(aio, name):
    """Has module *aio* the attribute *name*?  A dotted name's first part may be a
    submodule (``debug.TraceRecorder``: ``coroloop.debug``, imported if it exists)."""
    head, _, rest = name.partition(".")
    value = getattr(aio, head, None)
    if value is None and rest:
        try:
            value = importlib.import_module(f"{aio.__name__}.{head}")
        except ImportError:
            return False
    for part in rest.split(".") if rest else ():
        value = getattr(value, part, None)
    return value is not None


def worker(impl, bench_name, quick, cpu_time=False):
    """Measure one benchmark on one implementation; print a JSON result line."""
    result = {"impl": impl, "bench": bench_name}
    try:
        bench = load_benchmark(bench_name)
        aio, new_loop = make_impl(impl)
        missing = [n for n in getattr(bench, "REQUIRES", ()) if not provides(aio, n)]
        if missing:
            result["unsupported"] = f"{aio.__name__} lacks {', '.join(missing)}"
        else:
            size = bench.QUICK_SIZE if quick else bench.SIZE
            warmup = getattr(bench, "warmup_size", None)
            warmup_size = warmup(size) if warmup else size // 10
            loop = new_loop()
            try:
                if warmup_size > 0:
                    bench.run(aio, loop, warmup_size)
                gc.collect()
                # --cpu-time: this process's CPU time, which a loaded machine's other
                # processes disturb far less than the wall clock.
                clock = time.process_time if cpu_time else time.perf_counter
                start = clock()
                ops = bench.run(aio, loop, size)
                elapsed = clock() - start
            finally:
                loop.close()
            result.update(ops=ops, seconds=elapsed, ops_per_sec=ops / elapsed, size=size)
    except BaseException as exc:  # report anything, including SystemExit/KeyboardInterrupt
        result["error"] = f"{type(exc).__name__}: {exc}"
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


def measure(impl, bench_name, quick, timeout, trees=None, cpu_time=False):
    """Run one worker subprocess; return its result dict (with 'error' on failure)."""
    cmd = [sys.executable, str(HERE / "run.py"), "--worker", impl, bench_name]
    if quick:
        cmd.append("--quick")
    if cpu_time:
        cmd.append("--cpu-time")
    env = None
    if impl in TREE_OPTIONS:
        tree = trees[impl]
        env = dict(os.environ, **{TREE_ENV: tree})
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [tree, env.get("PYTHONPATH")]))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"impl": impl, "bench": bench_name, "error": f"timeout after {timeout:g} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"impl": impl, "bench": bench_name,
            "error": f"worker exited {proc.returncode}: {tail}"}


# -- formatting --------------------------------------------------------------------

def fmt_rate(value):
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"


def cell_text(cell):
    if cell is None:
        return "—"
    if "skipped" in cell:
        return f"skipped ({cell['skipped']})"
    if "unsupported" in cell:
        return f"n/a ({cell['unsupported']})"
    if "error" in cell:
        msg = cell["error"].replace("|", "\\|").replace("\n", " ")
        if len(msg) > 70:
            msg = msg[:67] + "..."
        return f"n/a (error {msg})"
    return fmt_rate(cell["median"])


def ratio_text(num, den):
    if not num or not den or "median" not in num or "median" not in den:
        return "n/a"
    return f"{num['median'] / den['median']:.2f}x"


def summarize(samples):
    """samples: list of result dicts of one (bench, impl) -> table cell dict."""
    rates = [s["ops_per_sec"] for s in samples if "ops_per_sec" in s]
    for s in samples:
        if "error" in s or "unsupported" in s or "skipped" in s:
            return dict(s)
    if not rates:
        return None
    med = statistics.median(rates)
    return {"median": med, "min": min(rates), "max": max(rates),
            "spread": (max(rates) - min(rates)) / med if med else 0.0,
            "samples": rates}


# -- main --------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=5, help="rounds per benchmark (default 5)")
    p.add_argument("--filter", action="append", metavar="NAME",
                   help="only benchmarks whose name contains NAME (repeatable)")
    p.add_argument("--quick", action="store_true",
                   help="small workloads and 3 rounds (unless --repeat is given)")
    p.add_argument("--impl", default=",".join(IMPLS),
                   help=f"comma-separated implementations (default {','.join(IMPLS)})")
    p.add_argument("--json", metavar="FILE", help="also write all samples to FILE")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds before a worker is killed (default 120)")
    p.add_argument("--baseline", metavar="SRC",
                   help="also measure the coroloop package found in SRC (a src/ directory, "
                        "e.g. of a checkout of main) as implementation 'baseline'")
    p.add_argument("--cpu-time", action="store_true",
                   help="time each run by the worker's CPU time (time.process_time) "
                        "instead of the wall clock: steadier on a loaded machine")
    p.add_argument("--compiled", metavar="SITE",
                   help="also measure the compiled build of coroloop installed in SITE (a "
                        "site-packages directory, e.g. .venv-compiled's) as implementation "
                        "'coroloop-compiled'")
    p.add_argument("--list", action="store_true", help="list benchmarks and exit")
    p.add_argument("--check", action="store_true",
                   help="exit 1 if coroloop errors or is slower than asyncio on any benchmark")
    p.add_argument("--worker", nargs=2, metavar=("IMPL", "BENCH"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick and "--repeat" not in " ".join(argv):
        args.repeat = 3
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.worker:
        return worker(args.worker[0], args.worker[1], args.quick, args.cpu_time)

    names = discover()
    if args.list:
        for n in names:
            print(f"{n:24} {load_benchmark(n).DESCRIPTION}")
        return 0
    if args.filter:
        names = [n for n in names if any(f in n for f in args.filter)]
        if not names:
            print(f"no benchmark matches {args.filter}", file=sys.stderr)
            return 2
    impls = [i.strip() for i in args.impl.split(",") if i.strip()]
    trees = {"baseline": args.baseline, "coroloop-compiled": args.compiled}
    for impl, option in TREE_OPTIONS.items():
        tree = trees[impl]
        if tree is None:
            continue
        if not (Path(tree) / "coroloop" / "__init__.py").is_file():
            print(f"{option} {tree}: no coroloop package there", file=sys.stderr)
            return 2
        if impl not in impls:
            impls.append(impl)
    for i in impls:
        if i in TREE_OPTIONS and trees[i] is None:
            print(f"implementation {i!r} needs {TREE_OPTIONS[i]} DIR", file=sys.stderr)
            return 2
        if i not in IMPLS + EXTRA_IMPLS and i not in TREE_OPTIONS:
            print(f"unknown implementation {i!r}; choose from {', '.join(IMPLS + EXTRA_IMPLS)}",
                  file=sys.stderr)
            return 2

    notes = []
    skipped = {}
    for peer, how in PEERS.items():
        if peer in impls and importlib.util.find_spec(peer) is None:
            skipped[peer] = f"{peer} not importable"
            notes.append(f"{peer} is not installed for this interpreter; its column is "
                         f"skipped ({how}).")

    command = " ".join(shlex.quote(a) for a in [sys.executable, str(Path(sys.argv[0]))] + argv)
    print(f"Command: `{command}`")
    print(f"Python:  {sys.version.split()[0]} ({platform.python_implementation()}, "
          f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs)")
    sys.stdout.flush()

    samples = {(b, i): [] for b in names for i in impls}
    dead = {}  # (bench, impl) -> first non-timing result; not re-run
    started = time.perf_counter()
    total = args.repeat * len(names) * len(impls)
    done = 0
    for rnd in range(1, args.repeat + 1):
        for bench in names:
            for impl in impls:
                done += 1
                key = (bench, impl)
                if impl in skipped:
                    dead[key] = {"skipped": skipped[impl]}
                    continue
                if key in dead:
                    continue
                res = measure(impl, bench, args.quick, args.timeout, trees, args.cpu_time)
                if "ops_per_sec" in res:
                    samples[key].append(res)
                    status = f"{fmt_rate(res['ops_per_sec'])} ops/s ({res['seconds']:.3f} s)"
                else:
                    dead[key] = res
                    status = res.get("error") or res.get("unsupported")
                print(f"[{done}/{total}] round {rnd} {bench:24} {impl:17} {status}",
                      file=sys.stderr, flush=True)

    cells = {}
    for key in samples:
        cells[key] = summarize([dead[key]] if key in dead else samples[key])

    print()
    header = ["benchmark"] + [f"{i} ops/s" for i in impls]
    ratios = [(n, d) for n, d in RATIOS if n in impls and d in impls]
    header += [f"{n}/{d}" for n, d in ratios]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if k == 0 else "---:" for k in range(len(header))) + "|")
    for bench in names:
        row = [bench] + [cell_text(cells[(bench, i)]) for i in impls]
        row += [ratio_text(cells[(bench, n)], cells[(bench, d)]) for n, d in ratios]
        print("| " + " | ".join(row) + " |")
    print()
    print(f"Medians of {args.repeat} interleaved rounds, one subprocess per measurement"
          f"{', timed by CPU time' if args.cpu_time else ''}"
          f"{' (--quick sizes)' if args.quick else ''}; ratios are throughput ratios, "
          f">1 means coroloop is faster. Total {time.perf_counter() - started:.0f} s.")
    noisy = [f"{b}/{i} ±{c['spread'] / 2:.0%}" for (b, i), c in cells.items()
             if c and "spread" in c and c["spread"] > 0.2]
    if noisy:
        notes.append("noisy (max-min > 20% of median): " + ", ".join(noisy))
    for note in notes:
        print(f"Note: {note}")

    if args.json:
        out = {
            "command": command,
            "python": sys.version,
            "platform": platform.platform(),
            "repeat": args.repeat,
            "quick": args.quick,
            "results": [
                {"bench": b, "impl": i, **(cells[(b, i)] or {}),
                 "runs": samples[(b, i)]}
                for b in names for i in impls
            ],
        }
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"Wrote {args.json}")
    if args.check and "coroloop" in impls:
        failed = [b for b in names if "error" in (cells[(b, "coroloop")] or {})]
        if "asyncio" in impls:
            failed += [b for b in names
                       if "median" in (cells[(b, "coroloop")] or {})
                       and "median" in (cells[(b, "asyncio")] or {})
                       and cells[(b, "coroloop")]["median"] < cells[(b, "asyncio")]["median"]]
        if failed:
            print(f"Check failed: coroloop errors or is slower than asyncio on: {', '.join(failed)}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

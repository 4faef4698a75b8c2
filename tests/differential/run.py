#!/usr/bin/env python3
"""Differential testing: the same generated programs on stdlib asyncio and on coroloop.

    python tests/differential/run.py                       # 300 programs, this Python
    python tests/differential/run.py --python python3.12 --python /path/python3.13
    python tests/differential/run.py --count 5000 --seed 100000     # a longer run
    python tests/differential/run.py --replay FILE         # one saved program, both traces
    python tests/differential/run.py --show SEED           # print the program of a seed

For every interpreter given with ``--python`` (a command, split like a shell
would: a wrapper such as ``chroot-python 3.14`` works), the programs of seeds
``SEED .. SEED+COUNT-1`` are generated for that interpreter's version
(``generator.py``), run in batches by two worker processes of that interpreter,
one on stdlib asyncio and one on coroloop (``worker.py``), and their traces
(``traces.py``) compared line by line.

On a difference the seed, the program and the first diverging lines are printed,
and the program is saved under ``--save`` (default ``tests/differential/failures``)
so that ``--replay FILE`` runs it again.  The exit status is 1 if any program
differed or a worker failed.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from accepted import accepted_by  # noqa: E402
from generator import FAMILIES, Program, generate  # noqa: E402
from traces import first_difference, render_difference  # noqa: E402

IMPLS = ("asyncio", "coroloop")
WORKER = os.path.join(HERE, "worker.py")


def interpreter_version(cmd: list[str]) -> tuple:
    out = subprocess.run(cmd + ["-c", "import sys; print(*sys.version_info[:2])"],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise SystemExit(f"differential: cannot run {shlex.join(cmd)}: {out.stderr.strip()}")
    return tuple(int(p) for p in out.stdout.split())


SRC = os.path.join(REPO, "src")


def _worker_env() -> dict:
    env = dict(os.environ)
    src = SRC
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONHASHSEED"] = "0"
    env.pop("PYTHONASYNCIODEBUG", None)
    return env


def run_batch(cmd: list[str], impl: str, programs: list[Program],
              hang_seconds: float) -> dict[str, list[str]]:
    """Traces of *programs* on *impl*, by one worker process of interpreter *cmd*."""
    batch = {"programs": [{"id": p.id, "source": p.source, "io": p.io} for p in programs]}
    proc = subprocess.run(cmd + [WORKER, impl, "--hang-seconds", str(hang_seconds)],
                          input=json.dumps(batch), capture_output=True, text=True,
                          env=_worker_env(), timeout=hang_seconds * len(programs) + 300)
    traces = {}
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        traces[record["id"]] = record["trace"]
    if proc.returncode != 0 or len(traces) != len(programs):
        raise RuntimeError(f"{impl} worker ({shlex.join(cmd)}) exited with "
                           f"{proc.returncode} after {len(traces)}/{len(programs)} "
                           f"programs:\n{proc.stderr[-4000:]}")
    return traces


def run_programs(cmd, programs, jobs, hang_seconds, batch_size=100):
    """{impl: {program id: trace}} for every program on both runtimes."""
    chunks = [programs[i:i + batch_size] for i in range(0, len(programs), batch_size)]
    results = {impl: {} for impl in IMPLS}
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        futures = {pool.submit(run_batch, cmd, impl, chunk, hang_seconds): impl
                   for chunk in chunks for impl in IMPLS}
        for fut in concurrent.futures.as_completed(futures):
            results[futures[fut]].update(fut.result())
    return results


def _line(trace: list[str], i: int) -> str | None:
    return trace[i] if i < len(trace) else None


def report(program: Program, a: list[str], b: list[str], save_dir: str | None,
           show_source: bool = True) -> str:
    """Print one difference; save the program; return where it was saved."""
    v = ".".join(map(str, program.version))
    print(f"\n=== difference: seed {program.seed}, family {program.family}, Python {v}, "
          f"features {', '.join(program.features) or '-'}")
    if show_source:
        print(program.source.rstrip())
        print("---")
    print(render_difference(a, b))
    path = None
    if save_dir:
        os.makedirs(save_dir, exist_ok=True)
        path = os.path.join(save_dir, f"py{v}-{program.id}.py")
        with open(path, "w") as f:
            f.write(program.text())
        print(f"saved: {path}  (replay: python {os.path.relpath(__file__)} --replay {path})")
    return path


def check_interpreter(cmd, args, version) -> int:
    """Run and compare all programs on one interpreter (of *version*): the number
    of differences."""
    v = ".".join(map(str, version))
    started = time.monotonic()
    programs = [generate(seed, version, args.family)
                for seed in range(args.seed, args.seed + args.count)]
    results = run_programs(cmd, programs, args.jobs, args.hang_seconds, args.batch)
    differences = 0
    accepted = collections.Counter()
    for program in programs:
        a = results["asyncio"][program.id]
        b = results["coroloop"][program.id]
        i = first_difference(a, b)
        if i is None:
            continue
        rule = accepted_by(program, a, b, i)
        if rule is not None:
            accepted[f"{rule.name} ({rule.issue})"] += 1
            continue
        differences += 1
        if differences <= args.max_reports:
            report(program, a, b, args.save, show_source=not args.quiet)
        elif args.list:
            print(f"  seed {program.seed}: asyncio {_line(a, i)!r}\n"
                  f"  {' ' * len(str(program.seed))}  coroloop {_line(b, i)!r}")
    took = time.monotonic() - started
    families = sorted({p.family for p in programs})
    print(f"differential: Python {v} ({shlex.join(cmd)}): {len(programs)} programs "
          f"({', '.join(families)}), {differences} differences, {took:.1f} s")
    for name, count in sorted(accepted.items()):
        print(f"  accepted: {count} x {name}")
    if differences > args.max_reports:
        print(f"  ({differences - args.max_reports} more not shown in full; "
              "--max-reports N to see them, --list for one line each)")
    return differences


def replay(path: str, pythons: list[list[str]], args) -> int:
    with open(path) as f:
        program = Program.from_text(f.read())
    status = 0
    for cmd in pythons:
        version = interpreter_version(cmd)
        if version != program.version:
            print(f"note: {path} was generated for Python "
                  f"{'.'.join(map(str, program.version))}, replaying on "
                  f"{'.'.join(map(str, version))}")
        results = run_programs(cmd, [program], 2, args.hang_seconds)
        a = results["asyncio"][program.id]
        b = results["coroloop"][program.id]
        print(f"=== {shlex.join(cmd)}")
        if args.verbose or first_difference(a, b) is not None:
            for impl, trace in (("asyncio", a), ("coroloop", b)):
                print(f"--- {impl} trace")
                print("\n".join(trace))
        print(render_difference(a, b))
        i = first_difference(a, b)
        if i is not None:
            rule = accepted_by(program, a, b, i)
            if rule is not None:
                print(f"accepted: {rule.name} ({rule.issue}): {rule.description}")
            else:
                status = 1
    return status


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", metavar="CMD",
                        help="interpreter command to test on (repeatable; default: this one)")
    parser.add_argument("--count", type=int, default=300, help="programs per interpreter")
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes at a time")
    parser.add_argument("--batch", type=int, default=100, help="programs per worker process")
    parser.add_argument("--hang-seconds", type=float, default=20.0,
                        help="real seconds after which a program counts as hung")
    parser.add_argument("--save", default=os.path.join(HERE, "failures"),
                        help="where to save programs that differ ('' to not save)")
    parser.add_argument("--max-reports", type=int, default=5,
                        help="differences shown in full per interpreter")
    parser.add_argument("--quiet", action="store_true", help="do not print program sources")
    parser.add_argument("--list", action="store_true",
                        help="one line per difference beyond --max-reports")
    parser.add_argument("--replay", metavar="FILE", help="run one saved program")
    parser.add_argument("--show", type=int, metavar="SEED", help="print one seed's program")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="with --replay: print both traces even if they agree")
    parser.add_argument("--family", choices=FAMILIES,
                        help="generate only programs of this family (default: the seed picks)")
    parser.add_argument("--src", metavar="DIR",
                        help="the coroloop source tree to test (default: this checkout's src)")
    args = parser.parse_args(argv)
    if args.src:
        global SRC
        SRC = os.path.abspath(args.src)
    pythons = [shlex.split(p) for p in (args.python or [sys.executable])]
    if args.show is not None:
        print(generate(args.show, interpreter_version(pythons[0]), args.family).text(), end="")
        return 0
    if args.replay:
        return replay(args.replay, pythons, args)
    total = 0
    versions = []
    for cmd in pythons:
        version = interpreter_version(cmd)
        versions.append(".".join(map(str, version)))
        try:
            differences = check_interpreter(cmd, args, version)
        except RuntimeError as exc:
            print(f"differential: worker failure on {shlex.join(cmd)}:\n{exc}")
            differences = 1
        total += differences
    print(f"differential: {args.count} programs each on Python {', '.join(versions)}: "
          f"{total or 'no'} difference{'' if total == 1 else 's'}")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())

"""Measure the monitor endpoint against a real process (issue 10's two targets).

1. A program with ``--tasks`` (10,000) tasks: one snapshot through the socket, end to
   end (connect, request, the loop's snapshot, JSON both ways, the client's decode,
   ``format_ps``), best and median of ``--repeat`` runs; and ``python -m coroloop ps
   PID`` as a whole command (interpreter start included).
2. A program churning tasks (spawning trees of gathers and task groups that finish
   within a few steps): ``--snapshots`` (1,000) snapshots in a row, each checked for
   consistency (every ``awaited_by``/``spawned_by`` id in the same snapshot, ids
   unique); prints how many were consistent, their rate and the loop lag seen.
3. What serving costs a program that nobody asks anything: ``async_tree`` (the
   benchmark's gather tree) with and without ``serve()``, CPU time, interleaved,
   medians of ``--repeat`` runs.

    .venv/bin/python benchmarks/monitor_snapshot.py [--tasks 10000] [--snapshots 1000]

Not a timed test: a measurement to quote (the machine is shared; run it twice).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))

from coroloop.debug import format_ps  # noqa: E402
from coroloop.debug.endpoint import MonitorClient, find_socket  # noqa: E402

MANY_TASKS = textwrap.dedent('''\
    import asyncio, os, sys
    N = int(sys.argv[1])

    async def sleeper():
        await asyncio.sleep(3600)

    async def locker(lock):
        async with lock:
            await asyncio.sleep(3600)

    async def group(k):
        await asyncio.gather(*(sleeper() for _ in range(k)))

    async def main():
        lock = asyncio.Lock()
        tasks = [asyncio.create_task(locker(lock), name=f"locker-{i}") for i in range(N // 10)]
        tasks += [asyncio.create_task(group(9), name=f"group-{i}") for i in range(N // 10)]
        await asyncio.sleep(0)
        print("ready", flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
''')

CHURN = textwrap.dedent('''\
    import asyncio

    orphans = []

    async def leaf(n):
        for _ in range(n % 4):
            await asyncio.sleep(0)

    async def branch(n):
        await asyncio.gather(*(leaf(n + k) for k in range(3)))
        async with asyncio.TaskGroup() as tg:
            tg.create_task(leaf(n))
            tg.create_task(leaf(n + 1))
        orphans.append(asyncio.create_task(leaf(n + 2)))  # outlives its spawner
        del orphans[:-50]

    async def main():
        n = 0
        print("ready", flush=True)
        while True:
            for _ in range(5):
                asyncio.create_task(branch(n))
                n += 1
            await asyncio.sleep(0)

    asyncio.run(main())
''')


def start(program: str, *args: str, tmp: str) -> subprocess.Popen:
    path = os.path.join(tmp, f"prog{abs(hash(program))}.py")
    with open(path, "w") as f:
        f.write(program)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src"))
    child = subprocess.Popen([sys.executable, "-m", "coroloop", "run", "--monitor", path,
                              *args], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    assert child.stdout.readline() == "ready\n"
    return child


def stop(child: subprocess.Popen) -> None:
    """Kill *child* and remove its monitor socket (a killed process cannot: a stale
    socket would be taken for a later process with the same PID)."""
    path = find_socket(child.pid)  # (while the process is there to be found)
    child.kill()
    child.wait()
    try:
        os.unlink(path)
    except OSError:
        pass


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process *pid* so far (the program is otherwise idle:
    what it spends during a request is the endpoint's and the snapshot's)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def consistent(snapshot: dict) -> bool:
    ids = [task["id"] for task in snapshot["tasks"]]
    known = set(ids)
    return len(known) == len(ids) and all(
        set(task["awaited_by"]) <= known
        and (task["spawned_by"] is None or task["spawned_by"] in known)
        for task in snapshot["tasks"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--snapshots", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        child = start(MANY_TASKS, str(args.tasks), tmp=tmp)
        try:
            times, cpu, sizes, stalls = [], [], [], []
            for _ in range(args.repeat):
                began = time.perf_counter()
                began_cpu = time.process_time() + cpu_seconds(child.pid)
                with MonitorClient(child.pid) as client:  # as python -m coroloop ps asks
                    reply = client.request("snapshot", timeout=10, created_at=1, stack=0)
                text = format_ps(reply["snapshot"])
                times.append(time.perf_counter() - began)
                cpu.append(time.process_time() + cpu_seconds(child.pid) - began_cpu)
                sizes.append(len(reply["snapshot"]["tasks"]))
                stalls.append(reply["loop"]["stall_ms"])
                lag = reply["loop"]["lag_ms"]
            print(f"snapshot of {sizes[-1]} tasks through the socket, end to end (with "
                  f"format_ps, {len(text.splitlines())} lines): wall best {min(times) * 1000:.0f} "
                  f"ms, median {statistics.median(times) * 1000:.0f} ms of {args.repeat} "
                  f"(limit: 1000 ms); CPU (client + program) best {min(cpu) * 1000:.0f} ms, "
                  f"median {statistics.median(cpu) * 1000:.0f} ms; the loop stalled by it: "
                  f"median {statistics.median(stalls):.0f} ms, worst {max(stalls):.0f} ms; "
                  f"loop lag before it {lag:.2f} ms")
            for command in ("ps", "dump"):
                walls = []
                for _ in range(3):
                    began = time.perf_counter()
                    done = subprocess.run(
                        [sys.executable, "-m", "coroloop", command, str(child.pid)],
                        capture_output=True, text=True,
                        env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "src")))
                    walls.append(time.perf_counter() - began)
                    assert done.returncode == 0, done.stderr
                print(f"python -m coroloop {command} PID (a new interpreter, "
                      f"{len(done.stdout)} bytes printed): wall median "
                      f"{statistics.median(walls) * 1000:.0f} ms of 3")
        finally:
            stop(child)

        child = start(CHURN, tmp=tmp)
        try:
            good = 0
            lags, counts = [], []
            began = time.perf_counter()
            with MonitorClient(child.pid) as client:
                for _ in range(args.snapshots):
                    reply = client.request("snapshot", timeout=10)
                    assert reply["state"] == "ok", reply["state"]
                    good += consistent(reply["snapshot"])
                    lags.append(reply["loop"]["lag_ms"])
                    counts.append(len(reply["snapshot"]["tasks"]))
            took = time.perf_counter() - began
            print(f"{args.snapshots} snapshots of a churning program ({min(counts)}-"
                  f"{max(counts)} tasks each): {good} consistent, {args.snapshots - good} "
                  f"not; {args.snapshots / took:.0f} snapshots/s; loop lag median "
                  f"{statistics.median(lags):.2f} ms, max {max(lags):.2f} ms")
        finally:
            stop(child)

        measure_serving_cost(args.repeat, tmp)


def measure_serving_cost(repeat: int, tmp: str) -> None:
    sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
    import _async_tree as tree

    import coroloop
    import coroloop.debug

    times = {"plain": [], "served": []}
    for _ in range(repeat):
        for mode in times:
            loop = coroloop.new_event_loop()
            endpoint = (coroloop.debug.serve(loop, path=os.path.join(tmp, "cost.sock"))
                        if mode == "served" else None)
            began = time.process_time()
            tree.run_gather(coroloop, loop, tree.DEPTH)
            times[mode].append(time.process_time() - began)
            if endpoint is not None:
                endpoint.close()
            loop.close()
    plain, served = (statistics.median(times[mode]) for mode in ("plain", "served"))
    print(f"async_tree with the endpoint serving: {served * 1000:.0f} ms CPU vs "
          f"{plain * 1000:.0f} ms without (x{served / plain:.3f}, medians of {repeat})")


if __name__ == "__main__":
    main()

"""``python -m coroloop ps/pstree/top/dump/cancel PID`` against a real program:
``examples/monitor.py --forever`` run with ``python -m coroloop run --monitor``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from cli_helpers import ROOT, coroloop_env, run_coroloop
from pty_session import PtySession

pytestmark = pytest.mark.timeout(90)

EXAMPLE = str(ROOT / "examples" / "monitor.py")
TASKS = {"service", "producer", "worker-1", "worker-2", "stuck", "heartbeat"}


class Service:
    """The example program, running with its endpoint (``pid``, ``path``)."""

    def __init__(self, tmp_path, *run_options: str) -> None:
        self.env = coroloop_env(XDG_RUNTIME_DIR=str(tmp_path))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "coroloop", "run", *run_options, EXAMPLE, "--forever"],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = self.process.stdout.readline()  # waits for the program's first line
        match = re.fullmatch(r"pid (\d+): serving (\S+)\n", first)
        assert match, (first, self.process.stderr.read() if not first else "")
        self.pid = int(match.group(1))
        self.path = match.group(2)
        assert self.pid == self.process.pid

    def command(self, *args: str):
        return run_coroloop(*args, XDG_RUNTIME_DIR=self.env["XDG_RUNTIME_DIR"])

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)
        self.process.stdout.close()
        self.process.stderr.close()


@pytest.fixture
def service(tmp_path):
    running = Service(tmp_path, "--monitor-allow-cancel")
    yield running
    running.close()


def test_ps_pstree_dump_and_cancel(service):
    assert service.path == os.path.join(service.env["XDG_RUNTIME_DIR"], "coroloop",
                                        f"{service.pid}.sock")

    ps = service.command("ps", str(service.pid))
    assert ps.returncode == 0, ps.stderr
    header, *rows, total = ps.stdout.splitlines()
    assert header.split()[:5] == ["ID", "NAME", "STATE", "WAIT", "TARGET"]
    by_name = {row.split()[1]: row.split() for row in rows}
    assert TASKS <= set(by_name)
    assert by_name["stuck"][2:4] == ["waiting", "event"]
    assert by_name["service"][3] == "taskgroup"
    assert total == f"{len(rows)} tasks"

    tree = service.command("pstree", str(service.pid))
    assert tree.returncode == 0, tree.stderr
    lines = tree.stdout.splitlines()
    (service_line,) = [line for line in lines if " service [" in line]
    assert service_line.startswith(("#", "├── ", "└── "))  # a root, or awaited
    # The group's tasks are awaited by the service (through the TaskGroup); the
    # heartbeat, awaited by nobody, hangs from the service that spawned it.
    service_at = lines.index(service_line)
    indent = len(service_line) - len(service_line.lstrip("│├└─ "))
    stuck = next(line for line in lines if " stuck [" in line)
    assert lines.index(stuck) > service_at and "── #" in stuck and "event" in stuck
    assert stuck.index("#") == indent + 4  # one level below the service
    heartbeat = next(line for line in lines if " heartbeat [" in line)
    assert "┄┄ #" in heartbeat and heartbeat.endswith("(spawned)")
    assert heartbeat.index("#") == indent + 4
    assert any("at stuck (monitor.py:" in line for line in lines)

    dump = service.command("dump", str(service.pid))
    assert dump.returncode == 0, dump.stderr
    reply = json.loads(dump.stdout)
    assert reply["state"] == "ok" and reply["loop"]["iterations"] > 0
    tasks = {task["name"]: task for task in reply["snapshot"]["tasks"]}
    assert TASKS <= set(tasks)
    assert set(tasks["stuck"]) >= {"id", "name", "state", "coro", "created_at", "spawned_by",
                                   "awaited_by", "wait", "stack", "steps", "run_time",
                                   "cancel_requests"}

    cancel = service.command("cancel", str(service.pid), str(tasks["service"]["id"]))
    assert cancel.returncode == 0, cancel.stderr
    assert cancel.stdout == f"cancel requested for task #{tasks['service']['id']} service\n"
    assert service.process.stdout.readline() == "service cancelled: exiting\n"
    assert service.process.wait(30) == 0
    assert not os.path.exists(service.path)  # removed at exit
    gone = service.command("ps", str(service.pid))
    assert gone.returncode == 2 and f"there is no process {service.pid}" in gone.stderr


def test_read_only_by_default_and_clear_errors(tmp_path):
    running = Service(tmp_path, "--monitor")
    try:
        cancel = running.command("cancel", str(running.pid), "1")
        assert cancel.returncode == 2
        assert "read-only" in cancel.stderr and "allow_cancel=True" in cancel.stderr
        assert running.process.poll() is None  # nothing happened to it
    finally:
        running.close()
    unserved = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                                stdin=subprocess.PIPE)
    try:
        ps = run_coroloop("ps", str(unserved.pid), XDG_RUNTIME_DIR=str(tmp_path))
        assert ps.returncode == 2
        assert "has no coroloop monitor socket" in ps.stderr
        assert "COROLOOP_MONITOR=1" in ps.stderr
    finally:
        unserved.communicate(timeout=30)


@pytest.mark.parametrize("drawing", ["plain", "rich"])
def test_top_refreshes_and_takes_keys(service, drawing):
    args = [sys.executable, "-m", "coroloop", "top", str(service.pid), "--interval", "0.2"]
    if drawing == "plain":
        args.append("--plain")
    else:
        import rich  # noqa: F401  (installed by the Makefile: the cli extra)
    session = PtySession(args, dict(service.env, TERM="xterm", COLUMNS="150", LINES="40"))
    try:
        session.expect("refresh 1")
        session.expect("sorted by wait")
        session.expect("refresh 2")
        table = session.expect("refresh 3")
        for name in TASKS:
            assert name in table
        assert "loop lag" in table or "loop lag" in session.output
        assert re.search(r"\d+ iterations/s", session.output)
        session.send("s")
        session.expect("sorted by steps")
        session.send("q")
        assert session.wait() == 0
    finally:
        session.close()
    assert service.process.poll() is None


def test_ps_of_a_blocked_loop_shows_where(tmp_path):
    program = tmp_path / "blocks.py"
    program.write_text(
        "import asyncio, threading\n"
        "async def main():\n"
        "    await asyncio.sleep(0)\n"
        "    print('blocking', flush=True)\n"
        "    threading.Event().wait(120)  # the culprit: blocks the loop\n"
        "asyncio.run(main())\n")
    child = subprocess.Popen([sys.executable, "-m", "coroloop", "run", "--monitor",
                              str(program)], env=coroloop_env(XDG_RUNTIME_DIR=str(tmp_path)),
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert child.stdout.readline() == "blocking\n"
        ps = run_coroloop("ps", str(child.pid), XDG_RUNTIME_DIR=str(tmp_path))
        assert ps.returncode == 0, ps.stderr
        first, *rest = ps.stdout.splitlines()
        assert re.fullmatch(rf"process {child.pid}: loop blocked for \d+ ms; its thread is "
                            r"at \(innermost last\):", first)
        culprit = rest.index(f'  File "{program}", line 5, in main')
        assert rest[culprit + 1] == "    threading.Event().wait(120)  # the culprit: blocks the loop"
        assert rest[0].startswith("  ... ") and "frames that run the loop" in rest[0]
        assert all("threading.py" in line or line.startswith("    ")
                   for line in rest[culprit + 2:])  # only threading's wait inside it
        dump = json.loads(run_coroloop("dump", str(child.pid),
                                       XDG_RUNTIME_DIR=str(tmp_path)).stdout)
        assert dump["state"] == "blocked" and dump["stack"][-1][2] == "wait"
    finally:
        child.kill()
        child.wait()
        child.stdout.close()

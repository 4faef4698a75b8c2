"""The monitor endpoint (``coroloop.debug.serve``): permissions, the peer check, a
blocked loop, bad requests, cancel, removal at exit, consistent snapshots; and the
in-process formatting (``format_ps``, ``format_pstree``)."""

from __future__ import annotations

import json
import logging
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import warnings

import pytest

import coroloop
import coroloop.debug
from coroloop.debug import endpoint as endpoint_module
from coroloop.debug import TaskMonitor, format_ps, format_pstree
from coroloop.debug.endpoint import MAX_REQUEST, MonitorClient, MonitorError, serve

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def served(loop, tmp_path):
    """(loop, endpoint) with the endpoint's socket in the test's directory."""
    endpoint = serve(loop, path=str(tmp_path / "monitor.sock"))
    yield loop, endpoint
    endpoint.close()


def in_thread(loop, fn, *args):
    """Run ``fn(*args)`` in a thread while *loop* runs; its result.  The thread starts
    from inside the loop, so the loop is running when *fn* asks it anything."""
    async def go():
        return await coroloop.to_thread(fn, *args)

    return loop.run_until_complete(go())


def request(path, command, **fields):
    with MonitorClient(path=path) as client:
        return client.request(command, **fields)


def raw_exchange(path, data: bytes, replies: int) -> list[dict]:
    """Send *data* as it is; read *replies* reply lines."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(20)
        sock.connect(path)
        sock.sendall(data)
        stream = sock.makefile("rb")
        return [json.loads(stream.readline()) for _ in range(replies)]


def test_directory_and_socket_are_private_and_named_after_the_pid(loop, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    endpoint = serve(loop)
    try:
        directory = tmp_path / "coroloop"
        assert endpoint.path == str(directory / f"{os.getpid()}.sock")
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        info = os.stat(endpoint.path)
        assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
        assert serve(loop) is endpoint  # one endpoint per path
        assert endpoint_module.find_socket(os.getpid()) == endpoint.path
    finally:
        endpoint.close()
    assert not os.path.exists(endpoint.path)

    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert endpoint_module.socket_directory() == os.path.join(
        tempfile.gettempdir(), f"coroloop-{os.geteuid()}")


def test_an_unsafe_directory_is_refused_or_tightened(loop, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    directory = tmp_path / "coroloop"
    directory.mkdir(mode=0o777)
    os.chmod(directory, 0o777)  # ours but open: closed to 0700
    serve(loop).close()
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700

    nobody = pwd.getpwnam("nobody")
    os.chown(directory, nobody.pw_uid, nobody.pw_gid)  # someone else's: refused
    with pytest.raises(PermissionError, match="belongs to uid .*remove it"):
        serve(loop)
    shutil.rmtree(directory)
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", directory)  # a symlink in the way: refused
    with pytest.raises(PermissionError, match="not a directory"):
        serve(loop)


def _connect_as_nobody(path: str) -> str:
    """Fork a child that becomes ``nobody`` and connects to *path*; what it got."""
    nobody = pwd.getpwnam("nobody")
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():  # the endpoint's thread exists: fork() warns on 3.12+
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: only system calls, then _exit
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(20)
            try:
                sock.connect(path)
                # No request: the endpoint answers a refused peer at once and closes
                # (a request sent after that would fail with EPIPE).
                answer = sock.makefile("rb").readline()
            except OSError as exc:
                answer = f"OSError {exc.errno}".encode()
            os.write(write_end, answer)
        finally:
            os._exit(0)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode()


def test_another_uid_is_refused_and_logged(loop, caplog):
    assert os.geteuid() == 0, "this test runs as root (as CI does) to become nobody"
    # A directory anyone may enter, the socket opened up: only the peer check is left.
    directory = tempfile.mkdtemp(prefix="coroloop-open-")
    try:
        os.chmod(directory, 0o755)
        endpoint = serve(loop, path=os.path.join(directory, "open.sock"))
        os.chmod(endpoint.path, 0o666)
        with caplog.at_level(logging.WARNING, logger="coroloop.debug"):
            answer = json.loads(_connect_as_nobody(endpoint.path))
        assert answer["ok"] is False and answer["error"]["code"] == "forbidden"
        uid = pwd.getpwnam("nobody").pw_uid
        assert f"refused a connection from uid {uid}" in caplog.text
        # Root (and the owner) still get in.
        assert request(endpoint.path, "hello")["pid"] == os.getpid()
        endpoint.close()
    finally:
        shutil.rmtree(directory)

    # With the default permissions nobody cannot even reach the socket.
    endpoint = serve(loop, path=os.path.join(tempfile.mkdtemp(prefix="coroloop-"), "s.sock"))
    try:
        os.chmod(os.path.dirname(endpoint.path), 0o755)  # only the socket's 0600 is left
        assert _connect_as_nobody(endpoint.path) == "OSError 13"  # EACCES
    finally:
        endpoint.close()
        os.rmdir(os.path.dirname(endpoint.path))


def test_snapshot_of_a_running_loop(served):
    loop, endpoint = served

    async def sleeper():
        await coroloop.sleep(3600)

    async def waiter(task):
        await task

    async def main():
        lock = coroloop.Lock()
        await lock.acquire()
        target = coroloop.create_task(sleeper(), name="sleeper")
        tasks = [target, coroloop.create_task(waiter(target), name="waiter"),
                 coroloop.create_task(lock.acquire(), name="locker")]
        await coroloop.sleep(0)
        reply = await coroloop.to_thread(request, endpoint.path, "snapshot")
        for task in tasks:
            task.cancel()
        await coroloop.gather(*tasks, return_exceptions=True)
        return reply

    reply = loop.run_until_complete(main())
    assert reply["state"] == "ok"
    assert reply["loop"]["iterations"] > 0 and reply["loop"]["lag_ms"] >= 0
    by_name = {task["name"]: task for task in reply["snapshot"]["tasks"]}
    assert by_name["sleeper"]["wait"]["kind"] == "sleep"
    assert by_name["waiter"]["wait"]["kind"] == "task"
    assert by_name["locker"]["wait"]["kind"] == "lock"
    assert by_name["waiter"]["id"] in by_name["sleeper"]["awaited_by"]
    main_task = next(t for t in reply["snapshot"]["tasks"] if t["coro"].endswith("main"))
    assert by_name["sleeper"]["spawned_by"] == main_task["id"]


def test_a_blocked_loop_is_answered_with_its_stack(served):
    loop, endpoint = served
    replies = []
    unblock = threading.Event()

    def ask():
        try:
            replies.append(request(endpoint.path, "snapshot", timeout=0.05))
        finally:
            unblock.set()

    async def blocks_the_loop():
        threading.Thread(target=ask).start()
        unblock.wait(30)  # the loop thread is stuck here until the answer came

    loop.run_until_complete(blocks_the_loop())
    (reply,) = replies
    assert reply["state"] == "blocked"
    # Sampled from the endpoint's thread: at least since the request was posted.
    assert reply["blocked_ms"] >= 49
    frames = [(function, source) for _, _, function, source in reply["stack"]]
    assert ("blocks_the_loop", "unblock.wait(30)  # the loop thread is stuck here until "
            "the answer came") in frames
    # Once it is free, the same endpoint answers with a snapshot again.
    assert in_thread(loop, request, endpoint.path, "snapshot")["state"] == "ok"


def test_serving_adds_no_hook_beyond_the_task_monitor(served):
    # The endpoint samples loop.iterations() from its own thread: the loop runs
    # the TaskMonitor's lean path and nothing per iteration for the endpoint.
    loop, endpoint = served
    assert loop.instruments == (TaskMonitor.of(loop),)
    assert loop._instruments.lean and loop._instruments.ready_run_started is None


def test_a_loop_that_is_not_running(served):
    loop, endpoint = served
    assert request(endpoint.path, "snapshot")["state"] == "not_running"
    hello = request(endpoint.path, "hello")
    assert hello["protocol"] == 1 and hello["allow_cancel"] is False
    assert hello["loops"] == [{"index": 0, "running": False, "closed": False}]


def test_malformed_requests_get_errors_and_change_nothing(served, errors):
    loop, endpoint = served
    errors.install(loop)
    bad = [
        (b"not json\n", "bad_request"),
        (b"[1, 2]\n", "bad_request"),
        (b"\xff\xfe\n", "bad_request"),
        (b'{"command": "exec", "code": "import os"}\n', "unknown_command"),
        (b'{"command": 5}\n', "unknown_command"),
        (b'{"id": [1], "command": "hello"}\n', "bad_request"),
        (b'{"command": "snapshot", "timeout": "soon"}\n', "bad_request"),
        (b'{"command": "snapshot", "timeout": 1e9}\n', "bad_request"),
        (b'{"command": "snapshot", "rows": 1}\n', "bad_request"),
        (b'{"command": "snapshot", "stack": -1}\n', "bad_request"),
        (b'{"command": "snapshot", "loop": 7}\n', "no_loop"),
        (b'{"command": "cancel", "task": 1}\n', "not_allowed"),
    ]

    def exchange():
        # All on one connection, then a good request: it stays usable.
        data = b"".join(line for line, _ in bad) + b'{"command": "hello", "id": "last"}\n'
        return raw_exchange(endpoint.path, data, len(bad) + 1)

    replies = in_thread(loop, exchange)
    assert [r["error"]["code"] for r in replies[:-1]] == [code for _, code in bad]
    assert all(r["error"]["message"] for r in replies[:-1])
    assert replies[-1]["ok"] is True and replies[-1]["id"] == "last"
    # A line that never ends is cut off at MAX_REQUEST, and that connection closed.
    (too_large,) = raw_exchange(endpoint.path, b"x" * (MAX_REQUEST + 10), 1)
    assert too_large["error"]["code"] == "too_large"
    assert in_thread(loop, request, endpoint.path, "snapshot")["state"] == "ok"
    assert errors.contexts == []


def test_cancel_only_when_allowed(loop, tmp_path):
    async def forever():
        await coroloop.sleep(3600)

    async def main(path):
        task = coroloop.create_task(forever(), name="victim")
        await coroloop.sleep(0)
        reply = await coroloop.to_thread(request, path, "snapshot")
        (victim,) = [t for t in reply["snapshot"]["tasks"] if t["name"] == "victim"]
        try:
            await coroloop.to_thread(request, path, "cancel", task=victim["id"], msg="ops")
        except MonitorError as exc:
            task.cancel()
            return exc.code
        with pytest.raises(coroloop.CancelledError) as cancelled:
            await task
        with pytest.raises(MonitorError, match="no pending task has id"):
            await coroloop.to_thread(request, path, "cancel", task=victim["id"])
        return cancelled.value.args

    with serve(loop, path=str(tmp_path / "ro.sock")) as read_only:
        assert loop.run_until_complete(main(read_only.path)) == "not_allowed"
    with serve(loop, path=str(tmp_path / "rw.sock"), allow_cancel=True) as endpoint:
        assert loop.run_until_complete(main(endpoint.path)) == ("ops",)


def _python(code: str, **env) -> subprocess.CompletedProcess:
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        [os.path.join(os.path.dirname(coroloop.__file__), os.pardir)]
        + ([environment["PYTHONPATH"]] if environment.get("PYTHONPATH") else []))
    environment.update(env)
    return subprocess.run([sys.executable, "-c", code], env=environment,
                          capture_output=True, text=True, timeout=50)


def test_the_socket_is_removed_at_exit(tmp_path):
    done = _python("import coroloop, coroloop.debug, os\n"
                   "endpoint = coroloop.debug.serve()\n"
                   "print(endpoint.path, os.path.exists(endpoint.path))\n",
                   XDG_RUNTIME_DIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    path, existed = done.stdout.split()
    assert existed == "True" and path.startswith(str(tmp_path))
    assert not os.path.exists(path)

    # COROLOOP_MONITOR=1: every loop served, from the moment coroloop is imported.
    done = _python("import coroloop, os\n"
                   "from coroloop.debug.endpoint import MonitorClient, find_socket\n"
                   "def ask():\n"
                   "    with MonitorClient(os.getpid()) as client:\n"
                   "        return client.request('snapshot')['state'], client.path\n"
                   "async def main():\n"
                   "    return await coroloop.to_thread(ask)\n"
                   "print(*coroloop.run(main()))\n",
                   XDG_RUNTIME_DIR=str(tmp_path), COROLOOP_MONITOR="1")
    assert done.returncode == 0, done.stderr
    state, path = done.stdout.split()
    assert state == "ok" and not os.path.exists(path)


def test_a_stale_socket_is_replaced(loop, tmp_path):
    path = str(tmp_path / "stale.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)  # bound, never listening: what a killed process leaves
    stale.close()
    with serve(loop, path=path):
        assert request(path, "hello")["pid"] == os.getpid()
    with serve(loop, path=path):
        with pytest.raises(FileExistsError, match="already listens"):
            endpoint_module.Endpoint(path)


def test_bad_arguments_and_missing_endpoints():
    with pytest.raises(TypeError, match="needs a coroloop loop"):
        import asyncio
        stdlib = asyncio.new_event_loop()
        try:
            serve(stdlib, path=os.path.join(tempfile.gettempdir(), "never.sock"))
        finally:
            stdlib.close()
    assert not os.path.exists(os.path.join(tempfile.gettempdir(), "never.sock"))
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with pytest.raises(MonitorError, match=f"there is no process {child.pid}"):
        MonitorClient(child.pid)
    with pytest.raises(MonitorError, match="COROLOOP_MONITOR=1"):
        MonitorClient(os.getppid())


def _consistent(snapshot: dict) -> None:
    ids = {task["id"] for task in snapshot["tasks"]}
    assert len(ids) == len(snapshot["tasks"])
    for task in snapshot["tasks"]:
        assert set(task["awaited_by"]) <= ids, task
        assert task["spawned_by"] is None or task["spawned_by"] in ids, task


def test_snapshots_during_a_busy_workload_are_consistent(served):
    loop, endpoint = served
    count = 1000
    orphans = []

    async def leaf(n):
        for _ in range(n % 3):
            await coroloop.sleep(0)

    async def branch(n):
        await coroloop.gather(*(leaf(n + k) for k in range(3)))
        async with coroloop.TaskGroup() as group:
            group.create_task(leaf(n))
        orphans.append(coroloop.create_task(leaf(n + 2)))  # outlives its spawner
        del orphans[:-50]

    async def churn(stop):
        n = 0
        while not stop.is_set():
            coroloop.create_task(branch(n))
            n += 1
            await coroloop.sleep(0)

    def take_many():
        with MonitorClient(path=endpoint.path) as client:
            return [client.request("snapshot", timeout=10) for _ in range(count)]

    async def main():
        stop = threading.Event()
        workload = coroloop.create_task(churn(stop))
        try:
            return await coroloop.to_thread(take_many)
        finally:
            stop.set()
            await workload
            while len(coroloop.all_tasks()) > 1:
                await coroloop.sleep(0)

    # The busy loop holds the GIL for whole switch intervals: hand it over sooner, so
    # the client thread's thousand round trips do not take 10 s.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0002)
    try:
        replies = loop.run_until_complete(main())
    finally:
        sys.setswitchinterval(interval)
    assert [reply["state"] for reply in replies] == ["ok"] * count
    for reply in replies:
        _consistent(reply["snapshot"])
    assert max(len(reply["snapshot"]["tasks"]) for reply in replies) > 5
    # Finished spawners of live tasks were in them, as "done".
    assert any(task["state"] == "done" for reply in replies
               for task in reply["snapshot"]["tasks"])


# -- formatting ---------------------------------------------------------------------

def _task(task_id, name, *, awaited_by=(), spawned_by=None, wait=None, state="waiting",
          stack=()):
    return {"id": task_id, "name": name, "state": state, "coro": name, "created_at":
            [["/app/main.py", 10 + task_id, "main"]], "spawned_by": spawned_by,
            "awaited_by": list(awaited_by), "wait": wait, "stack": [list(f) for f in stack],
            "steps": task_id, "run_time": task_id / 1000, "cancel_requests": 0}


SNAPSHOT = {"time": 100.0, "tasks": [
    _task(1, "main", wait={"kind": "gather", "target": "", "since": 99.0, "deadline": None,
                           "holder": None},
          stack=[("/app/main.py", 30, "main")]),
    _task(2, "worker", awaited_by=[1], spawned_by=1,
          wait={"kind": "lock", "target": "Lock.acquire", "since": 99.5, "deadline": None,
                "holder": 3}),
    _task(3, "holder", awaited_by=[1], spawned_by=1),
    _task(4, "background", spawned_by=2, state="runnable"),
    # an await cycle: 5 awaits 6, 6 awaits 5; and 7 awaits itself
    _task(5, "ping", awaited_by=[6]), _task(6, "pong", awaited_by=[5]),
    _task(7, "narcissus", awaited_by=[7]),
]}


def test_format_ps_rows():
    text = format_ps(SNAPSHOT)
    header, *rows, total = text.splitlines()
    assert header.split() == ["ID", "NAME", "STATE", "WAIT", "TARGET", "WAITED", "RUN",
                              "STEPS", "CREATED", "AT"]
    assert total == "7 tasks"
    worker = rows[1].split()
    assert worker == ["2", "worker", "waiting", "lock", "Lock.acquire", "500.0ms", "2.0ms",
                      "2", "main.py:12", "main"]
    by_wait = format_ps(SNAPSHOT, sort="wait").splitlines()
    assert by_wait[1].split()[1] == "main" and by_wait[2].split()[1] == "worker"
    by_steps = format_ps(SNAPSHOT, sort="steps").splitlines()
    assert by_steps[1].split()[1] == "narcissus"
    with pytest.raises(ValueError, match="unknown sort key"):
        format_ps(SNAPSHOT, sort="age")
    with pytest.raises(TypeError, match="Snapshot or its to_dict"):
        format_ps([1, 2])


def test_format_pstree_nests_marks_spawns_and_shows_cycles():
    lines = format_pstree(SNAPSHOT).splitlines()
    assert lines[0] == "#1 main [waiting] main - gather for 1.00s"
    assert lines[1] == "│   at main (main.py:30)"
    assert lines[2] == ("├── #2 worker [waiting] worker - lock Lock.acquire for 500.0ms "
                        "(held by #3)")
    assert lines[3] == "│   └┄┄ #4 background [runnable] background (spawned)"
    assert lines[4] == "└── #3 holder [waiting] holder"
    assert "(an await cycle, entered at #5)" in lines
    start = lines.index("(an await cycle, entered at #5)")
    assert lines[start + 1:start + 4] == [
        "#5 ping [waiting] ping",
        "└── #6 pong [waiting] pong",
        "    └── ↻ #5 ping: an await cycle (shown above)"]
    assert lines[start + 4:start + 7] == [
        "(an await cycle, entered at #7)", "#7 narcissus [waiting] narcissus",
        "└── ↻ #7 narcissus: an await cycle (shown above)"]
    assert lines[-1].startswith("7 tasks;")
    assert sum(line.count("#4 background") for line in lines) == 1


def test_formatting_a_live_snapshot(loop):
    async def child():
        await coroloop.sleep(10)

    async def main():
        task = coroloop.create_task(child(), name="child")
        await coroloop.sleep(0)
        snapshot = coroloop.debug.snapshot()  # a Snapshot, not its dict
        task.cancel()
        return snapshot

    snapshot = loop.run_until_complete(main())
    assert "child" in format_ps(snapshot)
    tree = format_pstree(snapshot)
    assert "┄┄ #" in tree and "child" in tree and "(spawned)" in tree


def test_public_names():
    for name in ("Endpoint", "MonitorClient", "MonitorError", "format_ps", "format_pstree",
                 "serve"):
        assert name in coroloop.debug.__all__
        assert getattr(coroloop.debug, name).__doc__, name


def test_a_snapshot_can_send_only_the_innermost_frames(served):
    loop, endpoint = served

    async def nested():
        await coroloop.sleep(3600)

    async def spawn():  # created_at: spawn() inside main(), up to the task's step
        return coroloop.create_task(nested(), name="nested")

    async def main():
        task = await spawn()
        await coroloop.sleep(0)
        full = await coroloop.to_thread(request, endpoint.path, "snapshot")
        trimmed = await coroloop.to_thread(request, endpoint.path, "snapshot",
                                           created_at=1, stack=0)
        with pytest.raises(MonitorError, match="innermost frames"):
            await coroloop.to_thread(request, endpoint.path, "snapshot", stack=-1)
        task.cancel()
        return full, trimmed

    full, trimmed = loop.run_until_complete(main())
    (whole,) = [t for t in full["snapshot"]["tasks"] if t["name"] == "nested"]
    (short,) = [t for t in trimmed["snapshot"]["tasks"] if t["name"] == "nested"]
    assert len(whole["created_at"]) > 1 and whole["stack"]
    assert short["created_at"] == whole["created_at"][-1:] and short["stack"] == []
    assert short["created_at"][0][2].endswith("spawn")  # the innermost: where create_task was


def test_the_compact_form_expands_to_to_dicts_shape(served):
    loop, endpoint = served

    async def sleeper():
        await coroloop.sleep(3600)

    def both():
        plain = raw_exchange(endpoint.path, b'{"command": "snapshot"}\n', 1)[0]["result"]
        compact = raw_exchange(endpoint.path, b'{"command": "snapshot", "rows": true}\n',
                               1)[0]["result"]
        with MonitorClient(path=endpoint.path) as client:
            expanded = client.request("snapshot")  # asks for rows, expands them
            tabled = client.request("snapshot", expand=False)  # the rows as they came
        return plain, compact, expanded, tabled

    async def main():
        tasks = [coroloop.create_task(sleeper(), name=f"s{n}") for n in range(3)]
        await coroloop.sleep(0)
        try:
            return await coroloop.to_thread(both)
        finally:
            for task in tasks:
                task.cancel()
            await coroloop.gather(*tasks, return_exceptions=True)

    plain, compact, expanded, tabled = loop.run_until_complete(main())
    assert "tasks" not in compact["snapshot"] and len(compact["snapshot"]["task_rows"]) >= 4
    sleepers = lambda reply: sorted((t for t in reply["snapshot"]["tasks"]
                                     if t["name"].startswith("s")), key=lambda t: t["name"])
    assert sleepers(expanded) == sleepers(plain) and len(sleepers(plain)) == 3
    assert set(expanded["snapshot"]) == set(plain["snapshot"])
    assert endpoint_module.expand_rows(compact["snapshot"])["tasks"][0].keys() == \
        plain["snapshot"]["tasks"][0].keys()
    # The frame table: each frame sent once, the rows holding indices into it; ps
    # and pstree format those rows as they come, as they format the expanded form.
    rows = tabled["snapshot"]
    assert "tasks" not in rows and all(isinstance(number, int) for row in rows["task_rows"]
                                       for number in row[rows["task_fields"].index("created_at")])
    assert len(rows["frames"]) == len({tuple(entry) for entry in rows["frames"]})
    assert format_ps(rows) == format_ps(endpoint_module.expand_rows(dict(rows)))
    assert format_ps(rows, sort="run") == format_ps(endpoint_module.expand_rows(dict(rows)),
                                                    sort="run")
    assert sleepers({"snapshot": endpoint_module.expand_rows(rows)}) == sleepers(plain)

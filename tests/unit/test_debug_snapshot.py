"""coroloop.debug.snapshot(), TaskInfo, WaitReason and TaskMonitor (issue 9, items 1 and 7)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading

import pytest

import coroloop
from coroloop.debug import (KINDS, FinishedTask, Snapshot, TaskInfo, TaskMonitor, WaitReason,
                            snapshot)

pytestmark = pytest.mark.timeout(60)
HERE = os.path.basename(__file__)


def run_until(loop, coro):
    return loop.run_until_complete(coro)


def start_monitor(loop):
    monitor = TaskMonitor(loop)
    monitor.start()
    return monitor


def test_every_wait_kind_is_named(virtual_loop):
    """One task blocked in each kind of wait; the snapshot names each one."""
    loop = virtual_loop
    monitor = start_monitor(loop)
    seen = {}

    async def main():
        lock, event, condition = coroloop.Lock(), coroloop.Event(), coroloop.Condition()
        semaphore, barrier = coroloop.Semaphore(0), coroloop.Barrier(2)
        empty, full = coroloop.Queue(), coroloop.Queue(maxsize=1)
        full.put_nowait(0)
        plain = loop.create_future()
        release = threading.Event()
        reader, writer = socket.socketpair()
        writer.setblocking(False)
        reader.setblocking(False)
        stream_reader, stream_writer = await coroloop.open_connection(sock=reader)

        async def hold_lock():
            async with lock:
                await event.wait()

        async def wait_condition():
            async with condition:
                await condition.wait()

        async def await_plain():
            await plain

        async def sleeper():
            await coroloop.sleep(100)

        async def gathering():
            await coroloop.gather(sleeper(), sleeper())

        async def group():
            async with coroloop.TaskGroup() as tg:
                tg.create_task(sleeper())

        async def task_waiter(other):
            await other

        async def executor():
            await loop.run_in_executor(None, release.wait)

        async def in_timeout():
            async with coroloop.timeout(30) as scope:  # noqa: F841 (found in the locals)
                await plain

        async def in_unbound_timeout():
            async with coroloop.timeout(20):  # held only by the frame's value stack
                await plain

        async def in_asyncio_timeout():
            async with asyncio.timeout(40):  # the stdlib's scope on coroloop's loop
                async with coroloop.timeout(50):  # the earliest of the two counts
                    await plain

        async def in_wait_for():
            await coroloop.wait_for(plain, 60)

        holder = coroloop.create_task(hold_lock(), name="holder")
        await coroloop.sleep(0)
        sleeping = coroloop.create_task(sleeper(), name="sleep")
        made = {
            "sleep": sleeping,
            "future": coroloop.create_task(await_plain()),
            "task": coroloop.create_task(task_waiter(sleeping)),
            "gather": coroloop.create_task(gathering()),
            "taskgroup": coroloop.create_task(group()),
            "lock": coroloop.create_task(lock.acquire()),
            "event": holder,
            "condition": coroloop.create_task(wait_condition()),
            "semaphore": coroloop.create_task(semaphore.acquire()),
            "barrier": coroloop.create_task(barrier.wait()),
            "queue_get": coroloop.create_task(empty.get()),
            "queue_put": coroloop.create_task(full.put(1)),
            "read": coroloop.create_task(stream_reader.read(10)),
            "executor": coroloop.create_task(executor()),
            "deadline": coroloop.create_task(in_timeout()),
            "unbound": coroloop.create_task(in_unbound_timeout()),
            "asyncio_timeout": coroloop.create_task(in_asyncio_timeout()),
            "wait_for": coroloop.create_task(in_wait_for()),
        }
        for name, task in made.items():
            if name != "event":
                task.set_name(name)
        proc = await coroloop.create_subprocess_exec(
            sys.executable, "-c", "import sys; sys.stdin.read()", stdin=subprocess.PIPE)
        made["subprocess"] = coroloop.create_task(proc.wait(), name="subprocess")
        for _ in range(5):
            await coroloop.sleep(0)
        shot = snapshot()
        seen.update({name: shot.task(id(task)) for name, task in made.items()})
        seen["main"] = shot.task(id(coroloop.current_task()))
        seen["holder_id"] = id(holder)
        seen["shot"] = shot
        proc.stdin.close()
        await proc.wait()
        release.set()
        for task in made.values():
            task.cancel()
        await coroloop.gather(*made.values(), return_exceptions=True)
        stream_writer.close()
        writer.close()
        plain.cancel()

    run_until(loop, main())
    monitor.stop()
    kinds = {name: info.wait.kind for name, info in seen.items()
             if isinstance(info, TaskInfo) and info.wait is not None}
    assert kinds == {"sleep": "sleep", "future": "future", "task": "task", "gather": "gather",
                     "taskgroup": "taskgroup", "lock": "lock", "event": "event",
                     "condition": "condition", "semaphore": "semaphore", "barrier": "barrier",
                     "queue_get": "queue_get", "queue_put": "queue_put", "read": "read",
                     "executor": "executor", "deadline": "future", "unbound": "future",
                     "asyncio_timeout": "future", "wait_for": "future",
                     "subprocess": "subprocess"}
    assert set(kinds.values()) | {"write", "runnable"} == set(KINDS)
    assert seen["main"].state == "running" and seen["main"].wait is None
    lock_wait = seen["lock"].wait
    assert lock_wait.holder == seen["holder_id"]  # the task holding the lock
    assert lock_wait.target.startswith("Lock at 0x")
    assert seen["sleep"].wait.deadline == pytest.approx(100.0, abs=1)
    assert seen["deadline"].wait.deadline == pytest.approx(30.0, abs=1)  # the timeout()
    # Found without a name bound to the scope, for asyncio's Timeout too, the
    # earliest of nested scopes, and wait_for()'s own (3.12+: a timeout() inside).
    assert seen["unbound"].wait.deadline == pytest.approx(20.0, abs=1)
    assert seen["asyncio_timeout"].wait.deadline == pytest.approx(40.0, abs=1)
    if sys.version_info >= (3, 12):
        assert seen["wait_for"].wait.deadline == pytest.approx(60.0, abs=1)
    assert seen["future"].wait.deadline is None
    assert "await_plain" in seen["future"].wait.target and HERE in seen["future"].wait.target
    assert seen["task"].wait.target == "sleep"
    assert seen["sleep"].wait.since is not None and seen["sleep"].steps >= 1
    for info in seen["shot"].tasks:
        assert info.state in ("running", "runnable", "waiting", "done")


def test_awaited_by_spawned_by_and_stacks(virtual_loop):
    loop = virtual_loop
    monitor = start_monitor(loop)
    result = {}

    async def leaf():
        await coroloop.sleep(10)

    async def middle():
        await coroloop.gather(leaf(), leaf())

    async def parent():
        child = coroloop.create_task(middle(), name="middle")
        await child

    async def group():
        async with coroloop.TaskGroup() as tg:
            tg.create_task(leaf(), name="grouped")

    async def main():
        top = coroloop.create_task(parent(), name="parent")
        grouping = coroloop.create_task(group(), name="group")
        await coroloop.sleep(1)
        shot = snapshot()
        result["shot"] = shot
        top.cancel()
        grouping.cancel()
        await coroloop.gather(top, grouping, return_exceptions=True)

    run_until(loop, main())
    monitor.stop()
    shot = result["shot"]
    by_name = {info.name: info for info in shot.tasks}
    middle, parent, group = by_name["middle"], by_name["parent"], by_name["group"]
    assert middle.awaited_by == [parent.id]
    assert middle.spawned_by == parent.id
    leaves = [info for info in shot.tasks if info.coro.endswith("leaf")]
    assert sorted(info.awaited_by for info in leaves) == sorted(
        [[middle.id], [middle.id], [group.id]])
    assert by_name["grouped"].awaited_by == [group.id]
    # created_at: the program's own frames, innermost last, cheap tuples
    assert middle.created_at[-1][0].endswith(HERE)
    assert middle.created_at[-1][2] == "test_awaited_by_spawned_by_and_stacks.<locals>.parent"
    # the await chain, innermost last
    assert [entry[2].rpartition(".")[2] for entry in middle.stack][:1] == ["middle"]
    # consistency: every id named exists in the same snapshot
    ids = {info.id for info in shot.tasks}
    for info in shot.tasks:
        assert set(info.awaited_by) <= ids
        assert info.spawned_by is None or info.spawned_by in ids


def test_to_dict_is_json_and_loop_facts(virtual_loop):
    loop = virtual_loop
    monitor = start_monitor(loop)
    out = {}

    async def main():
        sleepers = [coroloop.create_task(coroloop.sleep(5 + i)) for i in range(3)]
        loop.call_later(50, lambda: None)
        rsock, wsock = socket.socketpair()
        loop.add_reader(rsock, lambda: None)
        await coroloop.sleep(0)
        coroloop.get_running_loop().call_soon(lambda: None)
        shot = snapshot()
        out["shot"] = shot
        out["fd"] = rsock.fileno()
        loop.remove_reader(rsock)
        rsock.close()
        wsock.close()
        for task in sleepers:
            task.cancel()
        await coroloop.gather(*sleepers, return_exceptions=True)

    run_until(loop, main())
    monitor.stop()
    shot = out["shot"]
    assert isinstance(shot, Snapshot) and shot.monitored
    data = json.loads(json.dumps(shot.to_dict()))
    assert data["timers"] == 4 and data["next_deadline"] == pytest.approx(5.0, abs=0.01)
    assert data["fds"] == [out["fd"]]
    assert data["ready"] >= 1
    assert data["iterations"] >= 2
    assert data["step_running"] >= 0.0
    assert {task["state"] for task in data["tasks"]} == {"running", "waiting"}
    waiting = [task for task in data["tasks"] if task["state"] == "waiting"]
    assert all(task["wait"]["kind"] == "sleep" for task in waiting)


def test_snapshot_without_monitor_still_names_waits(virtual_loop):
    loop = virtual_loop
    out = {}

    async def main():
        task = coroloop.create_task(coroloop.sleep(3), name="s")
        await coroloop.sleep(0)
        out["shot"] = snapshot()
        task.cancel()

    run_until(loop, main())
    info = out["shot"].by_name("s")
    assert not out["shot"].monitored
    assert info.wait.kind == "sleep" and info.wait.since is None and info.steps is None


def test_snapshot_from_another_thread_and_when_blocked():
    loop = coroloop.new_event_loop()
    started = threading.Event()
    release = threading.Event()
    shots = []

    async def main():
        blocker = coroloop.create_task(coroloop.sleep(3600), name="background")
        started.set()
        while not release.is_set():
            await coroloop.sleep(0.001)
        blocker.cancel()

    def other_thread():
        started.wait(10)
        shots.append(snapshot(loop, timeout=10))
        release.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    try:
        loop.run_until_complete(main())
    finally:
        thread.join(10)
    assert shots and shots[0].by_name("background").wait.kind == "sleep"
    # A blocked (not running) loop cannot answer: a clear TimeoutError, no hang.
    blocked = threading.Event()

    async def block():
        blocked.set()
        release2.wait(10)  # blocks the loop on purpose

    release2 = threading.Event()
    errors = []

    def ask():
        blocked.wait(10)
        try:
            snapshot(loop, timeout=0.05)
        except TimeoutError as exc:
            errors.append(str(exc))
        release2.set()

    thread = threading.Thread(target=ask)
    thread.start()
    loop.run_until_complete(block())
    thread.join(10)
    loop.close()
    assert errors and "blocked" in errors[0]


def test_snapshot_needs_a_loop():
    with pytest.raises(RuntimeError, match="pass loop="):
        snapshot()


def test_stdlib_tasks_on_coroloop_loop(virtual_loop):
    loop = virtual_loop
    out = {}

    async def stdlib_child():
        await asyncio.sleep(4)

    async def main():
        task = asyncio.Task(stdlib_child(), loop=loop, name="stdlib")
        await coroloop.sleep(0)
        out["shot"] = snapshot()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run_until(loop, main())
    assert out["shot"].by_name("stdlib").wait.kind == "sleep"


def test_task_monitor_counts_and_history(virtual_loop):
    loop = virtual_loop
    monitor = TaskMonitor(loop, history=3)
    out = {}

    async def ok(n):
        await coroloop.sleep(n + 1)
        return n

    async def bad():
        raise ValueError("bad")

    async def main():
        tasks = [coroloop.create_task(ok(i)) for i in range(4)]
        failing = coroloop.create_task(bad(), name="bad")
        hanging = coroloop.create_task(coroloop.sleep(100), name="hanging")
        await coroloop.sleep(0)
        out["counts_early"] = monitor.counts()
        out["active"] = {task.get_name() for task in monitor.active()}
        await coroloop.gather(*tasks)
        with pytest.raises(ValueError):
            await failing
        hanging.cancel()
        await coroloop.sleep(0)
        out["counts"] = monitor.counts()

    with monitor:
        assert TaskMonitor.of(loop) is monitor
        assert TaskMonitor.install(loop) is monitor
        run_until(loop, main())
    assert TaskMonitor.of(loop) is None
    assert out["counts_early"] == {"running": 1, "runnable": 0, "waiting": 5, "done": 1}
    assert "hanging" in out["active"] and "bad" not in out["active"]
    assert out["counts"]["done"] == 6  # ok x4, bad, hanging
    history = list(monitor.finished)
    assert len(history) == 3  # bounded
    assert all(isinstance(entry, FinishedTask) for entry in history)
    assert any(entry.name == "hanging" and entry.outcome == "cancelled" for entry in history)
    assert history[-1].coro.endswith("main") and history[-1].outcome == "result"
    outcomes = {entry.outcome for entry in history}
    assert outcomes <= {"result", "cancelled", "exception"}
    json.dumps([entry.to_dict() for entry in history])
    with pytest.raises(ValueError, match="history"):
        TaskMonitor(loop, history=-1)


def test_task_monitor_default_history_is_1000(virtual_loop):
    monitor = TaskMonitor(virtual_loop)
    assert monitor.finished.maxlen == 1000


def test_a_broken_monitor_removes_itself(virtual_loop, errors, monkeypatch):
    loop = virtual_loop
    errors.install(loop)
    monitor = start_monitor(loop)
    monkeypatch.setattr(type(monitor), "_broken", True, raising=False)

    def boom(*args):
        raise RuntimeError("monitor bug")

    monkeypatch.setattr("coroloop.debug.taskmonitor.creation_frames", boom)

    async def main():
        await coroloop.create_task(coroloop.sleep(0))
        return 7

    assert run_until(loop, main()) == 7  # the program is not disturbed
    assert TaskMonitor.of(loop) is None
    assert any("TaskMonitor raised" in context["message"] for context in errors.contexts)


def test_wait_reason_is_a_frozen_record():
    reason = WaitReason("lock", "Lock at 0x1", 1.0, None, 5)
    assert reason.to_dict() == {"kind": "lock", "target": "Lock at 0x1", "since": 1.0,
                                "deadline": None, "holder": 5}
    with pytest.raises(AttributeError):
        reason.kind = "x"


def test_a_snapshot_read_later_shows_the_moment_it_was_taken(virtual_loop):
    """Everything a step may change is read when the snapshot is taken: two
    snapshots taken back to back, the first read at once and the second only after
    every task moved on (new lines and waits, a lock changing hands, a queue
    filled, a gather child done, a rename, a timeout rescheduled, a group grown),
    are the same.  A fact read lazily (when ``tasks`` is first read) differs."""
    loop = virtual_loop
    monitor = start_monitor(loop)
    result = {}

    async def main():
        lock, go, later = coroloop.Lock(), coroloop.Event(), coroloop.Event()
        queue = coroloop.Queue()
        await lock.acquire()

        async def mover():
            await go.wait()
            await later.wait()  # another line, another wait

        async def locker():
            async with lock:
                await later.wait()

        async def getter():
            await queue.get()
            await later.wait()

        async def short():
            await go.wait()

        async def gathering():
            await coroloop.gather(short(), later.wait())

        async def timed():
            async with coroloop.timeout(loop.time() + 10) as scope:
                result["scope"] = scope
                await later.wait()

        async def group():
            async with coroloop.TaskGroup() as tg:
                result["tg"] = tg
                tg.create_task(later.wait())

        tasks = [coroloop.create_task(maker(), name=maker.__name__)
                 for maker in (mover, locker, getter, gathering, timed, group)]
        for _ in range(3):
            await coroloop.sleep(0)
        now, lazy = snapshot(), snapshot()
        expected = now.to_dict()
        # Every task moves on.
        go.set()
        lock.release()
        queue.put_nowait(1)
        result["scope"].reschedule(loop.time() + 20)
        result["tg"].create_task(later.wait(), name="added")
        tasks[0].set_name("renamed")
        for _ in range(5):
            await coroloop.sleep(0)
        moved = snapshot().to_dict()
        result.update(expected=expected, lazy=lazy.to_dict(), moved=moved)
        later.set()
        await coroloop.gather(*tasks)

    run_until(loop, main())
    monitor.stop()
    expected, lazy, moved = result["expected"], result["lazy"], result["moved"]
    assert lazy == expected
    # ...and the program did move on, in each of those facts.
    before = {info["name"]: info for info in expected["tasks"]}
    after = {info["name"]: info for info in moved["tasks"]}
    assert before["mover"]["stack"] != after["renamed"]["stack"]
    assert before["mover"]["steps"] < after["renamed"]["steps"]
    assert before["locker"]["wait"]["kind"] == "lock"
    assert after["locker"]["wait"]["kind"] == "event"
    assert before["getter"]["wait"]["kind"] == "queue_get"
    assert before["gathering"]["wait"]["target"] == "2 awaitables, 0 done"
    assert after["gathering"]["wait"]["target"] == "2 awaitables, 1 done"
    assert before["timed"]["wait"]["deadline"] + 10 == after["timed"]["wait"]["deadline"]
    assert "added" not in before and "added" in after


def test_the_capture_reads_the_fields_behind_the_public_accessors(virtual_loop):
    """The fields the capture reads of a coroloop Task (its copy of
    _native_fields, checked by test_hot_path_copies) are what spawned_by(),
    waiting_on(), get_coro() and record_of() return."""
    import importlib

    from coroloop.debug.taskmonitor import record_of
    snapshot_module = importlib.import_module("coroloop.debug.snapshot")
    read = snapshot_module._native_fields
    monitor = start_monitor(virtual_loop)
    seen = []

    async def child():
        await coroloop.sleep(1)

    async def main():
        task = coroloop.create_task(child())
        await coroloop.sleep(0)
        for checked in (task, coroloop.current_task()):
            checked.get_name()  # formatted: the field is then the name
            fields = read(checked)
            seen.append((fields[:4], (checked.spawned_by(), checked.waiting_on(),
                                      checked.get_coro(), record_of(checked))))
            assert fields[5] == checked.get_name()
            assert (fields[6] != snapshot_module._PENDING) is checked.done() is False
        await task
        fields = read(task)
        assert (fields[6] != snapshot_module._PENDING) is task.done() is True

    run_until(virtual_loop, main())
    monitor.stop()
    for fields, public in seen:
        assert all(a is b for a, b in zip(fields, public, strict=True))
    assert seen[0][1][0] is not None and seen[0][1][1] is not None  # not all Nones

"""coroloop.debug.record_trace: the Chrome trace of a known program, checked event
by event (chrome_trace_schema) and for what it must show: one track per task named
after it, a slice per step, waits labelled with their reason, spawn and wake-up
arrows, the ready-queue counter, cancellations and detector marks, virtual time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

import coroloop
import coroloop.debug
from coroloop.debug import trace as trace_module
from coroloop.testing import new_virtual_loop

from chrome_trace_schema import check_trace

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


async def known_program():
    """Every kind of event once: a spawn, sleeps, a lock, an event, a queue, awaiting
    a task, a gather, a cancellation and a detector's mark."""
    lock = coroloop.Lock()
    ready = coroloop.Event()
    queue = coroloop.Queue(maxsize=1)

    async def holder():
        async with lock:
            await coroloop.sleep(2)

    async def contender():
        await coroloop.sleep(0)
        async with lock:  # waits for holder: a lock wait
            pass

    async def setter():
        await coroloop.sleep(1)
        ready.set()

    async def waiter():
        await ready.wait()
        return "seen"

    async def consumer():
        return await queue.get()

    async def sleeper():
        await coroloop.sleep(100)

    async def child():
        await coroloop.sleep(0.5)
        return 7

    tasks = [coroloop.create_task(f(), name=f.__name__)
             for f in (holder, contender, setter, waiter, consumer)]
    victim = coroloop.create_task(sleeper(), name="victim")
    result = await coroloop.create_task(child(), name="child")  # a task wait
    await queue.put(result)
    await coroloop.sleep(0)
    victim.cancel("not needed")
    coroloop.debug.mark("deadlock", "pretend report", args={"tasks": 2})
    coroloop.debug.mark("blocking", "pretend block", task=victim, args={"ms": 120})
    outcome = await coroloop.gather(*tasks, victim, return_exceptions=True)
    return outcome


def record(tmp_path, main, *, virtual=True, name="trace.json"):
    path = tmp_path / name
    loop = new_virtual_loop() if virtual else coroloop.new_event_loop()
    try:
        with coroloop.debug.record_trace(path, loop=loop):
            result = loop.run_until_complete(loop.create_task(main(), name="main"))
    finally:
        loop.close()
    return result, json.loads(path.read_text())


def by_track(parsed, name):
    [track] = [t for t, n in parsed["thread_names"].items() if n == name]
    return parsed["slices"][track]


def test_the_trace_of_a_known_program_follows_the_schema(tmp_path):
    result, trace = record(tmp_path, known_program)
    assert result[:5] == [None, None, None, "seen", 7]
    parsed = check_trace(trace)
    names = set(parsed["thread_names"].values())
    assert {"main", "holder", "contender", "setter", "waiter", "consumer", "victim",
            "child", "loop"} <= names
    assert parsed["process_names"] == {1: "coroloop loop 1 (VirtualClock)"}


def test_the_same_program_on_a_real_clock_follows_the_schema(tmp_path):
    _, trace = record(tmp_path, known_program_short, virtual=False)
    parsed = check_trace(trace)
    steps = [e for e in by_track(parsed, "main") if e["cat"] == "step"]
    assert len(steps) >= 2
    assert parsed["process_names"] == {1: "coroloop loop 1"}


async def known_program_short():
    async def child():
        await coroloop.sleep(0.001)

    await coroloop.gather(*(coroloop.create_task(child(), name=f"c{i}") for i in range(3)))


def test_waits_are_labelled_with_their_reason(tmp_path):
    _, trace = record(tmp_path, known_program)
    parsed = check_trace(trace)

    def kinds(name):
        return [e["args"]["kind"] for e in by_track(parsed, name) if e["cat"] == "wait"]

    assert "sleep" in kinds("holder")
    assert "lock" in kinds("contender")
    assert "event" in kinds("waiter")
    assert "queue_get" in kinds("consumer")
    assert "task" in kinds("main") and "gather" in kinds("main")
    [task_wait] = [e for e in by_track(parsed, "main") if e["args"].get("kind") == "task"]
    assert task_wait["args"]["target"] == "child"
    # A task that was created waits as runnable until its first step.
    assert kinds("child")[0] == "runnable"


def test_steps_and_waits_alternate_and_take_virtual_time(tmp_path):
    _, trace = record(tmp_path, known_program)
    parsed = check_trace(trace)
    holder = by_track(parsed, "holder")
    assert [e["cat"] for e in holder] == ["wait", "step", "wait", "step"]
    # The second step comes after sleep(2): two virtual seconds, in microseconds,
    # give or take the nanoseconds that keep slices at one instant apart.
    assert holder[3]["ts"] == pytest.approx(2_000_000, abs=0.1)
    assert holder[3]["name"].endswith("holder")  # a step is named after its coroutine
    assert holder[3]["args"]["step"] == 2


def test_spawn_and_wake_arrows_join_the_right_steps(tmp_path):
    _, trace = record(tmp_path, known_program)
    parsed = check_trace(trace)
    tid = {n: t[1] for t, n in parsed["thread_names"].items()}
    arrows = {(pair["s"]["tid"], pair["f"]["tid"], cat) for (cat, _), pair in parsed["flows"].items()}
    for child in ("holder", "contender", "setter", "waiter", "consumer", "victim", "child"):
        assert (tid["main"], tid[child], "spawn") in arrows
    assert (tid["setter"], tid["waiter"], "wake") in arrows       # ready.set() woke it
    assert (tid["holder"], tid["contender"], "wake") in arrows    # the lock's release
    assert (tid["child"], tid["main"], "wake") in arrows          # its end woke main
    assert (tid["main"], tid["consumer"], "wake") in arrows       # queue.put() woke it
    # The gather's last child completes it from a done callback: the arrow starts on
    # the loop's track, at a callback marker.
    assert (tid["loop"], tid["main"], "wake") in arrows
    # Each finish is just inside the start of the woken step (1 ns: no tie with the
    # wait that ends there), each start inside a step or callback marker.
    for pair in parsed["flows"].values():
        step = [e for e in parsed["slices"][(1, pair["f"]["tid"])]
                if e["cat"] == "step" and round((pair["f"]["ts"] - e["ts"]) * 1000) == 1]
        assert step, pair
        source = [e for e in parsed["slices"][(1, pair["s"]["tid"])]
                  if e["ts"] < pair["s"]["ts"] < e["ts"] + e["dur"]]
        assert source and source[0]["cat"] in ("step", "callback"), pair


def test_ready_queue_counter_cancellations_and_marks(tmp_path):
    _, trace = record(tmp_path, known_program)
    events = check_trace(trace)["events"]
    tid = {e["args"]["name"]: e["tid"] for e in events if e.get("name") == "thread_name"}
    counters = [e for e in events if e["ph"] == "C"]
    assert counters and all(e["name"] == "ready queue" for e in counters)
    assert max(e["args"]["ready"] for e in counters) >= 7  # the seven children at once
    [cancel] = [e for e in events if e["ph"] == "i" and e["cat"] == "cancel"]
    assert cancel["tid"] == tid["victim"]
    assert cancel["args"] == {"msg": "not needed", "by": "main"}
    [deadlock] = [e for e in events if e["ph"] == "i" and e["cat"] == "deadlock"]
    assert deadlock["s"] == "p" and deadlock["args"] == {"tasks": 2}
    [blocking] = [e for e in events if e["ph"] == "i" and e["cat"] == "blocking"]
    assert blocking["tid"] == tid["victim"] and blocking["name"] == "pretend block"
    exits = {e["tid"]: e["args"]["outcome"] for e in events if e["ph"] == "i" and e["cat"] == "exit"}
    assert exits[tid["victim"]] == "cancelled" and exits[tid["child"]] == "done"


def test_every_loop_created_in_the_block_is_a_process(tmp_path):
    path = tmp_path / "two.json"

    async def small():
        await coroloop.sleep(0)

    with coroloop.debug.record_trace(path):
        coroloop.run(small())
        coroloop.run(small())
    parsed = check_trace(json.loads(path.read_text()))
    assert sorted(parsed["process_names"]) == [1, 2]
    # Loops made after the block are not recorded.
    coroloop.run(small())
    assert sorted(check_trace(json.loads(path.read_text()))["process_names"]) == [1, 2]


def test_recording_from_inside_a_running_loop(virtual_loop, tmp_path):
    path = tmp_path / "inside.json"

    async def main():
        await coroloop.sleep(1)  # before the recording: not in the trace
        with coroloop.debug.record_trace(path):
            await coroloop.create_task(coroloop.sleep(5), name="recorded")
        await coroloop.sleep(1)

    virtual_loop.run_until_complete(main())
    parsed = check_trace(json.loads(path.read_text()))
    recorded = by_track(parsed, "recorded")
    assert recorded[0]["ts"] == pytest.approx(1_000_000, abs=0.1)
    assert [e["cat"] for e in recorded] == ["wait", "step", "wait", "step"]


def test_a_task_pending_at_the_end_keeps_an_unfinished_wait(virtual_loop, tmp_path):
    path = tmp_path / "pending.json"

    async def main():
        blocked = coroloop.create_task(coroloop.Event().wait(), name="blocked")
        with coroloop.debug.record_trace(path):
            await coroloop.sleep(3)
        blocked.cancel()

    virtual_loop.run_until_complete(main())
    parsed = check_trace(json.loads(path.read_text()))
    # Created before the recording began: its first step is recorded, not its spawn.
    step, wait = by_track(parsed, "blocked")
    assert step["cat"] == "step"
    assert wait["args"]["kind"] == "event" and wait["args"]["unfinished"] is True
    assert wait["dur"] == pytest.approx(3_000_000, abs=0.1)


def test_record_trace_refuses_a_stdlib_loop_and_a_missing_directory(tmp_path):
    import asyncio
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(TypeError, match="not one: run the program on coroloop"):
            coroloop.debug.record_trace(tmp_path / "x.json", loop=loop).start()
    finally:
        loop.close()
    with pytest.raises(FileNotFoundError, match="no directory"):
        coroloop.debug.record_trace(tmp_path / "missing" / "x.json")


def test_a_failing_recorder_stops_itself_and_the_program_goes_on(tmp_path, monkeypatch,
                                                                 virtual_loop, errors):
    errors.install(virtual_loop)

    def broken(task, future):
        raise RuntimeError("label bug")

    monkeypatch.setattr(trace_module, "wait_reason", broken)
    path = tmp_path / "broken.json"

    async def main():
        await coroloop.sleep(1)
        return "finished"

    with coroloop.debug.record_trace(path, loop=virtual_loop):
        assert virtual_loop.run_until_complete(main()) == "finished"
    assert virtual_loop.instruments == ()
    [context] = errors.contexts
    assert "Trace recorder stopped" in context["message"]
    trace = json.loads(path.read_text())
    check_trace(trace)
    assert "label bug" in trace["otherData"]["errors"][0]


def test_mark_without_a_recording_does_nothing(virtual_loop):
    async def main():
        coroloop.debug.mark("blocking", "nobody records")

    virtual_loop.run_until_complete(main())


def test_python_m_coroloop_trace_records_a_script(tmp_path):
    out = tmp_path / "cli.json"
    proc = run_cli("trace", "-o", str(out), os.path.join(ROOT, "examples", "timeline.py"))
    assert proc.returncode == 0, proc.stderr
    assert "6 items handled by 2 workers" in proc.stdout
    assert f"to {out}" in proc.stderr
    parsed = check_trace(json.loads(out.read_text()))
    names = set(parsed["thread_names"].values())
    assert {"producer", "worker-1", "worker-2", "watchdog"} <= names
    kinds = {e["args"]["kind"] for xs in parsed["slices"].values() for e in xs
             if e["cat"] == "wait"}
    assert {"queue_get", "lock", "sleep", "gather"} <= kinds


def test_python_m_coroloop_trace_keeps_the_trace_of_a_failing_script(tmp_path):
    script = tmp_path / "fails.py"
    script.write_text(textwrap.dedent("""\
        import asyncio, sys
        async def main():
            await asyncio.sleep(0)
            raise ValueError("boom " + sys.argv[1])
        asyncio.run(main())
        """))
    out = tmp_path / "fails.json"
    proc = run_cli("trace", "-o", str(out), str(script), "arg1")
    assert proc.returncode == 1
    assert "ValueError: boom arg1" in proc.stderr
    assert "_trace_command.py" not in proc.stderr  # the traceback starts at the program
    assert "runpy" not in proc.stderr
    check_trace(json.loads(out.read_text()))


def test_python_m_coroloop_trace_bad_arguments(tmp_path):
    proc = run_cli("trace", "-o", str(tmp_path / "t.json"), str(tmp_path / "missing.py"))
    assert proc.returncode == 2 and "can't open file" in proc.stderr
    proc = run_cli("trace", "-o", str(tmp_path / "no" / "t.json"), __file__)
    assert proc.returncode == 2 and "no directory" in proc.stderr


def run_cli(*argv):
    """``python -m coroloop COMMAND ...`` in a subprocess."""
    return subprocess.run([sys.executable, "-m", "coroloop", *argv], capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.path.join(ROOT, "src")})


def test_wait_reason_names_each_primitive(virtual_loop):
    loop = virtual_loop
    seen = {}

    async def probe(name, awaitable_factory):
        task = coroloop.create_task(awaitable_factory(), name=name)
        await coroloop.sleep(0)
        await coroloop.sleep(0)
        seen[name] = coroloop.debug.wait_reason(task, task.waiting_on())
        task.cancel()
        with pytest.raises(BaseException):
            await task

    async def main():
        semaphore = coroloop.Semaphore(0)
        condition = coroloop.Condition()
        full = coroloop.Queue(maxsize=1)
        full.put_nowait(0)
        barrier = coroloop.Barrier(2)
        plain = loop.create_future()

        async def wait_condition():
            async with condition:
                await condition.wait()

        await probe("semaphore", semaphore.acquire)
        await probe("condition", wait_condition)
        await probe("queue_put", lambda: full.put(1))
        await probe("barrier", barrier.wait)
        async def await_plain():
            await plain

        await probe("future", await_plain)
        await probe("sleep", lambda: coroloop.sleep(5))
        plain.cancel()

    loop.run_until_complete(main())
    assert {name: kind for name, (kind, _) in seen.items()} == {
        "semaphore": "semaphore", "condition": "condition", "queue_put": "queue_put",
        "barrier": "barrier", "future": "future", "sleep": "sleep"}
    assert seen["sleep"][1] == "until 5.000000"
    assert "test_trace.py" in seen["future"][1]  # the user's frame that awaits it
    assert coroloop.debug.wait_reason(None, None) == ("runnable", "")


def test_debug_public_names():
    # The timeline tools' names; the other tools' tests check theirs.
    assert {"TraceRecorder", "is_recording", "mark", "record_trace", "render_timeline",
            "trace_events", "wait_reason", "write_timeline", "write_trace"} <= set(
        coroloop.debug.__all__)
    for name in coroloop.debug.__all__:
        assert getattr(coroloop.debug, name).__doc__, name


def test_waits_of_one_constant_label_are_labelled_by_type(tmp_path, monkeypatch):
    # A gather's label is the same for every gather: wait_reason() runs for the
    # first one only, later ones are labelled by the future's type.  A task wait's
    # target differs per instance: worked out at every such step.
    calls = []
    real = trace_module.wait_reason

    def counting(task, future):
        calls.append(type(future).__name__)
        return real(task, future)

    monkeypatch.setattr(trace_module, "wait_reason", counting)

    async def main():
        for i in range(5):
            await coroloop.gather(coroloop.sleep(0), coroloop.sleep(0))
            await coroloop.create_task(coroloop.sleep(0), name=f"awaited{i}")

    _, trace = record(tmp_path, main)
    parsed = check_trace(trace)
    waits = [(e["args"]["kind"], e["args"].get("target", ""))
             for e in by_track(parsed, "main") if e["cat"] == "wait"]
    assert waits[1:] == [item for i in range(5)
                         for item in (("gather", ""), ("task", f"awaited{i}"))]
    assert calls.count("_GatheringFuture") == 1
    assert len([name for name in calls if name != "_GatheringFuture"]) == 5


def test_steps_after_stop_are_not_in_the_recording(virtual_loop):
    # The loop's lean path may still call the hooks for the rest of the iteration
    # in which the recorder stopped; what they add is not exported.
    recorder = coroloop.debug.TraceRecorder(virtual_loop).start()

    async def main():
        await coroloop.sleep(1)
        recorder.stop()  # inside main's second step: its end comes after the stop

    virtual_loop.run_until_complete(virtual_loop.create_task(main(), name="main"))
    steps = [e for e in recorder.events() if e.get("cat") == "step"]
    assert [e["args"]["step"] for e in steps] == [1]


def test_a_wake_in_the_iteration_its_wait_began_points_to_the_next_step(tmp_path):
    # The recorder reads the loop's step log in batches: the waiter's step that
    # begins the wait and the setter's step that ends it are read together, after
    # the wake-up was recorded.  The arrow must still end at the waiter's next
    # step, and the wait before that step carries the wake-up.
    async def main():
        loop = coroloop.get_running_loop()
        future = loop.create_future()

        async def waiter():
            return await future

        async def setter():
            future.set_result(5)

        waiting = coroloop.create_task(waiter(), name="waiter")
        coroloop.create_task(setter(), name="setter")
        return await waiting

    result, trace = record(tmp_path, main)
    assert result == 5
    parsed = check_trace(trace)
    tid = {n: t[1] for t, n in parsed["thread_names"].items()}
    waiter_steps = [e for e in by_track(parsed, "waiter") if e["cat"] == "step"]
    assert [e["args"]["step"] for e in waiter_steps] == [1, 2]
    [wake] = [pair for (cat, _), pair in parsed["flows"].items()
              if cat == "wake" and pair["f"]["tid"] == tid["waiter"]]
    assert wake["s"]["tid"] == tid["setter"]
    assert round((wake["f"]["ts"] - waiter_steps[1]["ts"]) * 1000) == 1
    [wait] = [e for e in by_track(parsed, "waiter") if e["cat"] == "wait"
              and e["args"]["kind"] == "future"]
    assert "woken_at_us" in wait["args"]


def test_a_task_cancelled_in_the_step_that_created_it_has_one_track(tmp_path):
    async def main():
        async def never():
            await coroloop.sleep(10)

        task = coroloop.create_task(never(), name="short-lived")
        task.cancel("at once")
        await coroloop.gather(task, return_exceptions=True)

    _, trace = record(tmp_path, main)
    parsed = check_trace(trace)
    assert list(parsed["thread_names"].values()).count("short-lived") == 1
    [tid] = [t[1] for t, n in parsed["thread_names"].items() if n == "short-lived"]
    events = [e for e in trace["traceEvents"] if e.get("tid") == tid and e["ph"] != "M"]
    assert [e["args"]["step"] for e in events if e["cat"] == "step"] == [1]
    [cancel] = [e for e in events if e["cat"] == "cancel"]
    assert cancel["args"]["msg"] == "at once" and cancel["args"]["by"] == "main"
    assert [e["args"]["outcome"] for e in events if e["cat"] == "exit"] == ["cancelled"]


def test_spawns_of_eager_and_default_named_tasks_and_no_task_kept(tmp_path):
    # task_spawned is a list's append: a spawn is recorded when the step log is
    # read, also for an eager task that finished in its first step (its
    # spawned_by() link is dropped by then); a default name is formatted when the
    # file is written; the recorder keeps no task alive.
    import gc
    import weakref
    refs = []

    async def quick():
        return 1

    async def main():
        loop = coroloop.get_running_loop()
        eager = coroloop.Task(quick(), loop=loop, name="eager", eager_start=True)
        assert eager.done()
        plain = loop.create_task(quick())
        refs.append(weakref.ref(plain))
        await plain
        del plain
        return await eager

    _, trace = record(tmp_path, main)
    parsed = check_trace(trace)
    tid = {n: t[1] for t, n in parsed["thread_names"].items()}
    arrows = {(pair["s"]["tid"], pair["f"]["tid"], cat) for (cat, _), pair in parsed["flows"].items()}
    assert (tid["main"], tid["eager"], "spawn") in arrows
    [default] = [n for n in tid if n.startswith("Task-")]
    assert (tid["main"], tid[default], "spawn") in arrows
    gc.collect()
    assert refs[0]() is None


def test_many_steps_in_one_iteration_are_all_recorded_and_let_go(virtual_loop):
    # More steps than one batch of the step log, in one iteration: every step and
    # spawn is there, in order, and no finished task is kept by the recorder.
    import gc
    import weakref
    from coroloop._core.instrument import STEP_LOG_BATCH
    count = 3 * STEP_LOG_BATCH + 5
    refs = []

    async def leaf(i):
        await coroloop.sleep(0)
        return i

    async def main():
        tasks = [coroloop.create_task(leaf(i), name=f"leaf{i}") for i in range(count)]
        refs.extend(weakref.ref(task) for task in tasks)
        return sum(await coroloop.gather(*tasks))

    recorder = coroloop.debug.TraceRecorder(virtual_loop).start()
    assert virtual_loop.run_until_complete(virtual_loop.create_task(main(), name="main")) \
        == count * (count - 1) // 2
    recorder.stop()
    gc.collect()
    assert all(ref() is None for ref in refs)
    parsed = check_trace({"traceEvents": recorder.events(), "displayTimeUnit": "ms"})
    for i in (0, STEP_LOG_BATCH, count - 1):
        events = by_track(parsed, f"leaf{i}")
        assert [e["args"]["step"] for e in events if e["cat"] == "step"] == [1, 2]
        assert [e["args"]["kind"] for e in events if e["cat"] == "wait"] == \
            ["runnable", "runnable"]
    tid = {n: t[1] for t, n in parsed["thread_names"].items()}
    spawned = {pair["f"]["tid"] for (cat, _), pair in parsed["flows"].items()
               if cat == "spawn" and pair["s"]["tid"] == tid["main"]}
    assert spawned == {tid[f"leaf{i}"] for i in range(count)}
    # Steps: two a leaf, two of main; spawns: the leaves and main; and the events.
    assert recorder.event_count == 2 * count + 2 + count + 1 + len(recorder.records) // 33


def test_a_recorder_failing_in_a_batch_read_stops_itself_and_the_program_goes_on(
        monkeypatch, virtual_loop, errors):
    # The loop reads the step log itself every STEP_LOG_BATCH steps, in the middle
    # of an iteration: a failure there must stop the recorder, not the loop.
    from coroloop._core.instrument import STEP_LOG_BATCH
    errors.install(virtual_loop)

    def broken(task, future):
        raise RuntimeError("label bug")

    monkeypatch.setattr(trace_module, "wait_reason", broken)
    recorder = coroloop.debug.TraceRecorder(virtual_loop).start()

    async def main():
        event = coroloop.Event()

        async def waiter():
            await event.wait()  # a plain future: labelled by wait_reason()

        tasks = [coroloop.create_task(waiter()) for _ in range(2 * STEP_LOG_BATCH)]
        await coroloop.sleep(0)
        event.set()
        await coroloop.gather(*tasks)
        return "finished"

    assert virtual_loop.run_until_complete(main()) == "finished"
    assert virtual_loop.instruments == ()
    [context] = errors.contexts
    assert "Trace recorder stopped" in context["message"]
    assert "read_step_log" in recorder.error and "label bug" in recorder.error
    check_trace({"traceEvents": recorder.events(), "displayTimeUnit": "ms"})

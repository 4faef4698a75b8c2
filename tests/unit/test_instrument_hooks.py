"""The instrument hooks that tracing builds on: task_stepped, task_woken,
task_cancel_requested and ready_run_started, and how hooks are dispatched (no-ops
inherited from Instrument are skipped; an instrument that catches its own errors is
called directly)."""

from __future__ import annotations

import pytest

import coroloop
from coroloop._core.instrument import HOOKS


class Log(coroloop.Instrument):
    def __init__(self, loop):
        self.loop = loop
        self.events = []

    def task_stepped(self, task, started, ended):
        self.events.append(("stepped", task.get_name(), started, ended,
                            type(task.waiting_on()).__name__))

    def task_woken(self, task, future):
        current = coroloop.current_task(self.loop)
        self.events.append(("woken", task.get_name(), type(future).__name__,
                            current.get_name() if current else None))

    def task_cancel_requested(self, task, msg):
        current = coroloop.current_task(self.loop)
        self.events.append(("cancel", task.get_name(), msg,
                            current.get_name() if current else None))

    def ready_run_started(self, count):
        self.events.append(("ready", count))


def test_task_stepped_gives_loop_time_bounds_and_the_wait(virtual_loop):
    loop = virtual_loop
    log = Log(loop)
    loop.add_instrument(log)

    async def sleeper():
        await coroloop.sleep(2)

    loop.run_until_complete(loop.create_task(sleeper(), name="s"))
    steps = [e for e in log.events if e[0] == "stepped"]
    # Virtual time: the first step at 0 ends waiting on its sleep; the second at 2.
    assert steps == [("stepped", "s", 0.0, 0.0, "SleepFuture"),
                     ("stepped", "s", 2.0, 2.0, "NoneType")]


def test_task_stepped_times_a_real_step(loop):
    log = Log(loop)
    loop.add_instrument(log)

    async def busy():
        end = loop.time() + 0.01
        while loop.time() < end:
            pass

    loop.run_until_complete(loop.create_task(busy(), name="b"))
    [(_, _, started, ended, _)] = [e for e in log.events if e[0] == "stepped"]
    assert ended - started >= 0.01


def test_task_stepped_covers_eager_steps(loop):
    log = Log(loop)
    loop.add_instrument(log)
    loop.set_task_factory(coroloop.eager_task_factory)

    async def child():
        return 1

    async def parent():
        return await coroloop.create_task(child(), name="eager-child")

    assert loop.run_until_complete(parent()) == 1
    # The child's whole life is one step inside the parent's (reported first, as it
    # ends first); on 3.11/3.12 the name is given after that step, so it is Task-N.
    steps = [e for e in log.events if e[0] == "stepped"]
    assert len(steps) == 2
    assert steps[0][1] != steps[1][1] and steps[0][4] == "NoneType"


def test_task_woken_names_the_future_and_runs_in_the_completer(loop):
    log = Log(loop)
    loop.add_instrument(log)

    async def waiter(fut):
        return await fut

    async def completer(fut):
        fut.set_result(5)

    async def main():
        fut = loop.create_future()
        w = coroloop.create_task(waiter(fut), name="waiter")
        await coroloop.sleep(0)
        await coroloop.create_task(completer(fut), name="completer")
        return await w

    assert loop.run_until_complete(loop.create_task(main(), name="main")) == 5
    assert ("woken", "waiter", "Future", "completer") in log.events


def test_task_woken_by_a_due_sleep_has_no_current_task(virtual_loop):
    loop = virtual_loop
    log = Log(loop)
    loop.add_instrument(log)

    async def sleeper():
        await coroloop.sleep(1)

    loop.run_until_complete(loop.create_task(sleeper(), name="s"))
    assert ("woken", "s", "SleepFuture", None) in log.events


def test_task_cancel_requested_runs_in_the_canceller(virtual_loop):
    loop = virtual_loop
    log = Log(loop)
    loop.add_instrument(log)

    async def victim():
        await coroloop.sleep(10)

    async def main():
        v = coroloop.create_task(victim(), name="victim")
        await coroloop.sleep(0)
        v.cancel("enough")
        v.cancel("again")  # counts too: the task is not done yet
        with pytest.raises(coroloop.CancelledError):
            await v
        assert not v.cancel("late")  # done: not a request

    loop.run_until_complete(loop.create_task(main(), name="main"))
    assert [e for e in log.events if e[0] == "cancel"] == [
        ("cancel", "victim", "enough", "main"), ("cancel", "victim", "again", "main")]


def test_ready_run_started_counts_the_ready_items(loop):
    log = Log(loop)
    loop.add_instrument(log)
    for _ in range(3):
        loop.call_soon(lambda: None)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert ("ready", 4) in log.events


def test_inherited_no_ops_are_not_called_and_leave_hooks_none(loop):
    class OnlySpawn(coroloop.Instrument):
        def task_spawned(self, task):
            pass

    loop.add_instrument(OnlySpawn())
    hooks = loop._instruments
    assert hooks.task_spawned is not None
    assert [h for h in HOOKS if getattr(hooks, h) is not None] == ["task_spawned"]
    assert not hooks.watch_steps  # the loop need not look for the stepped task


def test_an_instrument_catching_its_own_errors_is_called_directly(loop):
    class Careful(coroloop.Instrument):
        hooks_catch_errors = True

        def task_spawned(self, task):
            pass

    careful = Careful()
    loop.add_instrument(careful)
    assert loop._instruments.task_spawned == careful.task_spawned
    # A second instrument with the same hook: both are guarded again.
    other = Careful()
    loop.add_instrument(other)
    assert loop._instruments.task_spawned != careful.task_spawned


def test_a_raising_wake_hook_is_removed_and_the_program_goes_on(loop, errors):
    errors.install(loop)

    class Broken:
        def task_woken(self, task, future):
            raise RuntimeError("tool bug")

    loop.add_instrument(Broken())

    async def main():
        fut = loop.create_future()
        loop.call_soon(fut.set_result, 3)
        return await fut

    assert loop.run_until_complete(main()) == 3
    assert loop.instruments == ()
    [context] = errors.contexts
    assert "task_woken" in context["message"]


def test_loop_watchers_see_each_new_loop_until_removed(errors):
    seen = []
    coroloop.add_loop_watcher(seen.append)
    try:
        first = coroloop.new_event_loop()
    finally:
        coroloop.remove_loop_watcher(seen.append)
    second = coroloop.new_event_loop()
    try:
        assert seen == [first]
    finally:
        first.close()
        second.close()
    with pytest.raises(ValueError, match="not a loop watcher"):
        coroloop.remove_loop_watcher(seen.append)
    with pytest.raises(TypeError, match="callable"):
        coroloop.add_loop_watcher("not callable")


def test_a_raising_loop_watcher_is_reported_and_the_loop_made(errors):
    def broken(loop):
        errors.install(loop)
        raise RuntimeError("watcher bug")

    coroloop.add_loop_watcher(broken)
    try:
        loop = coroloop.new_event_loop()
    finally:
        coroloop.remove_loop_watcher(broken)
    try:
        assert not loop.is_closed()
        [context] = errors.contexts
        assert "Loop watcher" in context["message"]
    finally:
        loop.close()


class TickingClock(coroloop.Clock):
    """A clock that moves on by one second at every read: shows how many reads a
    step costs and which read each bound of a step is."""

    def __init__(self):
        self.now = 0.0

    def time(self):
        self.now += 1.0
        return self.now

    def sleep_time(self, deadline):
        return 0.0


def test_task_stepped_alone_reads_the_clock_once_per_step():
    # A tracer (task_stepped, no other per-item hook) runs on the loop's lean path:
    # steps that follow each other share a clock read -- one step's end is the
    # next one's start -- instead of reading the clock twice per step.
    loop = coroloop.new_event_loop(clock=TickingClock())
    try:
        steps = []

        class Stepped:
            hooks_catch_errors = True

            def task_stepped(self, task, started, ended):
                steps.append((task.get_name(), started, ended))

        async def quick():
            pass

        async def main():
            await coroloop.gather(*(coroloop.create_task(quick(), name=f"q{i}")
                                    for i in range(3)))

        loop.add_instrument(Stepped())
        loop.run_until_complete(loop.create_task(main(), name="main"))
    finally:
        loop.close()
    quick_steps = [step for step in steps if step[0].startswith("q")]
    assert [name for name, _, _ in quick_steps] == ["q0", "q1", "q2"]
    for (_, _, ended), (_, started, _) in zip(quick_steps, quick_steps[1:]):
        assert started == ended
    assert all(ended - started == 1.0 for _, started, ended in quick_steps[1:])


class StepLog:
    """The step-log protocol: the lean path appends (task, start, end) per step and
    calls read_step_log() every STEP_LOG_BATCH steps."""

    hooks_catch_errors = True

    def __init__(self, read=True):
        self.step_log = []
        self.read = []          # the log as each read_step_log() call found it
        self.stepped = []       # task_stepped calls (the paths without the log)
        if read:
            self.read_step_log = self._read

    def _read(self):
        self.read.append(list(self.step_log))
        self.step_log.clear()

    def task_stepped(self, task, started, ended):
        self.stepped.append((task, started, ended))


def test_a_step_log_gets_three_appends_per_step_and_is_read_every_batch():
    from coroloop._core.instrument import STEP_LOG_BATCH
    loop = coroloop.new_event_loop(clock=TickingClock())
    instrument = StepLog()
    try:
        async def quick():
            pass

        async def main():
            # One iteration of more than two batches of steps.
            await coroloop.gather(*(coroloop.create_task(quick(), name=f"q{i}")
                                    for i in range(2 * STEP_LOG_BATCH + 10)))

        loop.add_instrument(instrument)
        loop.run_until_complete(loop.create_task(main(), name="main"))
        remaining = list(instrument.step_log)
    finally:
        loop.close()
    assert instrument.stepped == []  # the lean path made no call per step
    assert [len(batch) for batch in instrument.read] == [3 * STEP_LOG_BATCH] * 2
    entries = [entry for batch in instrument.read for entry in batch] + remaining
    steps = [tuple(entries[at:at + 3]) for at in range(0, len(entries), 3)]
    names = [task.get_name() for task, _, _ in steps]
    assert names[0] == "main"
    assert [name for name in names if name != "main"] == \
        [f"q{i}" for i in range(2 * STEP_LOG_BATCH + 10)]
    quick_steps = [step for step in steps if step[0].get_name() != "main"]
    for (_, _, ended), (_, started, _) in zip(quick_steps, quick_steps[1:]):
        assert started == ended  # chained: one clock read per step
    # Read before the iteration ended: every task of a batch is done and kept by it
    # only until it is read.
    assert all(task.done() for task, _, _ in steps[1:1 + STEP_LOG_BATCH])


def test_a_step_log_without_read_step_log_gets_task_stepped_calls(loop):
    instrument = StepLog(read=False)

    async def quick():
        pass

    loop.add_instrument(instrument)
    loop.run_until_complete(loop.create_task(quick(), name="q"))
    assert instrument.step_log == []
    assert [task.get_name() for task, _, _ in instrument.stepped] == ["q"]


def test_two_tracers_each_get_task_stepped_calls(loop):
    # The log is one instrument's: with two step hooks both are called.
    first, second = StepLog(), StepLog()

    async def quick():
        pass

    loop.add_instrument(first)
    loop.add_instrument(second)
    loop.run_until_complete(loop.create_task(quick(), name="q"))
    assert first.step_log == second.step_log == []
    assert len(first.stepped) == len(second.stepped) == 1


def test_a_step_log_with_the_inherited_read_step_log_gets_task_stepped_calls(loop):
    # Instrument's read_step_log is a no-op: nothing would empty the log.
    class Half(coroloop.Instrument):
        def __init__(self):
            self.step_log = []
            self.stepped = []

        def task_stepped(self, task, started, ended):
            self.stepped.append(task.get_name())

    instrument = Half()

    async def quick():
        pass

    loop.add_instrument(instrument)
    loop.run_until_complete(loop.create_task(quick(), name="q"))
    assert instrument.step_log == [] and instrument.stepped == ["q"]


def test_a_raising_read_step_log_is_removed_and_the_program_goes_on(errors):
    from coroloop._core.instrument import STEP_LOG_BATCH
    loop = coroloop.new_event_loop()
    errors.install(loop)

    class Broken:
        def __init__(self):
            self.step_log = []

        def task_stepped(self, task, started, ended):
            pass

        def read_step_log(self):
            raise RuntimeError("tool bug")

    async def quick():
        pass

    async def main():
        return len(await coroloop.gather(*(quick() for _ in range(2 * STEP_LOG_BATCH))))

    try:
        loop.add_instrument(Broken())
        assert loop.run_until_complete(main()) == 2 * STEP_LOG_BATCH
        assert loop.instruments == ()
    finally:
        loop.close()
    [context] = errors.contexts
    assert "read_step_log" in context["message"]


def test_the_loop_lets_go_of_a_step_log_whose_instrument_left(loop):
    # Removed by an item, the instrument's log may still get this iteration's
    # steps; the loop drops it (list, bound append and reader) as the iteration ends.
    import gc
    import weakref

    class Log(list):
        pass

    class Leaving:
        hooks_catch_errors = True

        def __init__(self):
            self.step_log = Log()

        def task_stepped(self, task, started, ended):
            pass

        def read_step_log(self):
            self.step_log.clear()

    installed = [Leaving()]
    ref = weakref.ref(installed[0].step_log)

    async def main():
        loop.remove_instrument(installed.pop())
        await coroloop.sleep(0)
        await coroloop.sleep(0)
        gc.collect()
        return ref() is None

    loop.add_instrument(installed[0])
    assert loop.run_until_complete(main())

"""The loop's step records (``records_steps`` instruments, the TaskMonitor): what the
lean ready-queue path counts must be what the watched path counts (issue 9, Cost)."""

import sys

import pytest

import coroloop
from coroloop.debug import TaskMonitor, snapshot


class StepCounter(coroloop.Instrument):
    """Per-step hooks: they put the ready queue on the watched path (task_stepped
    alone would not: a tracer's hook is called on the lean path too)."""

    def __init__(self):
        self.steps = {}

    def task_step_started(self, task):
        pass

    def task_stepped(self, task, started, ended):
        self.steps[task] = self.steps.get(task, 0) + 1


class OnlyStepped(coroloop.Instrument):
    def task_stepped(self, task, started, ended):
        pass


async def sleeper(clock, n, delay):
    for _ in range(n):
        await coroloop.sleep(0)
    await coroloop.sleep(delay)  # a wait of its own: last_step_end is when it began
    return n


def run_workload(loop, *extra):
    monitor = TaskMonitor(loop)
    monitor.start()
    for instrument in extra:
        loop.add_instrument(instrument)

    async def main():
        tasks = [coroloop.create_task(sleeper(loop.clock, n, n), name=f"s{n}")
                 for n in (1, 2, 3)]
        await coroloop.gather(*tasks)
        return tasks

    tasks = loop.run_until_complete(main())
    monitor.stop()
    return monitor, tasks


@pytest.mark.parametrize("watched", [False, True], ids=["lean", "watched"])
def test_steps_and_last_step_end_are_counted_on_both_paths(virtual_loop, watched):
    counter = StepCounter()
    monitor, tasks = run_workload(virtual_loop, *([counter] if watched else []))
    for task in tasks:
        n = task.result()
        record = task._step_record
        # n sleep(0)s, the sleep(n), and the step that returns
        assert record.steps == n + 2, task
        assert record.last_step_end == pytest.approx(n)  # its sleep(n) ended at n
        assert record.run_time == 0.0  # virtual time does not move inside a step
        if watched:
            assert counter.steps[task] == record.steps
    history = {done.name: done for done in monitor.finished}
    assert {"s1", "s2", "s3"} <= set(history)
    assert history["s3"].steps == 5 and history["s3"].outcome == "result"
    assert history["s2"].coro.endswith("sleeper")


def test_the_lean_path_is_taken_only_without_per_step_hooks(virtual_loop):
    monitor = TaskMonitor(virtual_loop)
    monitor.start()
    assert virtual_loop._instruments.lean
    counter = StepCounter()
    virtual_loop.add_instrument(counter)
    assert not virtual_loop._instruments.lean
    virtual_loop.remove_instrument(counter)
    assert virtual_loop._instruments.lean
    only_stepped = OnlyStepped()
    virtual_loop.add_instrument(only_stepped)
    assert virtual_loop._instruments.lean
    virtual_loop.remove_instrument(only_stepped)
    monitor.stop()


def test_run_time_counts_a_step_that_takes_time(virtual_loop):
    clock = virtual_loop.clock

    async def busy():
        await coroloop.sleep(0)
        clock.advance(0.25)  # the step "runs" for 0.25 s of loop time
        await coroloop.sleep(0)

    with TaskMonitor(virtual_loop):
        task = virtual_loop.create_task(busy())
        virtual_loop.run_until_complete(task)
    assert task._step_record.run_time == pytest.approx(0.25)
    assert task._step_record.steps == 3


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks are 3.12's")
def test_an_eager_first_step_is_counted(virtual_loop):
    async def returns_at_once():
        return 1

    async def waits():
        await coroloop.sleep(0)

    async def main():
        loop = coroloop.get_running_loop()
        loop.set_task_factory(coroloop.eager_task_factory)
        done = loop.create_task(returns_at_once())
        pending = loop.create_task(waits())
        assert done.done() and not pending.done()
        await pending
        return done, pending

    with TaskMonitor(virtual_loop):
        done, pending = virtual_loop.run_until_complete(main())
    assert done._step_record.steps == 1
    assert pending._step_record.steps == 2


def spawn_directly():
    return coroloop.create_task(coroloop.sleep(10), name="direct")


async def spawn_through_gather():
    return coroloop.ensure_future(coroloop.sleep(10))


def test_creation_sites_stay_right_when_the_spawn_depth_changes(virtual_loop):
    # The walk guesses the depth of the program's frame from the last spawn: paths
    # of different depths, alternated, must each find their own innermost frame.
    async def main():
        tasks = []
        for _ in range(3):
            tasks.append(spawn_directly())
            tasks.append(await spawn_through_gather())
            tasks.append(coroloop.get_running_loop().create_task(coroloop.sleep(10)))
        await coroloop.sleep(0)
        shot = snapshot()
        for task in tasks:
            task.cancel()
        return tasks, {info.id: info for info in shot.tasks}

    with TaskMonitor(virtual_loop):
        tasks, infos = virtual_loop.run_until_complete(main())
    innermost = [infos[id(task)].created_at[-1][2] for task in tasks]
    assert innermost == ["spawn_directly", "spawn_through_gather",
                         "test_creation_sites_stay_right_when_the_spawn_depth_changes."
                         "<locals>.main"] * 3
    # up to the scheduler: main() is the outermost frame kept
    assert [entry[2] for entry in infos[id(tasks[0])].created_at][0].endswith("main")
    line = infos[id(tasks[0])].created_at[-1][1]
    with open(__file__) as source:
        assert "create_task" in source.read().splitlines()[line - 1]


class BadRepr(Exception):
    def __repr__(self):
        raise RuntimeError("no repr")


def test_the_exit_log_keeps_no_task_alive_and_reports_unretrieved_errors_at_once(virtual_loop):
    # The loop appends finished tasks to the monitor's history itself (no hook
    # call): the entry must hold neither the task nor its result or exception.
    import weakref

    reported = []
    virtual_loop.set_exception_handler(  # (the context names the task: keep only words)
        lambda loop, context: reported.append(context["message"]))

    class Result:
        pass

    async def returns():
        return Result()

    async def fails():
        raise BadRepr()

    async def cancelled():
        await coroloop.sleep(10)

    async def main():
        tasks = [coroloop.create_task(returns(), name="returns"),
                 coroloop.create_task(fails(), name="fails"),
                 coroloop.create_task(cancelled())]
        await coroloop.sleep(0)
        tasks[2].cancel()
        await coroloop.sleep(0)
        return [weakref.ref(task) for task in tasks], weakref.ref(tasks[0].result())

    with TaskMonitor(virtual_loop, history=10) as monitor:
        refs, result = virtual_loop.run_until_complete(main())
    assert [ref() for ref in refs] == [None, None, None] and result() is None
    assert reported == ["Task exception was never retrieved"]  # as it went, not at a gc
    by_name = {done.name: done for done in monitor.finished}
    assert by_name["returns"].outcome == "result" and by_name["returns"].error is None
    assert by_name["fails"].outcome == "exception"
    assert by_name["fails"].error == "<BadRepr (repr failed)>"  # a tool never raises
    (cancelled_one,) = [done for done in monitor.finished if done.outcome == "cancelled"]
    assert cancelled_one.name.startswith("Task-") and cancelled_one.steps == 2
    assert monitor.finished_count == 4  # main too


def test_finished_count_without_a_history(virtual_loop):
    async def child():
        return 1

    async def main():
        await coroloop.gather(*(child() for _ in range(5)))

    with TaskMonitor(virtual_loop, history=0) as monitor:
        virtual_loop.run_until_complete(main())
    assert monitor.finished_count == 6 and list(monitor.finished) == []
    assert monitor.counts()["done"] == 6

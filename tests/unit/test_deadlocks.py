"""coroloop.debug.detect_deadlocks: every task waits and nothing can wake them.

A corpus of deadlocks, each detected (in the iteration where the last task blocked,
under a VirtualClock), and the waits that must never be taken for one: an executor
job, a thread's call_soon_threadsafe, a signal handler, a subprocess, a socket.
The no-false-positive cases release their wait from inside the loop's
``io_wait_started`` hook -- after the detector looked -- so nothing is timed.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading

import pytest

import coroloop
import coroloop.debug
from coroloop.debug import DeadlockError, DeadlockReport, detect_deadlocks
from coroloop.testing import VirtualClock


class ForeverPolls(coroloop.Instrument):
    """Counts the polls that would block until a descriptor is ready, and runs
    *action* at the first (installed after the detector: it runs after it)."""

    def __init__(self, action=None):
        self.count = 0
        self.action = action

    def io_wait_started(self, timeout):
        if timeout is None:
            self.count += 1
            if self.action is not None and self.count == 1:
                self.action()


def run_deadlocked(virtual_loop, make_main, cleanup=None):
    """Run make_main() in a task named "main" with detection raising; the report."""
    polls = ForeverPolls()

    async def main():
        coroloop.current_task().set_name("main")
        detect_deadlocks(action="raise")
        virtual_loop.add_instrument(polls)
        await make_main()

    with pytest.raises(DeadlockError) as caught:
        virtual_loop.run_until_complete(main())
    (cleanup or cancel_stuck)(virtual_loop)
    report = caught.value.report
    assert isinstance(report, DeadlockReport) and report.certain
    # Detected before the first poll that would have blocked forever: the same
    # iteration in which the last task began to wait.
    assert polls.count == 1
    assert str(caught.value) == report.format()
    return report


def cancel_stuck(loop):
    """What run() does after its main task ends: cancel the stuck tasks."""
    stuck = [task for task in coroloop.all_tasks(loop) if not task.done()]
    if not stuck:
        return
    for task in stuck:
        task.cancel()
    loop.run_until_complete(coroloop.gather(*stuck, return_exceptions=True))


def kinds(report):
    return {info.name: info.wait.kind for info in report.tasks}


# -- the corpus ----------------------------------------------------------------------------
async def take_both(mine, theirs, pause=0):
    """Take *mine*, then *theirs*: two of these in opposite orders deadlock."""
    async with mine:
        await coroloop.sleep(pause)
        async with theirs:
            pass


def test_lock_order_inversion(virtual_loop):
    async def main():
        l1, l2 = coroloop.Lock(), coroloop.Lock()
        main.locks = l1, l2
        await coroloop.gather(coroloop.create_task(take_both(l1, l2, 1), name="A"),
                              coroloop.create_task(take_both(l2, l1, 1), name="B"))

    report = run_deadlocked(virtual_loop, main)
    assert virtual_loop.time() == 1.0
    assert kinds(report) == {"main": "gather", "A": "lock", "B": "lock"}
    [cycle] = report.cycles
    assert [info.name for info in cycle] == ["A", "B"]
    a, b = cycle
    l1, l2 = main.locks
    assert a.wait.target == f"Lock at {id(l2):#x}" and b.wait.target == f"Lock at {id(l1):#x}"
    assert a.wait.holder == b.id and b.wait.holder == a.id
    text = report.format()
    assert (f"'A' holds Lock at {id(l1):#x} and waits for Lock at {id(l2):#x}; "
            f"'B' holds Lock at {id(l2):#x} and waits for Lock at {id(l1):#x}") in text
    assert f"task 'A' waits for lock Lock at {id(l2):#x} held by 'B'" in text
    assert report.main == report.tasks[0].id and report.tasks[0].name == "main"
    assert "task 'main' (main) waits for gather" in text


def test_semaphore_cycle_names_the_holders(virtual_loop):
    async def main():
        s1, s2 = coroloop.Semaphore(1), coroloop.BoundedSemaphore(1)
        await coroloop.gather(coroloop.create_task(take_both(s1, s2), name="A"),
                              coroloop.create_task(take_both(s2, s1), name="B"))

    report = run_deadlocked(virtual_loop, main)
    [cycle] = report.cycles
    assert {info.wait.kind for info in cycle} == {"semaphore"}
    assert {info.wait.holder for info in cycle} == {info.id for info in cycle}


def test_a_task_awaiting_itself(virtual_loop):
    async def selfish():
        try:
            await coroloop.gather(coroloop.current_task())
        except LookupError:
            return

    async def main():
        await coroloop.create_task(selfish(), name="selfish")

    def cleanup(loop):
        # Not cancel(): cancelling a task that gathers itself recurses (as asyncio's).
        [task] = [t for t in coroloop.all_tasks(loop) if not t.done()]
        assert task.interrupt(LookupError("cleanup"))
        loop.run_until_complete(task)

    report = run_deadlocked(virtual_loop, main, cleanup)
    assert [[info.name for info in cycle] for cycle in report.cycles] == [["selfish"]]
    assert "task 'selfish' waits for itself" in report.format()


def test_gather_of_tasks_waiting_on_each_other(virtual_loop):
    tasks = {}

    async def wait_for(other):
        await coroloop.sleep(0)
        try:
            await tasks[other]
        except LookupError:
            return

    async def main():
        tasks["x"] = coroloop.create_task(wait_for("y"), name="x")
        tasks["y"] = coroloop.create_task(wait_for("x"), name="y")
        await coroloop.gather(*tasks.values())

    def cleanup(loop):
        # Not cancel(): cancelling tasks that await each other recurses (as asyncio's).
        assert tasks["x"].interrupt(LookupError("cleanup"))
        loop.run_until_complete(tasks["y"])

    report = run_deadlocked(virtual_loop, main, cleanup)
    assert kinds(report) == {"main": "gather", "x": "task", "y": "task"}
    [cycle] = report.cycles
    assert [info.name for info in cycle] == ["x", "y"]
    assert "'x' (task) -> 'y' (task) -> 'x'" in report.format()


def test_queue_with_no_producer(virtual_loop):
    async def main():
        await coroloop.Queue().get()

    report = run_deadlocked(virtual_loop, main)
    assert kinds(report) == {"main": "queue_get"} and report.cycles == []


def test_event_never_set(virtual_loop):
    async def main():
        event = coroloop.Event()
        await coroloop.wait_for(event.wait(), None)

    report = run_deadlocked(virtual_loop, main)
    assert set(kinds(report).values()) == {"event"}


def test_condition_never_notified(virtual_loop):
    async def main():
        condition = coroloop.Condition()
        async with condition:
            await condition.wait()

    report = run_deadlocked(virtual_loop, main)
    assert kinds(report) == {"main": "condition"}


def test_run_raises_it_from_the_main_task():
    async def main():
        detect_deadlocks(action="raise")
        try:
            await coroloop.Event().wait()
        except DeadlockError as error:
            return f"caught in main: {len(error.report.tasks)} task"

    assert coroloop.run(main(), loop_factory=lambda: coroloop.new_event_loop(
        clock=VirtualClock())) == "caught in main: 1 task"


def test_log_reports_once_and_changes_nothing(virtual_loop, caplog):
    reports = []

    async def stuck():
        await coroloop.Event().wait()

    async def main():
        detect_deadlocks(on_deadlock=reports.append)
        task = coroloop.create_task(stuck(), name="stuck")
        # The stall is reported once; the wake-up the test arranges below (a
        # thread-safe call, as anyone could make) is what ends it.
        virtual_loop.add_instrument(ForeverPolls(
            lambda: virtual_loop.call_soon_threadsafe(task.cancel)))
        with pytest.raises(coroloop.CancelledError):
            await task

    with caplog.at_level(logging.ERROR, logger="coroloop.debug"):
        virtual_loop.run_until_complete(main())
    [report] = reports
    assert [info.name for info in report.tasks] == [report.tasks[0].name, "stuck"]
    assert report.main == report.tasks[0].id
    [record] = [r for r in caplog.records if r.name == "coroloop.debug"]
    assert record.levelno == logging.ERROR and record.getMessage().startswith("Deadlock: 2 task")


def test_a_deadlock_after_executor_jobs_is_certain(loop):
    """Idle executor workers cannot wake the loop: they do not delay the report."""
    async def main():
        await coroloop.get_running_loop().run_in_executor(None, sum, [1, 2])
        detect_deadlocks(action="raise", grace=3600)
        await coroloop.Event().wait()

    with pytest.raises(DeadlockError) as caught:
        loop.run_until_complete(main())
    assert caught.value.report.certain
    for detector in loop.instruments:
        detector.stop()


def test_another_thread_makes_it_a_possible_deadlock_after_grace(loop):
    """The detector's own real-time wait (grace) is the only waiting here."""
    release = threading.Event()
    bystander = threading.Thread(target=release.wait, name="bystander")
    bystander.start()
    reports = []
    try:
        def set_when_reported(report):
            reports.append(report)
            run.event.set()  # on the loop's thread: on_deadlock runs there

        async def run():
            detect_deadlocks(action="raise", grace=0.01, on_deadlock=set_when_reported)
            run.event = coroloop.Event()
            await run.event.wait()

        loop.run_until_complete(run())
    finally:
        release.set()
        bystander.join()
    [report] = reports
    assert not report.certain and "bystander" in report.threads
    assert report.format().startswith("Possible deadlock: 1 task(s) wait and only another "
                                      "thread could wake them: ")
    for detector in loop.instruments:
        detector.stop()


# -- no false positives --------------------------------------------------------------------
def no_report(loop, make_main, release):
    reports = []

    async def main():
        detector = detect_deadlocks(action="raise", on_deadlock=reports.append)
        coroloop.get_running_loop().add_instrument(ForeverPolls(release))
        try:
            return await make_main()
        finally:
            detector.stop()

    result = loop.run_until_complete(main())
    assert reports == []
    assert [t for t in threading.enumerate() if getattr(t, "coroloop_debug_thread", False)] == []
    return result


def test_no_false_positive_for_an_executor_job(loop):
    go = threading.Event()

    async def main():
        return await coroloop.get_running_loop().run_in_executor(None, go.wait, 60)

    assert no_report(loop, main, go.set) is True


def test_no_false_positive_for_wrap_future(loop):
    import concurrent.futures
    go = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        async def main():
            return await coroloop.wrap_future(pool.submit(go.wait, 60))

        assert no_report(loop, main, go.set) is True


def test_no_false_positive_for_call_soon_threadsafe_from_a_thread(loop):
    go = threading.Event()

    async def main():
        fut = coroloop.get_running_loop().create_future()
        running = coroloop.get_running_loop()

        def later():
            go.wait(60)
            running.call_soon_threadsafe(fut.set_result, "from the thread")
        thread = threading.Thread(target=later)
        thread.start()
        try:
            return await fut
        finally:
            thread.join()

    assert no_report(loop, main, go.set) == "from the thread"


def test_no_false_positive_for_a_signal_handler(loop):
    async def main():
        running = coroloop.get_running_loop()
        event = coroloop.Event()
        running.add_signal_handler(signal.SIGUSR1, event.set)
        try:
            await event.wait()
            return "signalled"
        finally:
            running.remove_signal_handler(signal.SIGUSR1)

    assert no_report(loop, main, lambda: os.kill(os.getpid(), signal.SIGUSR1)) == "signalled"


def test_no_false_positive_for_a_python_signal_handler(loop):
    """A handler installed with signal.signal() (not the loop's add_signal_handler):
    it runs in the main thread when the signal arrives, and may wake the loop."""
    async def main():
        running = coroloop.get_running_loop()
        event = coroloop.Event()
        previous = signal.signal(signal.SIGUSR1,
                                 lambda signum, frame: running.call_soon_threadsafe(event.set))
        try:
            await event.wait()
            return "signalled"
        finally:
            signal.signal(signal.SIGUSR1, previous)

    assert no_report(loop, main, lambda: os.kill(os.getpid(), signal.SIGUSR1)) == "signalled"


def test_no_false_positive_in_debug_mode_for_a_program_waiting_for_its_signal():
    """asyncio.run(main()) in debug mode (deadlock detection on, logging), main
    waiting only for a signal its own handler turns into an Event."""
    records = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    async def main():
        running = coroloop.get_running_loop()
        event = coroloop.Event()
        previous = signal.signal(signal.SIGTERM,
                                 lambda signum, frame: running.call_soon_threadsafe(event.set))
        # The signal arrives once the loop is about to block with nothing else to do.
        running.add_instrument(ForeverPolls(lambda: os.kill(os.getpid(), signal.SIGTERM)))
        try:
            await event.wait()
            return "terminated cleanly"
        finally:
            signal.signal(signal.SIGTERM, previous)

    handler = Collect()
    logger = logging.getLogger("coroloop.debug")
    logger.addHandler(handler)
    try:
        assert coroloop.run(main(), debug=True) == "terminated cleanly"
    finally:
        logger.removeHandler(handler)
    assert [message for message in records if "eadlock" in message] == []


def test_ctrl_c_alone_is_no_wake_source(virtual_loop):
    """run()'s own Ctrl-C handler and Python's default one do not count: a program
    waiting for nothing else is still reported (see test_debug_mode_logs_deadlocks)."""
    assert coroloop.debug.deadlock._signal_handlers_may_wake() is False
    previous = signal.signal(signal.SIGUSR2, lambda signum, frame: None)
    try:
        assert coroloop.debug.deadlock._signal_handlers_may_wake() is True
    finally:
        signal.signal(signal.SIGUSR2, previous)


def test_no_false_positive_for_a_subprocess(loop):
    async def main():
        proc = await coroloop.create_subprocess_exec(sys.executable, "-c", "pass")
        return await proc.wait()

    assert no_report(loop, main, None) == 0


def test_no_false_positive_for_a_socket(loop):
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        async def main():
            return await coroloop.get_running_loop().sock_recv(a, 10)

        assert no_report(loop, main, lambda: b.send(b"hi")) == b"hi"
    finally:
        a.close()
        b.close()


def test_no_report_for_a_timer_or_an_idle_loop(virtual_loop):
    reports = []
    detector = detect_deadlocks(loop=virtual_loop, on_deadlock=reports.append)
    virtual_loop.run_until_complete(coroloop.sleep(10))
    virtual_loop.call_soon(virtual_loop.stop)
    virtual_loop.run_forever()
    detector.stop()
    assert reports == [] and virtual_loop.instruments == ()


# -- debug mode ----------------------------------------------------------------------------
def test_debug_mode_logs_deadlocks(virtual_loop):
    records = []

    class Release(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("Deadlock"):
                records.append(record)
                virtual_loop.call_soon_threadsafe(main_task.cancel)

    async def main():
        await coroloop.Event().wait()

    handler = Release()
    logger = logging.getLogger("coroloop.debug")
    logger.addHandler(handler)
    virtual_loop.set_debug(True)
    main_task = virtual_loop.create_task(main())
    try:
        with pytest.raises(coroloop.CancelledError):
            virtual_loop.run_until_complete(main_task)
    finally:
        logger.removeHandler(handler)
    assert len(records) == 1
    # Stopped with the run (debug mode's other tools stay installed on the loop).
    assert not any(isinstance(i, coroloop.debug.DeadlockDetector)
                   for i in virtual_loop.instruments)


def test_bad_arguments_are_named(loop):
    with pytest.raises(ValueError, match="action must be one of"):
        detect_deadlocks(loop, action="panic")
    with pytest.raises(RuntimeError, match="needs loop="):
        detect_deadlocks()
    with pytest.raises(TypeError, match="on_deadlock must be callable"):
        detect_deadlocks(loop, on_deadlock=1)

"""coroloop.debug.watch_blocking: the watchdog catches what holds the loop, while it does.

These are the only tests with real waiting on the loop thread (the detector measures
real time).  None depends on a timing margin: each blocking callback blocks *until*
the report arrives (a threading.Event the report sets), bounded by a generous limit
that only a broken detector reaches.  The 99-of-100 rate is measured by
benchmarks/blocking_catch_rate.py, not here.
"""

from __future__ import annotations

import json
import logging
import threading

import pytest

import coroloop
import coroloop.debug
from coroloop.debug import BlockingReport, watch_blocking

THRESHOLD = 0.02
LIMIT = 20.0  # seconds a blocking callback waits for its report at most


def _watchdogs():
    return [t for t in threading.enumerate() if t.name.startswith("coroloop-blocking-watchdog")]


@pytest.fixture(autouse=True)
def no_leaked_threads():
    yield
    assert _watchdogs() == []


def test_a_blocking_step_is_reported_with_its_task_and_line(loop):
    caught = threading.Event()
    reports = []

    def on_block(report):
        reports.append(report)
        caught.set()

    async def work():
        caught.wait(LIMIT)  # blocks the loop  # <- the culprit
        return "done"

    async def main():
        with watch_blocking(THRESHOLD, on_block=on_block):
            task = coroloop.create_task(work(), name="worker")
            assert await task == "done"
            return task

    task = loop.run_until_complete(main())
    assert caught.is_set()
    [report] = reports
    assert isinstance(report, BlockingReport)
    assert report.kind == "callback"
    assert report.task is task and report.handle is task
    assert report.duration >= THRESHOLD
    filename, lineno, function = report.culprit
    assert filename == __file__ and function.endswith("work")
    with open(__file__) as source:
        assert "# <- the culprit" in source.read().splitlines()[lineno - 1]
    assert report.stack[-1][0] == threading.__file__  # innermost: Event.wait
    text = report.format()
    assert "task 'worker' (" in text and f"{__file__}:{lineno}" in text


def test_a_plain_callback_is_reported_without_a_task(loop):
    caught = threading.Event()
    reports = []

    def hold():
        caught.wait(LIMIT)

    async def main():
        def on_block(report):
            reports.append(report)
            caught.set()
        with watch_blocking(THRESHOLD, on_block=on_block):
            handle = coroloop.get_running_loop().call_soon(hold)
            await coroloop.sleep(0)
            await coroloop.sleep(0)
            return handle

    handle = loop.run_until_complete(main())
    [report] = reports
    assert report.task is None and report.handle is handle
    assert report.culprit[2].endswith("hold")


def test_a_long_iteration_of_short_callbacks_is_reported(loop):
    caught = threading.Event()
    reports = []

    def short():
        if not caught.is_set():
            caught.wait(THRESHOLD / 10)  # far below the threshold, each

    def on_block(report):
        reports.append(report)
        if report.kind == "iteration":
            caught.set()

    async def main():
        with watch_blocking(THRESHOLD, on_block=on_block):
            for _ in range(int(LIMIT / (THRESHOLD / 10))):
                coroloop.get_running_loop().call_soon(short)
            await coroloop.sleep(0)

    loop.run_until_complete(main())
    assert caught.is_set()
    iteration = [r for r in reports if r.kind == "iteration"]
    assert iteration and iteration[0].duration >= THRESHOLD
    assert "one iteration of callbacks" in iteration[0].format()


def test_reports_are_logged_and_marked_in_active_traces(loop, tmp_path, caplog):
    caught = threading.Event()

    async def main():
        with coroloop.debug.record_trace(tmp_path / "trace.json"):
            with watch_blocking(THRESHOLD, on_block=lambda report: caught.set()):
                await coroloop.sleep(0)  # watched from the next iteration on
                caught.wait(LIMIT)
                await coroloop.sleep(0)  # the mark is added by the loop's thread
                await coroloop.sleep(0)

    with caplog.at_level(logging.WARNING, logger="coroloop.debug"):
        loop.run_until_complete(main())
    assert any(r.name == "coroloop.debug" and "Loop blocked for" in r.getMessage()
               for r in caplog.records)
    events = json.loads((tmp_path / "trace.json").read_text())["traceEvents"]
    marks = [e for e in events if e.get("ph") == "i" and e.get("cat") == "blocking"]
    assert len(marks) == 1
    assert marks[0]["args"]["culprit"].startswith(__file__)


def test_a_failing_on_block_is_logged_and_the_program_goes_on(loop, caplog):
    caught = threading.Event()

    def on_block(report):
        caught.set()
        raise ValueError("broken tool")

    async def main():
        with watch_blocking(THRESHOLD, on_block=on_block) as watch:
            await coroloop.sleep(0)  # watched from the next iteration on
            caught.wait(LIMIT)
            await coroloop.sleep(0)
            return watch

    with caplog.at_level(logging.ERROR, logger="coroloop.debug"):
        watch = loop.run_until_complete(main())
    assert caught.is_set() and not watch.running
    assert any("could not report a block" in r.getMessage() for r in caplog.records)


def test_stop_ends_the_thread_and_installs_nothing(loop):
    watch = watch_blocking(THRESHOLD, loop=loop)
    assert watch.running and loop.instruments == ()
    watch.stop()
    assert not watch.running
    watch.stop()  # twice is fine


def test_a_closed_loop_ends_its_watchdog():
    loop = coroloop.new_event_loop()
    watch = watch_blocking(THRESHOLD, loop=loop)
    loop.close()
    watch._thread.join(LIMIT)
    assert not watch.running


def test_debug_mode_watches_at_slow_callback_duration(loop, caplog):
    caught = threading.Event()

    class Release(logging.Handler):
        def emit(self, record):
            if "Loop blocked for" in record.getMessage():
                caught.set()

    async def main():
        assert len(_watchdogs()) == 1
        caught.wait(LIMIT)

    handler = Release()
    logging.getLogger("coroloop.debug").addHandler(handler)
    loop.set_debug(True)
    loop.slow_callback_duration = THRESHOLD
    try:
        with caplog.at_level(logging.WARNING):
            loop.run_until_complete(main())
    finally:
        logging.getLogger("coroloop.debug").removeHandler(handler)
    assert caught.is_set()
    assert _watchdogs() == []  # stopped with the run


def test_bad_arguments_are_named():
    with pytest.raises(RuntimeError, match="needs loop="):
        watch_blocking(0.1)
    loop = coroloop.new_event_loop()
    try:
        with pytest.raises(ValueError, match="threshold must be > 0"):
            watch_blocking(0, loop=loop)
        with pytest.raises(TypeError, match="on_block must be callable"):
            watch_blocking(0.1, loop=loop, on_block=3)
    finally:
        loop.close()
    import asyncio
    stdlib = asyncio.new_event_loop()
    try:
        with pytest.raises(TypeError, match="needs a coroloop loop"):
            watch_blocking(0.1, loop=stdlib)
    finally:
        stdlib.close()

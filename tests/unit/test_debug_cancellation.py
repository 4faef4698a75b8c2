"""Cancellation provenance and the pitfall reports of debug mode (issue 9, items 5 and 6)."""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
import textwrap
import warnings

import pytest

import coroloop
from coroloop.debug import CancelInfo, CancelTracker, PitfallReporter, cancelled_by

pytestmark = pytest.mark.timeout(60)
HERE = os.path.basename(__file__)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


async def sleeper():
    await coroloop.sleep(100)


def run_debug(virtual_loop, coro):
    """Run *coro* on the virtual loop in debug mode (the tools install themselves)."""
    virtual_loop.set_debug(True)
    try:
        return virtual_loop.run_until_complete(coro)
    finally:
        virtual_loop.set_debug(False)


def test_direct_cancel_names_task_message_and_line(virtual_loop):
    out = {}

    async def main():
        task = coroloop.create_task(sleeper(), name="victim")
        await coroloop.sleep(0)
        task.cancel("enough")  # <- the line
        try:
            await task
        except coroloop.CancelledError as exc:
            out["exc"] = exc
        out["task"] = task
        out["me"] = coroloop.current_task()

    run_debug(virtual_loop, main())
    info = cancelled_by(out["task"])
    assert isinstance(info, CancelInfo)
    assert (info.via, info.message, info.task_name) == ("direct", "enough", "victim")
    assert info.canceller_id == id(out["me"]) and info.canceller_name == out["me"].get_name()
    assert info.stack[-1][0].endswith(HERE) and "main" in info.stack[-1][2]
    assert cancelled_by(out["exc"]) is info
    # debug mode: the escaping CancelledError says it
    note = out["exc"].__notes__[0]
    assert note.startswith("coroloop.debug: task 'victim' cancelled by task")
    assert "via direct" in note and HERE in note and "'enough'" in note


def test_via_timeout_wait_for_taskgroup_gather_shield_run(virtual_loop):
    out = {}

    async def fails():
        await coroloop.sleep(1)
        raise ValueError("child failed")

    async def timed_task():
        async with coroloop.timeout(1):
            await sleeper()

    async def wait_for_task():
        await coroloop.wait_for(sleeper(), 1)

    async def gather_task(children):
        await coroloop.gather(*children)

    async def main():
        timed = coroloop.create_task(timed_task())
        waited = coroloop.create_task(wait_for_task())
        with pytest.raises(TimeoutError):
            await timed
        with pytest.raises(TimeoutError):
            await waited
        out["timeout"] = cancelled_by(timed)
        # wait_for's victim: the inner task on 3.11, the calling task on 3.12+
        out["wait_for"] = [cancelled_by(task) for task in (waited,)
                           if cancelled_by(task) is not None]
        sibling = None
        with pytest.raises(ExceptionGroup):
            async with coroloop.TaskGroup() as tg:
                sibling = tg.create_task(sleeper())
                tg.create_task(fails())
        out["taskgroup"] = cancelled_by(sibling)
        children = [coroloop.create_task(sleeper()) for _ in range(2)]
        outer = coroloop.create_task(gather_task(children))
        await coroloop.sleep(0)
        outer.cancel()
        with pytest.raises(coroloop.CancelledError):
            await outer
        out["gather"] = [cancelled_by(child) for child in children]
        out["outer"] = cancelled_by(outer)
        inner = coroloop.create_task(sleeper())
        shielded = coroloop.shield(inner)
        await coroloop.sleep(0)
        shielded.cancel()
        inner.cancel()
        with pytest.raises(coroloop.CancelledError):
            await inner
        out["shield_inner"] = cancelled_by(inner)

    run_debug(virtual_loop, main())
    assert out["timeout"].via == "timeout"
    assert out["taskgroup"].via == "TaskGroup"
    assert [info.via for info in out["gather"]] == ["gather", "gather"]
    assert all(info.cause is out["outer"] for info in out["gather"])  # chained
    assert out["outer"].via == "direct"
    assert out["shield_inner"].via == "direct"


def test_via_shield_chains_the_shielded_operations_cancellation(virtual_loop):
    """The task awaiting shield(op) is cancelled because op was: via "shield", its
    cause op's own cancellation; the note on the escaping CancelledError says so."""
    out = {}

    async def shielding(operation):
        await coroloop.shield(operation)

    async def main():
        operation = coroloop.create_task(sleeper(), name="operation")
        waiter = coroloop.create_task(shielding(operation), name="waiter")
        await coroloop.sleep(0)
        operation.cancel("stop the operation")
        with pytest.raises(coroloop.CancelledError) as caught:
            await waiter
        out["waiter"] = cancelled_by(waiter)
        out["escaped"] = cancelled_by(caught.value)
        out["notes"] = getattr(caught.value, "__notes__", [])
        out["operation"] = cancelled_by(operation)
        # Cancelling the shield's caller itself stays "direct", the operation untouched.
        untouched = coroloop.create_task(sleeper(), name="untouched")
        caller = coroloop.create_task(shielding(untouched), name="caller")
        await coroloop.sleep(0)
        caller.cancel()
        with pytest.raises(coroloop.CancelledError):
            await caller
        out["caller"] = cancelled_by(caller)
        out["untouched"] = (untouched.done(), cancelled_by(untouched))
        untouched.cancel()

    run_debug(virtual_loop, main())
    operation, waiter = out["operation"], out["waiter"]
    assert operation.via == "direct" and operation.message == "stop the operation"
    assert waiter.via == "shield" and waiter.task_name == "waiter"
    assert waiter.cause is operation and waiter.message == "stop the operation"
    assert out["escaped"] is waiter
    assert any("via shield" in note for note in out["notes"])
    assert out["caller"].via == "direct" and out["untouched"] == (False, None)


def test_wait_for_is_named(virtual_loop):
    seen = []

    async def inner():
        try:
            await sleeper()
        except coroloop.CancelledError as exc:
            seen.append(cancelled_by(exc))  # caught inside the task: the task's own
            raise

    async def main():
        with pytest.raises(TimeoutError):
            await coroloop.wait_for(inner(), 1)

    run_debug(virtual_loop, main())
    assert [info.via for info in seen] == ["wait_for"]


def test_run_cancels_leftovers_and_lists_them(caplog):
    async def main():
        coroloop.create_task(sleeper(), name="leftover")  # <- created here
        await coroloop.sleep(0)

    with caplog.at_level(logging.WARNING, logger="coroloop.debug"):
        coroloop.run(main(), debug=True)
    [record] = [r for r in caplog.records if "still pending at exit" in r.getMessage()]
    text = record.getMessage()
    assert text.startswith("run() cancelled 1 task(s) still pending at exit:")
    assert "Task 'leftover' running sleeper()" in text and f"{HERE}:" in text and ".main" in text


def test_swallowed_cancellation_is_reported_with_its_line(virtual_loop, caplog):
    async def swallower():
        try:
            await sleeper()
        except coroloop.CancelledError:
            pass
        return "ignored the cancel"  # <- the line reported

    async def polite():
        try:
            await sleeper()
        except coroloop.CancelledError:
            coroloop.current_task().uncancel()
        return "uncancelled"

    async def main():
        bad = coroloop.create_task(swallower(), name="swallower")
        good = coroloop.create_task(polite(), name="polite")
        await coroloop.sleep(0)
        bad.cancel()
        good.cancel()
        assert await bad == "ignored the cancel"
        assert await good == "uncancelled"

    with caplog.at_level(logging.WARNING, logger="coroloop.debug"):
        run_debug(virtual_loop, main())
    messages = [r.getMessage() for r in caplog.records if "swallowed" in r.getMessage()]
    assert len(messages) == 1, messages
    line = swallower.__code__.co_firstlineno + 5
    assert messages[0].startswith("Task 'swallower' swallowed a cancellation: it returned "
                                  f"normally at {__file__}:{line} after cancel() reached it")
    assert "via direct" in messages[0]


def test_off_without_debug_mode(virtual_loop):
    async def main():
        task = coroloop.create_task(sleeper())
        await coroloop.sleep(0)
        task.cancel()
        try:
            await task
        except coroloop.CancelledError as exc:
            return task, exc

    task, exc = virtual_loop.run_until_complete(main())
    assert cancelled_by(task) is None and cancelled_by(exc) is None
    assert not getattr(exc, "__notes__", None)
    assert virtual_loop.instruments == ()


def test_tracker_without_debug_mode_and_its_errors(virtual_loop, errors, monkeypatch):
    errors.install(virtual_loop)
    tracker = CancelTracker.install(virtual_loop)
    assert CancelTracker.of(virtual_loop) is tracker
    monkeypatch.setattr("coroloop.debug.provenance._inspect_cancel_call",
                        lambda *args: 1 / 0)

    async def main():
        task = coroloop.create_task(sleeper())
        await coroloop.sleep(0)
        task.cancel()
        with pytest.raises(coroloop.CancelledError):
            await task
        return "fine"

    assert virtual_loop.run_until_complete(main()) == "fine"  # the program goes on
    assert CancelTracker.of(virtual_loop) is None
    assert any("CancelTracker raised" in c["message"] for c in errors.contexts)


def run_program(source):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(source)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.path.join(ROOT, "src")})


def test_never_awaited_coroutine_names_its_creation_site():
    proc = run_program("""
        import coroloop, gc
        async def forgotten():
            pass
        async def main():
            forgotten()  # line 6: no await
            gc.collect()
        coroloop.run(main(), debug=True)
    """)
    assert "RuntimeWarning: coroutine 'forgotten' was never awaited" in proc.stderr
    assert "Coroutine created at (most recent call last)" in proc.stderr
    assert 'line 6, in main' in proc.stderr


def test_unretrieved_exception_keeps_asyncio_text_and_adds_creation_site():
    proc = run_program("""
        import coroloop, gc
        async def fails():
            raise ValueError("nobody looks")
        async def main():
            coroloop.create_task(fails())  # line 6
            await coroloop.sleep(0.01)
            gc.collect()
        coroloop.run(main(), debug=True)
    """)
    err = proc.stderr
    assert "Task exception was never retrieved" in err
    assert err.index("Task exception was never retrieved") < err.index("created at")
    assert "line 6, in main" in err
    assert "ValueError: nobody looks" in err


def test_pitfall_reporter_installs_tracker(virtual_loop):
    reporter = PitfallReporter.install(virtual_loop)
    assert PitfallReporter.install(virtual_loop) is reporter
    assert CancelTracker.of(virtual_loop) is not None
    reporter.stop()
    CancelTracker.of(virtual_loop).stop()
    assert virtual_loop.instruments == ()


def test_debug_mode_leaves_warnings_alone(virtual_loop):
    # filterwarnings=error: turning the tools on emits no warning of its own.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run_debug(virtual_loop, coroloop.sleep(0, "ok")) == "ok"
    gc.collect()

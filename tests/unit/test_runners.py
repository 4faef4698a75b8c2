"""coroloop.run() and coroloop.Runner."""

from __future__ import annotations

import asyncio
import contextvars
import os
import re
import signal
import subprocess
import sys
import textwrap

import pytest

import coroloop
from coroloop import _bridge
from coroloop.testing import VirtualClock, new_virtual_loop


async def answer():
    return 42


def test_run_returns_result_on_a_coroloop_loop():
    seen = []

    async def main():
        seen.append(asyncio.get_running_loop())
        return "result"

    assert coroloop.run(main()) == "result"
    [loop] = seen
    assert isinstance(loop, coroloop.EventLoop)
    assert loop.is_closed()
    assert asyncio._get_running_loop() is None


def test_run_propagates_exceptions():
    async def main():
        raise ValueError("from main")

    with pytest.raises(ValueError, match="from main"):
        coroloop.run(main())


def _asyncio_refusal(bad):
    """What asyncio.run() raises for *bad* on this Python: (type, message start)."""
    try:
        asyncio.run(bad)
    except (ValueError, TypeError) as exc:
        return type(exc), str(exc).split(",")[0]
    raise AssertionError(f"asyncio.run() accepted {bad!r}")


@pytest.mark.parametrize("bad", [42, answer, None])
def test_run_rejects_non_awaitables_as_asyncio(bad):
    # 3.11-3.13: ValueError("a coroutine was expected, got ..."); 3.14+: TypeError("An
    # asyncio.Future, a coroutine or an awaitable is required").
    kind, message = _asyncio_refusal(bad)
    assert kind is (TypeError if _bridge.RUNNER_RUNS_AWAITABLES else ValueError)
    with pytest.raises(kind, match=re.escape(message)):
        coroloop.run(bad)
    with coroloop.Runner() as runner, pytest.raises(kind, match=re.escape(message)):
        runner.run(bad)


def test_runner_runs_awaitables_from_3_14():
    class Awaitable:
        def __await__(self):
            return answer().__await__()

    with coroloop.Runner() as runner:
        fut = runner.get_loop().create_future()
        fut.set_result("done")
        if not _bridge.RUNNER_RUNS_AWAITABLES:
            with pytest.raises(ValueError, match="a coroutine was expected"):
                runner.run(fut)
            return
        assert runner.run(fut) == "done"
        assert runner.run(Awaitable()) == 42
    assert coroloop.run(Awaitable()) == 42


def test_run_inside_running_loop_is_refused():
    async def main():
        coro = answer()
        try:
            with pytest.raises(RuntimeError, match="cannot be called from a running event loop"):
                coroloop.run(coro)
        finally:
            coro.close()
        coro = answer()
        try:
            with pytest.raises(RuntimeError, match="running event loop"):
                runner.run(coro)
        finally:
            coro.close()
        return True

    runner = coroloop.Runner()
    try:
        assert coroloop.run(main())
    finally:
        runner.close()  # (closing needs to run its loop: not from inside one)


def test_run_debug_flag():
    async def debug():
        return asyncio.get_running_loop().get_debug()

    assert coroloop.run(debug(), debug=True) is True
    assert coroloop.run(debug(), debug=False) is False


def test_run_with_loop_factory():
    made = []

    def factory():
        loop = new_virtual_loop()
        made.append(loop)
        return loop

    async def main():
        await coroloop.sleep(3600)
        return asyncio.get_running_loop().time()

    assert coroloop.run(main(), loop_factory=factory) == 3600
    assert made[0].is_closed()


def test_run_cancels_leftover_tasks():
    events = []

    async def background():
        try:
            await coroloop.sleep(3600)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise

    async def main():
        asyncio.get_running_loop().create_task(background())
        await coroloop.sleep(0)
        return "main done"

    assert coroloop.run(main(), loop_factory=new_virtual_loop) == "main done"
    assert events == ["cancelled"]


def test_run_reports_leftover_task_errors_during_shutdown():
    reported = []

    async def fails_on_cancel():
        try:
            await coroloop.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("cleanup failed")

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda lp, ctx: reported.append(ctx))
        loop.create_task(fails_on_cancel())
        await coroloop.sleep(0)

    coroloop.run(main(), loop_factory=new_virtual_loop)
    assert [type(c["exception"]) for c in reported] == [RuntimeError]
    assert "shutdown" in reported[0]["message"]


def test_run_closes_async_generators():
    events = []

    async def agen():
        try:
            yield 1
            yield 2
        finally:
            events.append("agen closed")

    gens = []

    async def main():
        gen = agen()
        gens.append(gen)
        await gen.__anext__()

    coroloop.run(main())
    assert events == ["agen closed"]


def test_run_shuts_down_default_executor():
    async def main():
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: None)
        return loop

    loop = coroloop.run(main())
    assert loop.is_closed()
    with pytest.raises(RuntimeError):
        loop.run_in_executor(None, print)


def test_runner_context_manager_and_get_loop():
    with coroloop.Runner() as runner:
        loop = runner.get_loop()
        assert isinstance(loop, coroloop.EventLoop)
        assert runner.run(answer()) == 42
        assert runner.run(answer()) == 42  # reusable until closed
        assert runner.get_loop() is loop
    assert loop.is_closed()
    with pytest.raises(RuntimeError, match="closed"):
        runner.get_loop()
    coro = answer()
    with pytest.raises(RuntimeError, match="closed"):
        runner.run(coro)
    coro.close()


def test_runner_close_is_idempotent_and_lazy():
    runner = coroloop.Runner()
    runner.close()  # never initialised: nothing to do
    runner = coroloop.Runner()
    loop = runner.get_loop()
    runner.close()
    runner.close()
    assert loop.is_closed()


def test_runner_debug_and_loop_factory():
    with coroloop.Runner(debug=True, loop_factory=new_virtual_loop) as runner:
        loop = runner.get_loop()
        assert loop.get_debug()
        assert isinstance(loop.clock, VirtualClock)


def test_runner_keeps_context_between_runs():
    var = contextvars.ContextVar("var", default="unset")

    async def set_it():
        var.set("set in first run")

    async def get_it():
        return var.get()

    with coroloop.Runner() as runner:
        runner.run(set_it())
        assert runner.run(get_it()) == "set in first run"
        other = contextvars.Context()
        assert runner.run(get_it(), context=other) == "unset"
    assert var.get() == "unset"


def test_runner_with_stdlib_loop_factory():
    with coroloop.Runner(loop_factory=asyncio.new_event_loop) as runner:
        loop = runner.get_loop()
        assert not isinstance(loop, coroloop.EventLoop)
        assert runner.run(answer()) == 42


def test_runner_restores_sigint_handler():
    before = signal.getsignal(signal.SIGINT)
    with coroloop.Runner() as runner:
        seen = []

        async def main():
            seen.append(signal.getsignal(signal.SIGINT))

        runner.run(main())
    assert signal.getsignal(signal.SIGINT) is before
    if before is signal.default_int_handler:
        assert seen[0] is not signal.default_int_handler


def _run_script(script: str, *, timeout: float = 30) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    src = os.path.abspath(os.path.join(os.path.dirname(coroloop.__file__), os.pardir))
    env["PYTHONPATH"] = src
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_sigint_cancels_main_task_and_raises_keyboard_interrupt():
    result = _run_script("""
        import os, signal, coroloop, asyncio

        events = []

        async def main():
            try:
                # Blocks in the poller with no timer, until SIGINT arrives.
                asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGINT)
                await asyncio.get_running_loop().create_future()
            except asyncio.CancelledError:
                events.append("main cancelled")
                raise

        try:
            coroloop.run(main())
        except KeyboardInterrupt:
            events.append("KeyboardInterrupt")
        print(events)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['main cancelled', 'KeyboardInterrupt']"


def test_sigint_swallowed_by_main_task_does_not_raise():
    result = _run_script("""
        import os, signal, coroloop, asyncio

        async def main():
            loop = asyncio.get_running_loop()
            loop.call_soon(os.kill, os.getpid(), signal.SIGINT)
            try:
                await loop.create_future()
            except asyncio.CancelledError:
                asyncio.current_task().uncancel()
                return "handled"

        print(coroloop.run(main()))
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "handled"


def test_sigint_outside_run_is_default_again():
    result = _run_script("""
        import os, signal, coroloop

        async def main():
            return 1

        coroloop.run(main())
        print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"

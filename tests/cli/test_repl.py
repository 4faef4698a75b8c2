"""``python -m coroloop``: the await-REPL, driven through a pseudo-terminal.

Each test types into a real terminal (``pty_session``): lines, Ctrl-C (``\\x03``,
SIGINT from the line discipline) and Ctrl-D (``\\x04``, end of file).  Waiting is on
output, never on time: a task "keeps running between inputs" when what it prints
appears while the console sits at its prompt with nothing typed.
"""

from __future__ import annotations

import pytest

from cli_helpers import PROMPT, repl_session


pytestmark = pytest.mark.timeout(60)


def _exit_cleanly(repl, status: int = 0) -> None:
    repl.wait_until_reading()  # Ctrl-D typed before readline reads could be lost
    repl.send("\x04")
    repl.expect("exiting coroloop REPL...")
    assert repl.wait() == status
    assert "Traceback" not in repl.output
    assert "Task was destroyed" not in repl.output


def _interrupt(repl, statement: str, running: str) -> None:
    """Run *statement*, wait until it prints *running*, press Ctrl-C: back at the prompt
    with KeyboardInterrupt reported."""
    repl.sendline(statement)
    repl.expect(running)
    repl.send("\x03")
    assert "KeyboardInterrupt" in repl.expect(PROMPT)


def test_top_level_await_on_coroloops_loop():
    with repl_session() as repl:
        assert "'coroloop._event_loop'" in repl.enter(
            "type(asyncio.get_running_loop()).__module__")
        assert "42" in repl.enter("await asyncio.sleep(0.01, result=6 * 7)")
        repl.enter("async def twice(x):",
                   "    await asyncio.sleep(0)",
                   "    return 2 * x")
        assert "[2, 4]" in repl.enter("await asyncio.gather(twice(1), twice(2))")
        assert "True" in repl.enter(
            "await asyncio.sleep(0) or asyncio.current_task() is not None")
        _exit_cleanly(repl)


def test_tasks_keep_running_between_inputs():
    with repl_session() as repl:
        repl.enter("async def worker():",
                   "    await asyncio.sleep(0.05)",
                   "    print('worker', 'finished', sep='-', flush=True)")
        repl.enter("t = asyncio.create_task(worker())")
        # Nothing is typed now: the task finishes while the console waits for input.
        # (The echoed source says 'worker', 'finished'; only the task prints this.)
        repl.expect("worker-finished")
        assert "True" in repl.enter("t.done()")
        # A task still pending at Ctrl-D is cancelled, and the exit is clean.
        repl.enter("forever = asyncio.create_task(asyncio.sleep(3600))")
        _exit_cleanly(repl)


def test_ctrl_c_cancels_the_running_statement():
    with repl_session() as repl:
        repl.enter("log = []")
        # The message is printed by a callback, after the task has suspended in sleep:
        # Ctrl-C then finds it waiting (blocking code is the next test's case).
        repl.enter("async def slow():",
                   "    try:",
                   "        log.append('started')",
                   "        asyncio.get_running_loop().call_soon(print, 'sleeping...')",
                   "        await asyncio.sleep(3600)",
                   "    except asyncio.CancelledError:",
                   "        log.append('cancelled'); raise")
        _interrupt(repl, "await slow()", "sleeping...")
        assert "['started', 'cancelled']" in repl.enter("log")
        # The console and the loop are fine afterwards.
        assert "'still here'" in repl.enter("await asyncio.sleep(0, result='still here')")
        _exit_cleanly(repl)


def test_ctrl_c_interrupts_blocking_code_in_a_statement():
    with repl_session() as repl:
        repl.enter("import time")
        # A coroutine that blocks the loop, then plain blocking code: both interrupted.
        repl.enter("async def busy():",
                   "    print('busy...', flush=True)",
                   "    while True: time.sleep(0.01)")
        _interrupt(repl, "await busy()", "busy...")
        _interrupt(repl, "print('blocking...', flush=True); time.sleep(3600)", "blocking...")
        assert "2" in repl.enter("1 + 1")
        _exit_cleanly(repl)


def test_ctrl_c_at_the_prompt_discards_the_line():
    with repl_session() as repl:
        repl.send("this line is never run")
        repl.expect("this line is never run")
        repl.wait_until_reading()
        repl.send("\x03")
        assert "KeyboardInterrupt" in repl.expect(PROMPT)
        assert "'after'" in repl.enter("'after'")
        _exit_cleanly(repl)
        assert "SyntaxError" not in repl.output


def test_errors_show_the_statements_traceback_only():
    with repl_session() as repl:
        repl.enter("async def fail():",
                   "    raise ValueError('bad value')")
        shown = repl.enter("await fail()")
        assert "Traceback (most recent call last):" in shown
        assert 'File "<stdin>"' in shown
        assert "ValueError: bad value" in shown
        assert "coroloop" not in shown.split("Traceback", 1)[1]  # no loop internals
        repl.wait_until_reading()
        repl.send("\x04")
        assert repl.wait() == 0


def test_exit_with_a_status():
    with repl_session() as repl:
        repl.enter("t = asyncio.create_task(asyncio.sleep(3600))")
        repl.sendline("raise SystemExit(3)")
        repl.expect("exiting coroloop REPL...")
        assert repl.wait() == 3
        assert "Traceback" not in repl.output


def test_signal_handlers_work_at_the_prompt():
    """Statements run in the main thread: loop.add_signal_handler works there."""
    with repl_session() as repl:
        repl.enter("import os, signal; got = asyncio.Event()")
        repl.enter("asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, got.set)")
        assert "True" in repl.enter(
            "os.kill(os.getpid(), signal.SIGUSR1); await asyncio.wait_for(got.wait(), 10)")
        _exit_cleanly(repl)


def test_startup_file_runs_on_the_loop(tmp_path):
    """PYTHONSTARTUP runs first, on the loop, with await allowed; its tasks live on."""
    startup = tmp_path / "startup.py"
    startup.write_text("import asyncio\n"
                       "greeting = await asyncio.sleep(0, result='hello from startup')\n"
                       "ticker = asyncio.ensure_future(asyncio.sleep(3600))\n")
    with repl_session(PYTHONSTARTUP=str(startup)) as repl:
        assert "'hello from startup'" in repl.enter("greeting")
        assert "False" in repl.enter("ticker.done()")
        # Between inputs one background thread runs the loop (two would collide:
        # "This event loop is already running").
        repl.enter("import threading, time")
        repl.enter("async def threads():",
                   "    await asyncio.sleep(0.05)",
                   "    names = [t.name for t in threading.enumerate()]",
                   "    print('loop threads:', names.count('coroloop REPL loop'), flush=True)")
        repl.enter("t = asyncio.ensure_future(threads())")
        repl.expect("loop threads: 1")
        _exit_cleanly(repl)
        assert "already running" not in repl.output

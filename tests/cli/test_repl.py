"""``python -m coroloop``: the await-REPL, driven through a pseudo-terminal.

Each test types into a real terminal (``pty_session``): lines, Ctrl-C (``\\x03``,
SIGINT from the line discipline) and Ctrl-D (``\\x04``, end of file).  Waiting is on
output, never on time: a task "keeps running between inputs" when its counter, read
at a later prompt, has moved while the prompt sat idle.
"""

from __future__ import annotations

import pytest

from cli_helpers import PROMPT, repl_session


pytestmark = pytest.mark.timeout(60)


def test_top_level_await_on_coroloops_loop():
    with repl_session() as repl:
        repl.sendline("type(asyncio.get_running_loop()).__module__")
        assert "'coroloop._event_loop'" in repl.expect(PROMPT)
        repl.sendline("await asyncio.sleep(0.01, result=6 * 7)")
        assert "42" in repl.expect(PROMPT)
        repl.sendline("async def twice(x):")
        repl.sendline("    await asyncio.sleep(0)")
        repl.sendline("    return 2 * x")
        repl.sendline("")
        repl.expect(PROMPT)
        repl.sendline("await asyncio.gather(twice(1), twice(2))")
        assert "[2, 4]" in repl.expect(PROMPT)
        repl.sendline("await asyncio.sleep(0) or asyncio.current_task() is not None")
        assert "True" in repl.expect(PROMPT)
        repl.send("\x04")
        repl.expect("exiting coroloop REPL...")
        assert repl.wait() == 0


def test_tasks_keep_running_between_inputs():
    with repl_session() as repl:
        repl.sendline("async def worker():")
        repl.sendline("    await asyncio.sleep(0.05)")
        repl.sendline("    print('worker', 'finished', sep='-', flush=True)")
        repl.sendline("")
        repl.expect(PROMPT)
        repl.sendline("t = asyncio.create_task(worker())")
        repl.expect(PROMPT)
        # Nothing is typed now: the task finishes while the console waits for input.
        # (The echoed source says 'worker', 'finished'; only the task prints this.)
        repl.expect("worker-finished")
        repl.sendline("t.done()")
        assert "True" in repl.expect(PROMPT)
        # A task still pending at Ctrl-D is cancelled, and the exit is clean.
        repl.sendline("forever = asyncio.create_task(asyncio.sleep(3600))")
        repl.expect(PROMPT)
        repl.send("\x04")
        repl.expect("exiting coroloop REPL...")
        assert repl.wait() == 0
        assert "Task was destroyed" not in repl.output
        assert "Traceback" not in repl.output


def test_ctrl_c_cancels_the_running_statement():
    with repl_session() as repl:
        repl.sendline("log = []")
        repl.expect(PROMPT)
        repl.sendline("async def slow():")
        repl.sendline("    try:")
        # The message is printed by a callback, after the task has suspended in sleep:
        # Ctrl-C then finds it waiting (blocking code is the next test's case).
        repl.sendline("        log.append('started')")
        repl.sendline("        asyncio.get_running_loop().call_soon(print, 'sleeping...')")
        repl.sendline("        await asyncio.sleep(3600)")
        repl.sendline("    except asyncio.CancelledError:")
        repl.sendline("        log.append('cancelled'); raise")
        repl.sendline("")
        repl.expect(PROMPT)
        repl.sendline("await slow()")
        repl.expect("sleeping...")
        repl.send("\x03")
        repl.expect("KeyboardInterrupt")
        repl.expect(PROMPT)
        repl.sendline("log")
        assert "['started', 'cancelled']" in repl.expect(PROMPT)
        # The console and the loop are fine afterwards.
        repl.sendline("await asyncio.sleep(0, result='still here')")
        assert "'still here'" in repl.expect(PROMPT)
        repl.send("\x04")
        assert repl.wait() == 0


def test_ctrl_c_interrupts_blocking_code_in_a_statement():
    with repl_session() as repl:
        repl.sendline("import time")
        repl.expect(PROMPT)
        # A coroutine that blocks the loop, then plain blocking code: both interrupted.
        repl.sendline("async def busy():")
        repl.sendline("    print('busy...', flush=True)")
        repl.sendline("    while True: time.sleep(0.01)")
        repl.sendline("")
        repl.expect(PROMPT)
        repl.sendline("await busy()")
        repl.expect("busy...")
        repl.send("\x03")
        repl.expect("KeyboardInterrupt")
        repl.expect(PROMPT)
        repl.sendline("print('blocking...', flush=True); time.sleep(3600)")
        repl.expect("blocking...")
        repl.send("\x03")
        repl.expect("KeyboardInterrupt")
        repl.expect(PROMPT)
        repl.sendline("1 + 1")
        assert "2" in repl.expect(PROMPT)
        repl.send("\x04")
        assert repl.wait() == 0


def test_ctrl_c_at_the_prompt_discards_the_line():
    with repl_session() as repl:
        repl.send("this line is never run")
        # Its echo shows readline is reading (a SIGINT before readline waits for input
        # is seen only with the next keystroke, in Python's own REPL too).
        repl.expect("this line is never run")
        repl.send("\x03")
        repl.expect("KeyboardInterrupt")
        repl.expect(PROMPT)
        repl.sendline("'after'")
        assert "'after'" in repl.expect(PROMPT)
        repl.send("\x04")
        assert repl.wait() == 0
        assert "SyntaxError" not in repl.output


def test_errors_show_the_statements_traceback_only():
    with repl_session() as repl:
        repl.sendline("async def fail(): raise ValueError('bad value')")
        repl.sendline("")
        repl.expect(PROMPT)
        repl.sendline("await fail()")
        shown = repl.expect(PROMPT)
        assert "Traceback (most recent call last):" in shown
        assert 'File "<stdin>"' in shown
        assert "ValueError: bad value" in shown
        assert "coroloop" not in shown.split("Traceback", 1)[1]  # no loop internals
        repl.send("\x04")
        assert repl.wait() == 0


def test_exit_with_a_status():
    with repl_session() as repl:
        repl.sendline("t = asyncio.create_task(asyncio.sleep(3600))")
        repl.expect(PROMPT)
        repl.sendline("raise SystemExit(3)")
        repl.expect("exiting coroloop REPL...")
        assert repl.wait() == 3
        assert "Traceback" not in repl.output


def test_signal_handlers_work_at_the_prompt():
    """Statements run in the main thread: loop.add_signal_handler works there."""
    with repl_session() as repl:
        repl.sendline("import os, signal; got = asyncio.Event()")
        repl.expect(PROMPT)
        repl.sendline("asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, got.set)")
        repl.expect(PROMPT)
        repl.sendline("os.kill(os.getpid(), signal.SIGUSR1); await asyncio.wait_for(got.wait(), 10)")
        assert "True" in repl.expect(PROMPT)
        repl.send("\x04")
        assert repl.wait() == 0

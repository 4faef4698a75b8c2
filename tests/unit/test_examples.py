"""The examples of the concurrency guide run and print the same transcript every time.

Each runs in a subprocess (``python examples/NAME.py``), as a reader would run it.
The transcripts are exact: examples order their output by scheduler steps or by
timer gaps of tens of milliseconds, never by racing threads.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest


pytestmark = pytest.mark.timeout(60)

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

EXPECTED = {
    # -- issue 9 (debug): the debugging tutorial's examples --
    "debug_mode": "main() returns; the heartbeat is still running\nWARNING coroloop.debug: run() cancelled 1 task(s) still pending at exit:\n  Task 'heartbeat' running heartbeat()\n    created at debug_mode.py:37 in main\nheartbeat cancelled via 'run', outside any task: True\n",
    "task_tracer": "spawned  main() by (no task)\nspawned  fetch() by main\nspawned  fetch() by main\nfinished fetch-1  returned 'page 1'\nfinished fetch-2  returned 'page 2'\nspawned  fetch() by main\nfinished fetch()  failed: ValueError('no page 3')\nspawned  sleep() by main\nfinished main     returned [ValueError('no page 3')]\nfinished slow     cancelled\ngather gave [ValueError('no page 3')]\n",
    "task_monitor": "all waiting: {'running': 1, 'runnable': 0, 'waiting': 3, 'done': 0}\n  worker-1 waits on queue_get\n  worker-2 waits on queue_get\n  worker-3 waits on queue_get\nafter the work: {'running': 1, 'runnable': 0, 'waiting': 0, 'done': 3}\n  worker-1: result\n  worker-2: exception (ValueError('worker 2 got a bad item'))\n  worker-3: result\n",
    "forgotten_await": 'saved first\nWARNING py.warnings: forgotten_await.py:42: RuntimeWarning: coroutine \'save\' was never awaited\nCoroutine created at (most recent call last)\n  File "forgotten_await.py", line 51, in <module>\n    coroloop.run(main(), debug=True)\n  File "forgotten_await.py", line 42, in main\n    save("second")          # the bug: no await, nothing is saved\n  save("second")          # the bug: no await, nothing is saved\nmain() is done\n',
    "swallowed_cancellation": "stubborn: caught the cancellation and carries on\nWARNING coroloop.debug: Task 'stubborn' swallowed a cancellation: it returned normally at swallowed_cancellation.py:32 after cancel() reached it, without calling uncancel(); task 'stubborn' cancelled by task 'Task-1' via direct at swallowed_cancellation.py:48 in main\npolite: cleaning up; cancelled by Task-1 via direct\nstubborn returned 'not cancelled'\npolite was cancelled, as asked\n",
    # -- end of issue 9 (debug) --
    # -- coroloop.debug's detectors (issue 9 items 3-4) --
    "blocking": """\
blocking_startup:
  blocked >= 50 ms in task 'blocking_startup': blocking.py:26 in load_settings: \
time.sleep(0.2)  # a blocking call: the whole loop waits here
  settings: {'retries': 3}
threaded_startup:
  settings: {'retries': 3}
""",
    "deadlock": """\
DeadlockError: 3 tasks wait, nothing can wake them
  the main task waits for gather
  alice waits for ledger, held by bob
  bob waits for accounts, held by alice
  cycle: alice -> bob -> alice
run() raised DeadlockError; the stuck workers were cancelled
a queue with no producer: DeadlockError, the main task waits for queue_get
an event never set: DeadlockError, the main task waits for event
a condition never notified: DeadlockError, the main task waits for condition
""",
    # -- end of the detectors' examples --
    "timeline": "6 items handled by 2 workers\nwatchdog cancelled\n",
    "coroutines_and_run": """\
calling fetch() made a coroutine; nothing ran yet
fetch('config') started
fetch('config') finished
await gave <config>
fetch('a') started
fetch('a') finished
fetch('b') started
fetch('b') finished
sequential results: <a> <b>
the exception came through await: negative value: -1
running on coroloop's loop
run() returned 42
""",
    "tasks_concurrently": """\
create_task: both run while main() waits
created task-a and task-b; none has run yet
  a: step 1/2
  b: step 1/3
  a: step 2/2
  b: step 2/3
  b: step 3/3
a done / b done
TaskGroup: the block waits for all of them
  x: step 1/1
  y: step 1/2
  y: step 2/2
['x done', 'y done']
TaskGroup with a failure: the sibling is cancelled
  slow: step 1/10
  slow: step 2/10
  slow: step 3/10
caught 1 error(s): bad broke
slow cancelled: True
""",
    "gather": """\
results in argument order:
  square(2) finished
  square(1) finished
  square(3) finished
  [9, 4, 1]
first exception propagates:
  caught ValueError(bad input); survivor still running: True
  square(4) finished
  survivor result: 16
return_exceptions=True:
  square(5) finished
  [25, ValueError('oops')]
cancelling a gather cancels its children:
  gather cancelled; children cancelled: [True, True, True]
""",
    "wait": """\
FIRST_COMPLETED: done=['fast'] pending=['medium', 'slow']
timeout=0.6:     done=['medium'] pending=['slow']
after cancel():  slow cancelled=True
FIRST_EXCEPTION: done=['bad', 'ok'] pending=['slow']
  bad raised RuntimeError('bad failed')
coroutines are refused: Passing coroutines is forbidden, use tasks explicitly.
""",
    "wait_for_cancellation": """\
wait_for in time:
  db1: closed
  db1: 42 rows
wait_for too slow:
  db2: query cancelled, cleaning up
  db2: closed
  TimeoutError; cleanup already done: open=False
timeout() around a block:
  db3: closed
  db4: query cancelled, cleaning up
  db4: closed
  TimeoutError; expired=True
cancelling a task:
  db5: query cancelled, cleaning up
  db5: closed
  task cancelled=True, connection open=False
a result that arrives with the deadline is kept:
  got 'reply', expired=False
""",
    "shield": """\
handler: saving 'order-17'
  save('order-17'): write
  save('order-17'): flush
handler: cancelled while waiting; the save goes on
  save('order-17'): commit
main: request cancelled=True
main: order-17 saved
main: cancelling the inner task cancels the shield too
""",
    "async_context_iterators": """\
open db
using db
close db (error: None)
open cache
close cache (error: KeyError)
the KeyError went through __aexit__
acquire resource
holding resource
release resource
countdown: [3, 2, 1]
tick 0
tick 1
ticker(2) finalized
ticker(4) finalized
squares: [0, 4]
ticker(100) finalized
left the loop early
""",
    "executors": """\
settings.toml read in request r-17
['a.txt read in request -', 'b.txt read in request -']
primes below 10k and 100k: [1229, 9592]
the loop kept running meanwhile: True
""",
}


def _run(name):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.pop("PYTHONASYNCIODEBUG", None)
    return subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py")], env=env,
                          capture_output=True, text=True, timeout=50, cwd=ROOT)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_transcript(name):
    done = _run(name)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout == EXPECTED[name]


ALL_EXAMPLES = sorted(p.stem for p in EXAMPLES.glob("*.py"))


@pytest.mark.parametrize("name", sorted(set(ALL_EXAMPLES) - set(EXPECTED)))
def test_example_runs_cleanly(name):
    """Examples without a fixed transcript here (some have their own test) must at
    least run to completion without a warning or an error."""
    done = _run(name)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.strip()


def test_every_example_is_documented():
    docs = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
    linked = "".join(p.read_text() for p in docs)
    for name in ALL_EXAMPLES:
        assert f"examples/{name}.py" in linked, f"no doc page links examples/{name}.py"

"""Every CPython test the conformance run does not run, with the reason.

An excluded test is not run and is counted as "excluded", never as a pass.  Only two
kinds of reasons are honest here:

* the test asserts CPython internals rather than asyncio's documented behaviour
  (private attributes, the exact C/Python implementation, the stdlib's own classes or
  call stacks); or
* the test exercises a feature outside coroloop's scope (for now: networking).

"coroloop fails this" is never a reason: such a test stays in and shows up as a failure.

Each entry is ``X(pattern, reason, python=None)``.  ``pattern`` is an fnmatch pattern
over the test id ``module.Class.test_name`` (class names are the ones ``suite.py``
creates, e.g. ``TaskTests_TargetLoop``, or CPython's for classes run as-is).
``python`` limits the entry to some versions: ``">=3.12"``, ``"<3.13"``, ``"==3.11"``.
Exclusions are the same for every target (coroloop, and asyncio when validating).
"""

from __future__ import annotations

import fnmatch
import sys
from typing import NamedTuple


class X(NamedTuple):
    pattern: str
    reason: str
    python: str | None = None

    def applies(self, version=sys.version_info[:2]) -> bool:
        if self.python is None:
            return True
        for op in (">=", "<=", "==", "<", ">"):
            if self.python.startswith(op):
                want = tuple(int(p) for p in self.python[len(op):].split("."))
                have = tuple(version[:len(want)])
                return {
                    ">=": have >= want, "<=": have <= want, "==": have == want,
                    "<": have < want, ">": have > want,
                }[op]
        raise ValueError(f"bad python constraint {self.python!r} in {self.pattern}")


EXCLUSIONS: list[X] = [
    # -- stdlib internals ---------------------------------------------------------------
    X("test_tasks.Task*Tests_TargetLoop.test_log_destroyed_pending_task",
      "calls loop._run_once(), a private method of the stdlib BaseEventLoop; the test "
      "runs in the *_TestLoop variants"),

    X("test_tasks.Task*Tests_TargetLoop.test_error_in_call_soon",
      "replaces loop.call_soon on the loop instance and expects Task() to go through it; "
      "on its own loop a coroloop Task queues its reusable step handle directly (the "
      "core's fast path, docs/architecture.md), so the patch is not observed. The test "
      "runs, and passes, in the *_TestLoop variants (coroloop's Task on a stdlib loop)"),

    X("test_tasks.CoroutineGatherTests.test_issue46672",
      "patches asyncio.base_events.BaseEventLoop.call_exception_handler, a method of the "
      "stdlib loop class, and asserts on it through a loop that is not that class"),

    X("test_runners.RunTests*.test_loop_factory_default_event_loop",
      "asserts that asyncio.EventLoop is the stdlib SelectorEventLoop on Unix (the "
      "stdlib's class hierarchy); the view maps asyncio.EventLoop to the target's loop",
      python=">=3.13"),
    X("test_runners.RunTests_TargetLoop.test_asyncio_run_debug",
      "patches asyncio.coroutines._is_debug_mode, a stdlib private function, to change "
      "the default debug mode of new loops; runs in RunTests on the stdlib loop"),

    # -- removed features ----------------------------------------------------------------
    X("test_tasks.*.test_cancel_gather_1",
      "passes a bare generator (def ...: yield from fut) where a coroutine is expected: "
      "3.11's Task still accepted generator-based coroutines, a leftover of "
      "@asyncio.coroutine (removed in 3.11; the check was tightened in 3.12). coroloop "
      "requires real coroutines, as asyncio does from 3.12",
      python="==3.11"),
]


def exclusion_for(test_id: str) -> str | None:
    """The reason *test_id* is excluded on this Python, or None."""
    for x in EXCLUSIONS:
        if x.applies() and fnmatch.fnmatchcase(test_id, x.pattern):
            return x.reason
    return None

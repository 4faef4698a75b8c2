"""The classic asyncio pitfalls, reported where they happen (debug mode).

* **A coroutine never awaited.**  Debug mode turns on Python's coroutine origin
  tracking, so the ``RuntimeWarning: coroutine '...' was never awaited`` names the
  place the coroutine was created ("Coroutine created at (most recent call last)").
* **A swallowed cancellation.**  A task that returns normally after ``cancel()``
  reached it, without ``uncancel()``: logged on the ``coroloop.debug`` logger with
  the task, the line it returned at, and who cancelled it (``cancelled_by``).
* **Tasks left pending at exit.**  When ``run()``/``Runner.close()`` cancels the
  tasks still pending, one warning lists them with their creation sites.
* **A task exception never retrieved.**  asyncio's report, verbatim, with the
  task's creation site after it ("Object created at", debug mode's source
  traceback), which the loop's exception handler prints.

asyncio's own messages come first, verbatim; what coroloop adds comes after.
"""

from __future__ import annotations

import logging
import os

import coroloop

from ._tool import LoopTool
from .provenance import CancelTracker, _record as _cancel_record, cancelled_by
from .taskmonitor import coro_name as _coro_name, format_frames, record_of

__all__ = ["PitfallReporter", "logger"]

#: Where the debugging tools report (a blocked loop, a deadlock, a pitfall).
logger = logging.getLogger("coroloop.debug")


class PitfallReporter(LoopTool):
    """Reports swallowed cancellations and the tasks ``run()`` cancels at exit.

    Needs the loop's ``CancelTracker`` (installed with it)."""

    def __init__(self, loop) -> None:
        self.loop = loop
        self._at_exit: list = []

    @classmethod
    def install(cls, loop=None) -> "PitfallReporter":
        """The reporter of *loop*, installed now (with a CancelTracker) if it had none."""
        if loop is None:
            loop = coroloop.get_running_loop()
        CancelTracker.install(loop)
        reporter = cls.of(loop)
        if reporter is None:
            reporter = cls(loop)
            reporter._attach()
        return reporter

    # -- hooks ------------------------------------------------------------------------
    def task_cancel_requested(self, task, msg) -> None:
        """Instrument hook: remember that *task* was asked to cancel."""
        try:
            info = cancelled_by(task)
            if info is None or info.via != "run" or \
                    not any(entry[2].endswith("_cancel_all_tasks") for entry in info.stack):
                return
            if not self._at_exit:
                self.loop.call_soon(self._report_at_exit)
            self._at_exit.append((f"Task {task.get_name()!r} running {_coro_name(task)}()",
                                  _creation_site(task)))
        except Exception as exc:
            self._fail("task_cancel_requested", exc)

    def task_exited(self, task) -> None:
        """Instrument hook: report *task* if it returned normally after a cancellation reached it."""
        try:
            if task.cancelled() or not task.cancelling() or task.exception() is not None:
                return  # (a task that raised did not swallow anything: it failed)
            record = _cancel_record(task)
            if record is None or not record.cancels or record.cancels[-1].via == "TaskGroup":
                # (A TaskGroup turns its cancellation of the parent into its
                # ExceptionGroup; 3.11's does not uncancel() it: gh-95289's era.)
                return
            frame = record.frame
            where = "" if frame is None else \
                f" at {frame.f_code.co_filename}:{frame.f_lineno}"
            logger.warning(
                "Task %r swallowed a cancellation: it returned normally%s after cancel() "
                "reached it, without calling uncancel(); %s",
                task.get_name(), where, record.cancels[-1].describe())
        except Exception as exc:
            self._fail("task_exited", exc)

    def _report_at_exit(self) -> None:
        pending, self._at_exit = self._at_exit, []
        lines = [f"run() cancelled {len(pending)} task(s) still pending at exit:"]
        for description, site in pending:
            lines.append(f"  {description}")
            if site is not None:
                lines.append(f"    created at {site[0]}:{site[1]} in {site[2]}")
        logger.warning("\n".join(lines))


_PACKAGE_DIR = os.path.dirname(coroloop.__file__) + os.sep


def _creation_site(task):
    """``(filename, lineno, function)`` of the program line that created *task*."""
    record = record_of(task)
    frames = format_frames(record.created_at, offsets=True) if record is not None else []
    if not frames:
        frames = [tuple(entry[:3]) for entry in getattr(task, "_source_traceback", None) or ()]
    for entry in reversed(frames):
        if not entry[0].startswith(_PACKAGE_DIR):
            return entry
    return frames[-1] if frames else None

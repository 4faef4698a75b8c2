"""The blocking detector: who holds the loop, caught while they hold it.

``watch_blocking(threshold)`` starts a watchdog thread.  Every ``threshold / 4``
seconds it asks the loop what it is running (``loop.running_callback()``: the
iteration and the ready-queue item, two attribute reads).  When the same item has
been running for ``threshold`` seconds, the watchdog samples the loop thread's
stack there and then (``sys._current_frames()``) -- the blocking call is still on
it -- and reports a ``BlockingReport``: to ``on_block``, as a warning on the
``coroloop.debug`` logger, and as an instant event ("blocking") in the traces
recording the loop.  When no single item is slow but one iteration has run for
``threshold`` seconds (many short callbacks), it reports that iteration.

Why a thread and not the loop's own timing: asyncio's slow-callback warning is
written after the callback returned, with no stack, and never if it does not
return.  The watchdog sees the culprit while it runs.

Cost.  On the loop thread, while a watch runs, one attribute store per callback and
one increment per iteration (``loop.track_running_callback``: the loop notes the
item it runs; nothing when no watch runs).  The watchdog takes the GIL four times
per threshold for a few microseconds.  A callback is noticed between
``threshold`` and ``threshold * 1.25`` after it began; ``duration`` is how long it
had been running when its stack was sampled (a lower bound).

In debug mode a watch at ``loop.slow_callback_duration`` runs while the loop runs
(see ``coroloop.debug``'s module docstring).
"""

from __future__ import annotations

import logging
import os
import sys
import sysconfig
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, cast

import coroloop

from .trace import is_recording, mark

__all__ = ["BlockingReport", "BlockingWatch", "watch_blocking"]

logger = logging.getLogger("coroloop.debug")

# Frames of the scheduler itself end the sampled stack (the loop's module) or are
# left out of it (a task's step, a handle's run): the program's frames remain.
_LOOP_FILE = sys.modules[coroloop.CoreEventLoop.__module__].__file__
_CORE_DIR = os.path.dirname(cast(str, _LOOP_FILE)) + os.sep
# Where "the program's own frame" is not: the standard library, coroloop, asyncio.
_LIBRARY_DIRS = tuple({os.path.dirname(coroloop.__file__) + os.sep,
                       sysconfig.get_paths()["stdlib"] + os.sep})


@dataclass(frozen=True)
class BlockingReport:
    """What held the loop: reported while it still did.

    ``kind`` is ``"callback"`` (one step or callback ran past the threshold) or
    ``"iteration"`` (one loop iteration did, through many short callbacks; then
    ``handle`` is what ran when the stack was sampled).  ``duration``: seconds it had
    been running when sampled (at least the threshold).  ``task``: the task whose
    step it is, or None.  ``handle``: the ready-queue item (a Handle or the task).
    ``stack``: the loop thread's frames inside it as ``(filename, lineno,
    function)``, innermost last.
    """

    duration: float
    task: Any  # the running task, or None
    handle: object
    stack: list = field(default_factory=list)
    kind: str = "callback"
    threshold: float = 0.0

    @property
    def culprit(self):
        """``(filename, lineno, function)`` of the program's innermost frame (outside
        the standard library and coroloop), else the innermost; None if no stack."""
        for entry in reversed(self.stack):
            if not entry[0].startswith(_LIBRARY_DIRS):
                return entry
        return self.stack[-1] if self.stack else None

    def format(self) -> str:
        """The report as the warning shows it."""
        what = "one iteration of callbacks" if self.kind == "iteration" else "a callback"
        if self.task is not None:
            owner = f"task {self.task.get_name()!r} ({_coro_name(self.task)})"
        else:
            owner = _describe(self.handle)
        lines = [f"Loop blocked for {self.duration:.3f} s (still running, threshold "
                 f"{self.threshold:.3f} s): {what}, in {owner}"]
        culprit = self.culprit
        if culprit is not None:
            lines.append(f"  culprit: {culprit[0]}:{culprit[1]} in {culprit[2]}")
        if self.stack:
            lines.append("Stack of the loop thread (most recent call last):")
            summaries = [traceback.FrameSummary(f, n, fn) for f, n, fn in self.stack]
            lines.append("".join(traceback.format_list(summaries)).rstrip())
        return "\n".join(lines)

    __str__ = format


def _coro_name(task) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", type(coro).__name__)


def _describe(handle) -> str:
    try:
        return repr(handle)
    except Exception:
        return object.__repr__(handle)


class BlockingWatch:
    """A running blocking detector (what ``watch_blocking`` returns).

    ``stop()`` ends the watchdog thread and waits for it; the watch is also a
    context manager.  ``reports`` keeps every report (the most recent 100).
    """

    #: The watchdog thread carries this attribute: the deadlock detector knows it
    #: will never wake the loop.
    THREAD_MARK = "coroloop_debug_thread"

    def __init__(self, loop, threshold: float, on_block=None) -> None:
        if not threshold > 0:
            raise ValueError(f"watch_blocking() threshold must be > 0 seconds, got {threshold!r}")
        if on_block is not None and not callable(on_block):
            raise TypeError(f"watch_blocking() on_block must be callable, got {on_block!r}")
        if not hasattr(loop, "running_callback"):
            raise TypeError(f"watch_blocking() needs a coroloop loop, got {loop!r} "
                            "(run the program on coroloop.new_event_loop())")
        self.loop = loop
        self.threshold = float(threshold)
        self.on_block = on_block
        self.reports: list[BlockingReport] = []
        self._stopping = threading.Event()
        loop.track_running_callback(True)
        self._thread = threading.Thread(target=self._watch, daemon=True,
                                        name=f"coroloop-blocking-watchdog-{id(loop):x}")
        setattr(self._thread, self.THREAD_MARK, True)
        self._thread.start()

    def __enter__(self) -> "BlockingWatch":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True while the watchdog thread is watching the loop."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop watching: end the thread (and wait for it)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self.loop.track_running_callback(False)

    # -- the watchdog thread -------------------------------------------------------
    def _watch(self) -> None:
        loop = self.loop
        threshold = self.threshold
        interval = threshold / 4
        clock = time.perf_counter
        item = None            # the (iteration, handle) seen last
        item_since = 0.0       # when it was first seen
        item_reported = False
        iteration = None       # the iteration seen last, when first seen, reported
        iteration_since = 0.0
        iteration_reported = False
        while not self._stopping.wait(interval):
            if loop.is_closed():
                return
            running = loop.running_callback()
            now = clock()
            if running is None:
                continue  # between items: polling, or the loop is not running
            if item is None or running[0] != item[0] or running[1] is not item[1]:
                item, item_since, item_reported = running, now, False
            elif not item_reported and now - item_since >= threshold:
                item_reported = iteration_reported = True
                self._report("callback", now - item_since, running[1])
            if running[0] != iteration:
                iteration, iteration_since, iteration_reported = running[0], now, False
            elif not iteration_reported and now - iteration_since >= threshold:
                iteration_reported = True
                self._report("iteration", now - iteration_since, running[1])

    def _report(self, kind: str, duration: float, handle) -> None:
        try:
            report = BlockingReport(duration, self._task_of(handle), handle,
                                    self._sample(), kind, self.threshold)
            self.reports.append(report)
            del self.reports[:-100]
            logger.warning("%s", report)
            if self.on_block is not None:
                self.on_block(report)
            if is_recording(self.loop) and not self.loop.is_closed():
                culprit = report.culprit
                args = {"duration": round(duration, 6), "kind": kind,
                        "culprit": f"{culprit[0]}:{culprit[1]} in {culprit[2]}"
                        if culprit else ""}
                # Added by the loop's thread (traces are not thread-safe): the
                # instant event follows the slow step on the timeline.
                self.loop.call_soon_threadsafe(
                    _mark, self.loop, f"loop blocked {duration * 1000:.0f} ms",
                    report.task, args)
        except Exception:
            # A debugging tool never breaks the program: say so and carry on.
            logger.exception("coroloop.debug.watch_blocking could not report a block")

    def _task_of(self, handle):
        if isinstance(handle, coroloop.Task):
            return handle
        try:
            return coroloop.current_task(self.loop)
        except Exception:
            return None

    def _sample(self) -> list:
        thread_id = self.loop.thread_id
        frame = sys._current_frames().get(thread_id) if thread_id is not None else None
        stack = []
        while frame is not None:
            code = frame.f_code
            filename = code.co_filename
            if filename == _LOOP_FILE:
                break  # the scheduler: what called the item
            if not filename.startswith(_CORE_DIR):
                stack.append((filename, frame.f_lineno,
                              getattr(code, "co_qualname", code.co_name)))
            frame = frame.f_back
        stack.reverse()
        return stack


def _mark(loop, name, task, args) -> None:
    mark("blocking", name, loop=loop, task=task, args=args)


def watch_blocking(threshold: float = 0.1, *, loop=None, on_block=None) -> BlockingWatch:
    """Report every step or callback that holds *loop* (default: the running loop)
    for *threshold* seconds or more, while it still does.

    *on_block(report)* is called with each ``BlockingReport`` in the watchdog
    thread (keep it short and thread-safe; its errors are logged, never raised);
    every report is also logged as a warning on the ``coroloop.debug`` logger.
    Returns the ``BlockingWatch``; ``stop()`` it (or use it as a context manager).
    Started from a running step, it watches from the loop's next iteration on.
    """
    return BlockingWatch(loop_to_watch(loop, "watch_blocking"), threshold, on_block)


def loop_to_watch(loop, caller: str):
    """*loop*, or the running loop; a RuntimeError naming *caller* if there is none."""
    if loop is not None:
        return loop
    try:
        return coroloop.get_running_loop()
    except RuntimeError:
        raise RuntimeError(f"{caller}() outside a running loop needs loop=: "
                           "pass the loop to watch") from None

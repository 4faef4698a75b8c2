"""Handles: one scheduled callback each, the unit the ready queue runs.

``Handle`` and ``TimerHandle`` are ``asyncio.Handle`` / ``asyncio.TimerHandle``
subclasses, so code that type-checks handles keeps working, but they are
implemented here and carry only what the scheduler reads on its hot path:
``_callback``, ``_args``, ``_context`` and ``_cancelled``.

Invariant: a handle is in the ready queue at most once.  Tasks rely on it: each
task owns one handle for its steps and re-queues it instead of allocating a new one.
"""

from __future__ import annotations

import asyncio.events as _aevents
import contextvars
import os
import sys
import traceback

from .._repr import format_callback


class Handle(_aevents.Handle):
    __slots__ = ()  # the stdlib base class already declares the slots we use

    def __init__(self, callback, args, loop, context):
        # Deliberately not calling the base __init__: it captures a traceback and
        # re-reads loop debug state; the loop fills _source_traceback in debug mode.
        self._callback = callback
        self._args = args
        if context is None:
            context = contextvars.copy_context()
        self._cancelled = False
        self._loop = loop
        self._context = context
        # _repr and _source_traceback are left unset (read with getattr): they are
        # set only in debug mode, and every write here costs on the hot path.

    def cancel(self) -> None:
        if not self._cancelled:
            self._cancelled = True
            if self._loop._debug:
                # Keep the repr of what it was before dropping the references.
                self._repr = repr(self)
            self._callback = None
            self._args = None

    def cancelled(self) -> bool:
        return self._cancelled

    def get_context(self):
        return self._context

    def _repr_info(self):
        info = [self.__class__.__name__]
        if self._cancelled:
            info.append("cancelled")
        if self._callback is not None:
            info.append(format_callback(self._callback, self._args))
        source_traceback = getattr(self, "_source_traceback", None)
        if source_traceback:
            frame = source_traceback[-1]
            info.append(f"created at {frame[0]}:{frame[1]}")
        return info

    def __repr__(self) -> str:
        cached = getattr(self, "_repr", None)
        if cached is not None:
            return cached
        return "<{}>".format(" ".join(self._repr_info()))

    def _run(self) -> None:
        # The loop runs handles inline; this is for code that calls _run() directly.
        self._loop._run_handle(self)


class TimerHandle(Handle, _aevents.TimerHandle):
    __slots__ = ()

    def __init__(self, when, callback, args, loop, context):
        # Handle.__init__ inlined: timers are created on a hot path.
        self._callback = callback
        self._args = args
        self._cancelled = False
        self._loop = loop
        self._context = contextvars.copy_context() if context is None else context
        self._when = when
        # True while in the loop's heap (so cancel() can tell the loop).
        self._scheduled = False

    def when(self) -> float:
        return self._when

    def cancel(self) -> None:
        if self._cancelled:
            return
        if self._scheduled:
            # Lets the loop know how much of its timer heap is garbage.
            self._loop._timer_handle_cancelled(self)
            Handle.cancel(self)
        else:
            # Already fired (the common case: sleep() cancels its timer on the way
            # out); just drop the references.
            self._cancelled = True
            self._callback = self._args = None

    def _repr_info(self):
        info = Handle._repr_info(self)
        info.insert(2 if self._cancelled else 1, f"when={self._when}")
        return info

    # Comparisons and hashing come from asyncio.TimerHandle.  The loop's heap does
    # not use them: it orders (when, sequence, handle) tuples, compared in C.


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def extract_source_traceback(skip: int = 1):
    """The creation stack of a handle, future or task, recorded in debug mode.

    coroloop's own frames at the innermost end are dropped, so "created at" names
    the user's line rather than, say, loop.create_task.
    """
    frames = [(frame, lineno) for frame, lineno in traceback.walk_stack(sys._getframe(skip + 1))]
    while len(frames) > 1 and frames[0][0].f_code.co_filename.startswith(_PACKAGE_DIR):
        del frames[0]
    return traceback.StackSummary.extract(iter(frames), limit=None)[::-1]



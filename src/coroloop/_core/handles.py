"""Handles: one scheduled callback each, the unit the ready queue runs.

``Handle`` and ``TimerHandle`` are ``asyncio.Handle`` / ``asyncio.TimerHandle``
subclasses, so code that type-checks handles keeps working, but they are
implemented here and carry only what the scheduler reads on its hot path:
``_callback``, ``_args``, ``_context`` and ``_cancelled``.

The scheduler reads those four fields from whatever is in its ready queue, so a
coroloop Task carries them too and is its own ready-queue item (see tasks.py): a
step is scheduled without allocating a handle.
"""

from __future__ import annotations

import asyncio.events as _aevents
import contextvars
from typing import Any
import os
import sys
import threading
import traceback

from .. import _bridge
from .._repr import format_callback

__all__ = ["Handle", "TimerHandle", "new_handle", "new_timer_handle",
           "callback_error_context", "extract_source_traceback"]


class Handle(_aevents.Handle):
    """A callback scheduled by ``loop.call_soon()`` (asyncio.Handle's API; an
    ``isinstance`` of it)."""
    __slots__ = ()  # the stdlib base class already declares the slots we use

    # The public constructor, with asyncio's behaviour (a creation traceback when the
    # loop is in debug mode).  The loop's own hot paths use new_handle() instead.
    def __init__(self, callback, args, loop, context=None):
        self._callback = callback
        self._args = args
        self._cancelled = False
        self._loop = loop
        self._context = contextvars.copy_context() if context is None else context
        if loop.get_debug():
            self._source_traceback = extract_source_traceback(1)
        # _repr and _source_traceback are otherwise left unset (read with getattr).

    def cancel(self) -> None:
        """Unschedule the callback (nothing happens if it ran already)."""
        if not self._cancelled:
            self._cancelled = True
            if self._loop.get_debug():
                # Keep the repr of what it was before dropping the references.
                self._repr = repr(self)
            self._callback = None
            self._args = None  # type: ignore[assignment]  # dropped, as asyncio's Handle does

    def cancelled(self) -> bool:
        """True if cancel() was called."""
        return self._cancelled

    def get_context(self):
        """The contextvars.Context the callback runs in."""
        return self._context

    def _repr_info(self):
        info = [self.__class__.__name__]
        if self._cancelled:
            info.append("cancelled")
        if self._callback is not None:
            # 3.13 shows the arguments in debug mode only.
            show_args = self._loop.get_debug() or not _bridge.HANDLE_REPR_ARGS_ONLY_IN_DEBUG
            info.append(format_callback(self._callback, self._args, show_args=show_args))
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
        # The loop runs its handles inline; this is for code that calls _run().
        try:
            self._context.run(self._callback, *self._args)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler(callback_error_context(self, exc))


class TimerHandle(Handle, _aevents.TimerHandle):
    """A callback scheduled for a time by ``loop.call_at()``/``call_later()``."""
    __slots__ = ()

    def __init__(self, when, callback, args, loop, context=None):
        Handle.__init__(self, callback, args, loop, context)
        self._when = when
        # True while in the loop's timer store (so cancel() can tell the loop).
        self._scheduled = False

    def when(self) -> float:
        """The loop time the callback is scheduled for."""
        return self._when

    def cancel(self) -> None:
        """Unschedule the callback; the loop drops the timer."""
        if self._cancelled:
            return
        if self._scheduled:
            # Lets the loop know how much of its timer store is garbage.
            self._loop._timer_handle_cancelled(self)
        Handle.cancel(self)

    def _repr_info(self):
        info = Handle._repr_info(self)
        info.insert(2 if self._cancelled else 1, f"when={self._when}")
        return info

    # Comparisons and hashing come from asyncio.TimerHandle.  The loop's timer
    # store does not use them: its heap holds the deadlines as plain floats, and a
    # bucket per deadline keeps equal ones in scheduling order (see timers.py).


class _LockedRun:
    """A ThreadSafeHandle's stand-in for its context in the ready queue.

    The scheduler calls ``handle._context.run(handle._callback, *handle._args)``
    inline for every handle; for a thread-safe handle that call lands here, which
    runs the callback in the real context while holding the handle's lock, and not
    at all if the handle was cancelled (by another thread) after the scheduler
    looked.  ``_handle`` is dropped once the handle ran or was cancelled, so the
    handle and this object do not keep each other alive.
    """

    __slots__ = ("_handle", "_context")

    def __init__(self, handle, context):
        self._handle = handle
        self._context = context

    def run(self, callback, *args):
        handle = self._handle
        if handle is None:
            return None  # cancelled before the scheduler got to it
        with handle._lock:
            if handle._cancelled:
                return None
            self._handle = None
            return self._context.run(callback, *args)


_ThreadSafeHandleBase: Any = _bridge.THREAD_SAFE_HANDLE_CLASS


if _ThreadSafeHandleBase is not None:
    class ThreadSafeHandle(Handle, _ThreadSafeHandleBase):
        """What call_soon_threadsafe() returns where asyncio has a thread-safe handle
        (an instance of asyncio's ``events._ThreadSafeHandle``): cancel() and
        cancelled() from another thread wait while the callback runs, and a cancel
        that wins the race is honoured even after the loop dequeued the handle."""

        __slots__ = ()  # _lock comes from asyncio's class

        def cancel(self) -> None:
            with self._lock:
                if self._cancelled:
                    return
                self._cancelled = True
                if self._loop.get_debug():
                    self._repr = repr(self)
                self._callback = None
                self._args = ()  # not None: the scheduler may be reading it right now
                self._context._handle = None

        def cancelled(self) -> bool:
            with self._lock:
                return self._cancelled

        def get_context(self):
            return self._context._context

    def new_threadsafe_handle(callback, args, loop, context,
                              _new=ThreadSafeHandle.__new__, _cls=ThreadSafeHandle,
                              _rlock=threading.RLock):
        """new_handle() for call_soon_threadsafe()."""
        handle = _new(_cls)
        handle._callback = callback
        handle._args = args
        handle._cancelled = False
        handle._loop = loop
        handle._lock = _rlock()
        handle._context = _LockedRun(handle, context)
        return handle
else:  # (no thread-safe handle in this version's asyncio)
    ThreadSafeHandle = None  # type: ignore[assignment,misc]
    new_threadsafe_handle = None  # type: ignore[assignment]


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def new_handle(callback, args, loop, context, _new=Handle.__new__, _cls=Handle):
    """A Handle for the loop's own hot paths: no debug checks (the loop adds the
    creation traceback itself in debug mode), *context* already resolved."""
    handle = _new(_cls)
    handle._callback = callback
    handle._args = args
    handle._cancelled = False
    handle._loop = loop
    handle._context = context
    return handle


def new_timer_handle(when, callback, args, loop, context, _new=TimerHandle.__new__,
                     _cls=TimerHandle):
    """new_handle() for timers, marked scheduled: the loop puts it in its timer store."""
    timer = _new(_cls)
    timer._callback = callback
    timer._args = args
    timer._cancelled = False
    timer._loop = loop
    timer._context = context
    timer._when = when
    timer._scheduled = True
    return timer


def callback_error_context(handle, exc) -> dict:
    """The exception-handler context for a callback that raised."""
    # 3.13 shows the arguments in debug mode only, as in the handle's repr.
    show_args = handle._loop.get_debug() or not _bridge.HANDLE_REPR_ARGS_ONLY_IN_DEBUG
    callback = format_callback(handle._callback, handle._args, show_args=show_args)
    context = {
        "message": f"Exception in callback {callback}",
        "exception": exc,
        "handle": handle,
    }
    source_traceback = getattr(handle, "_source_traceback", None)
    if source_traceback:
        context["source_traceback"] = source_traceback
    return context


def extract_source_traceback(skip: int = 1):
    """The creation stack of a handle, future or task, recorded in debug mode.

    coroloop's own frames at the innermost end are dropped, so "created at" names
    the user's line rather than, say, loop.create_task.  They are found by file,
    not counted (*skip* is no longer used): in the compiled build coroloop's
    compiled functions have no frames at all.
    """
    frames = [(frame, lineno) for frame, lineno in traceback.walk_stack(sys._getframe())]
    while len(frames) > 1 and frames[0][0].f_code.co_filename.startswith(_PACKAGE_DIR):
        del frames[0]
    return traceback.StackSummary.extract(iter(frames), limit=None)[::-1]



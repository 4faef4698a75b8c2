"""``LoopTool``: what every per-loop instrument of this package shares.

One instance per loop and class (``of(loop)`` finds it, ``install`` makes it), a
``stop()`` that uninstalls, and ``_fail()``: a hook that hits an error removes its
tool and reports through the loop's exception handler, so a debugging tool never
breaks the program it watches.
"""

from __future__ import annotations

import contextlib
import gc
import weakref
from typing import Any, ClassVar

import coroloop

__all__ = ["LoopTool", "awaited_future", "current_task_or_none", "gc_paused",
           "running_loop_or_none"]


class LoopTool(coroloop.Instrument):
    """Base of the package's instruments (hooks catch their own errors)."""

    hooks_catch_errors = True
    loop: Any = None  # the loop it is installed on (set by the subclass)
    _installed = False
    _by_loop: ClassVar[weakref.WeakKeyDictionary]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._by_loop = weakref.WeakKeyDictionary()  # one tool of each class per loop

    @classmethod
    def of(cls, loop):
        """The tool of this class installed on *loop*, or None."""
        return cls._by_loop.get(loop)

    def _attach(self) -> None:
        other = self._by_loop.get(self.loop)
        if other is not None and other is not self:
            raise RuntimeError(f"{self.loop!r} already has a {type(self).__name__} "
                               f"({other!r}); use {type(self).__name__}.of(loop) to get it")
        self.loop.add_instrument(self)
        self._by_loop[self.loop] = self
        self._installed = True

    def stop(self) -> None:
        """Uninstall (a no-op if not installed)."""
        if not self._installed:
            return
        self._installed = False
        self._by_loop.pop(self.loop, None)
        if self in self.loop.instruments:
            self.loop.remove_instrument(self)

    def _fail(self, hook: str, exc: Exception) -> None:
        self.stop()
        self.loop.call_exception_handler({
            "message": f"{type(self).__name__} raised in {hook}() and was removed",
            "exception": exc})


# -- the public API, without exceptions for "none" -------------------------------------
def running_loop_or_none():
    """The running loop of this thread, or None."""
    try:
        return coroloop.get_running_loop()
    except RuntimeError:
        return None


def current_task_or_none(loop):
    """The task running on *loop*, or None (3.14 keeps it per thread: from another
    thread it is None)."""
    try:
        return coroloop.current_task(loop)
    except RuntimeError:
        return None


def awaited_future(task):
    """The future *task* is suspended on: coroloop's ``waiting_on()``, or a stdlib
    task's ``_fut_waiter`` (asyncio has no public accessor)."""
    try:
        return task.waiting_on()
    except AttributeError:
        return getattr(task, "_fut_waiter", None)


@contextlib.contextmanager
def gc_paused():
    """The cyclic GC off for a block that makes (and drops) thousands of small
    acyclic objects -- a snapshot's facts, its TaskInfo objects, a reply's rows, ps's
    lines: each collection it would trigger walks every live object of the program
    (its tasks and their frames) again.  Refcounting frees all of them anyway."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()

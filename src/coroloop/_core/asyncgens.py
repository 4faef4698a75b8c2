"""Asynchronous generators first iterated on the loop, so they can be closed.

While the loop runs, ``sys.set_asyncgen_hooks`` points at this tracker: the
*firstiter* hook records each async generator as it starts (weakly), the
*finalizer* hook schedules ``aclose()`` on the loop for one that is garbage
collected unfinished.  ``loop.shutdown_asyncgens()`` closes the ones still
suspended (``asyncio.run`` calls it before closing the loop).
"""

from __future__ import annotations

import sys
import warnings
import weakref
from typing import Any

__all__ = ["AsyncGenTracker"]


class AsyncGenTracker:
    """One loop's async generators and its asyncgen hooks."""

    def __init__(self, loop) -> None:
        self._loop = loop
        self.generators: weakref.WeakSet = weakref.WeakSet()
        #: shutdown_asyncgens() was called: a generator starting now is a bug (warned).
        self.shutdown_called = False
        self._saved_hooks: Any = None  # the hooks to restore when the loop stops

    def install(self) -> None:
        """run_forever() starts: route the interpreter's asyncgen hooks to us."""
        self._saved_hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=self._firstiter, finalizer=self._finalizer)

    def uninstall(self) -> None:
        """run_forever() ends: restore the hooks that were there before."""
        sys.set_asyncgen_hooks(*self._saved_hooks)
        self._saved_hooks = None

    def _firstiter(self, agen) -> None:
        if self.shutdown_called:
            warnings.warn(f"asynchronous generator {agen!r} was scheduled after "
                          "loop.shutdown_asyncgens() call", ResourceWarning, source=self._loop)
        self.generators.add(agen)

    def _finalizer(self, agen) -> None:
        self.generators.discard(agen)
        loop = self._loop
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.create_task, agen.aclose())

    async def shutdown(self) -> None:
        """Close every asynchronous generator that is still suspended."""
        self.shutdown_called = True
        if not len(self.generators):
            return
        loop = self._loop
        generators = list(self.generators)
        self.generators.clear()
        closing = [loop.create_task(agen.aclose()) for agen in generators]
        for agen, task in zip(generators, closing):
            try:
                await task
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                loop.call_exception_handler({
                    "message": f"an error occurred during closing of asynchronous "
                               f"generator {agen!r}",
                    "exception": exc,
                    "asyncgen": agen,
                })

"""The loop's executors: ``run_in_executor`` and the default thread pool.

The default executor is a ``ThreadPoolExecutor`` created on first use.
``shutdown_default_executor()`` must wait for its threads without blocking the
loop, so a helper thread does the joining and reports back through
``call_soon_threadsafe``; its timeout is real time (threads do not run on a
virtual clock).  ``loop.close()`` shuts the pool down without waiting.
"""

from __future__ import annotations

import concurrent.futures
import threading
import warnings

from .futures import set_result_if_pending
from .threads import wrap_future

__all__ = ["Executors"]


class Executors:
    """One loop's default executor and its shutdown."""

    def __init__(self, loop) -> None:
        self._loop = loop
        #: The ThreadPoolExecutor used for ``executor=None``; created on first use.
        self.default: concurrent.futures.ThreadPoolExecutor | None = None
        #: shutdown_default_executor() or close() was called: no new default pool.
        self.shutdown_called = False

    def submit(self, executor, func, args):
        """A loop future for ``executor.submit(func, *args)`` (None: the default)."""
        if executor is None:
            if self.shutdown_called:
                raise RuntimeError("Executor shutdown has been called")
            executor = self.default
            if executor is None:
                # Named as asyncio names its threads ("asyncio_0", ...): tools and logs match.
                executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="asyncio")
                self.default = executor
        return wrap_future(executor.submit(func, *args), loop=self._loop)

    def set_default(self, executor) -> None:
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            raise TypeError(f"executor must be ThreadPoolExecutor instance, got {executor!r}")
        self.default = executor

    async def shutdown_default(self, timeout=None) -> None:
        """Wait for the default executor's threads to finish (at most *timeout* s)."""
        self.shutdown_called = True
        executor = self.default
        if executor is None:
            return
        loop = self._loop
        finished = loop.create_future()

        def join_executor():
            # The timeout is about OS threads, so it is measured in real time here,
            # not with a loop timer (which a virtual clock would fire at once).
            joiner = threading.Thread(target=executor.shutdown, kwargs={"wait": True},
                                      name="coroloop-executor-join", daemon=True)
            joiner.start()
            joiner.join(timeout)
            if not loop.is_closed():
                loop.call_soon_threadsafe(set_result_if_pending, finished,
                                          not joiner.is_alive())

        thread = threading.Thread(target=join_executor, name="coroloop-executor-shutdown")
        thread.start()
        joined = await finished
        thread.join()
        if not joined:
            warnings.warn("The executor did not finish joining its threads within "
                          f"{timeout} seconds.", RuntimeWarning, stacklevel=3)

    def close(self) -> None:
        """The loop is closing: no new default pool; shut the current one down
        without waiting for its threads."""
        self.shutdown_called = True
        executor = self.default
        if executor is not None:
            self.default = None
            executor.shutdown(wait=False)

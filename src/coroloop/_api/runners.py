"""run() and Runner: set up a loop, run a main coroutine, tear everything down."""

from __future__ import annotations

import contextvars
import enum
import functools
import inspect
import signal
import threading
from asyncio import exceptions as _exc
from typing import TYPE_CHECKING, Any, TypeVar

from .. import _bridge
from .._core.coroutines import iscoroutine
from .._event_loop import new_event_loop

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop
    from collections.abc import Callable, Coroutine
    from typing import Self

_T = TypeVar("_T")

__all__ = ["Runner", "run"]

_THREAD_JOIN_TIMEOUT = 300  # seconds the default executor gets to finish at close


class _RunnerState(enum.Enum):
    #: No loop yet.
    CREATED = "created"
    #: Has a loop; run() may be called.
    INITIALIZED = "initialized"
    #: The loop is closed; the runner cannot be reused.
    CLOSED = "closed"


class Runner:
    """A context manager that runs coroutines on one loop it creates and closes.

    ``loop_factory`` defaults to coroloop's ``new_event_loop``.
    """

    def __init__(self, *, debug: bool | None = None,
                 loop_factory: Callable[[], AbstractEventLoop] | None = None) -> None:
        self._state = _RunnerState.CREATED
        self._debug = debug
        self._loop_factory = loop_factory
        self._loop: Any = None
        self._context: contextvars.Context | None = None
        self._interrupt_count = 0
        self._owns_event_loop_slot = False  # we called set_event_loop(loop)

    def __enter__(self) -> Self:
        self._lazy_init()
        return self

    def __exit__(self, exc_type: object, exc_val: object, exc_tb: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} {self._state.value}>"

    def get_loop(self) -> AbstractEventLoop:
        """The runner's loop, created on first use (RuntimeError once closed)."""
        self._lazy_init()
        return self._loop

    def run(self, coro: Coroutine[Any, Any, _T], *,
            context: contextvars.Context | None = None) -> _T:
        """Run *coro* to completion on the runner's loop and return its result
        (3.14+: any awaitable)."""
        if not _bridge.RUNNER_RUNS_AWAITABLES and not iscoroutine(coro):
            raise ValueError(f"a coroutine was expected, got {coro!r}")
        if _bridge.get_running_loop_or_none() is not None:
            raise RuntimeError("Runner.run() cannot be called from a running event loop")
        self._lazy_init()
        if not iscoroutine(coro):
            if not inspect.isawaitable(coro):
                raise TypeError(f"An asyncio.Future, a coroutine or an awaitable is "
                                f"required, got {coro!r}")
            coro = _await(coro)
        task = self._loop.create_task(coro, context=self._context if context is None else context)
        on_sigint = self._install_sigint_handler(task)
        self._interrupt_count = 0
        try:
            return self._loop.run_until_complete(task)
        except _exc.CancelledError:
            if self._interrupt_count > 0:
                uncancel = getattr(task, "uncancel", None)
                if uncancel is not None and uncancel() == 0:
                    raise KeyboardInterrupt()
            raise
        finally:
            if on_sigint is not None and signal.getsignal(signal.SIGINT) is on_sigint:
                signal.signal(signal.SIGINT, signal.default_int_handler)

    def close(self) -> None:
        """Cancel leftover tasks, close async generators and the executor, close the loop."""
        if self._state is not _RunnerState.INITIALIZED:
            return
        loop = self._loop
        try:
            _cancel_all_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            try:
                shutdown = loop.shutdown_default_executor(_THREAD_JOIN_TIMEOUT)
            except TypeError:  # a foreign loop whose method takes no timeout (3.11)
                shutdown = loop.shutdown_default_executor()
            loop.run_until_complete(shutdown)
        finally:
            if self._owns_event_loop_slot:
                _bridge.set_event_loop(None)
            loop.close()
            self._loop = None
            self._state = _RunnerState.CLOSED

    def _lazy_init(self):
        if self._state is _RunnerState.CLOSED:
            raise RuntimeError("Runner is closed")
        if self._state is _RunnerState.INITIALIZED:
            return
        if self._loop_factory is None:
            self._loop = _bridge.new_loop_from_policy(default=new_event_loop)
            _bridge.set_event_loop(self._loop)
            self._owns_event_loop_slot = True
        else:
            self._loop = self._loop_factory()
        if self._debug is not None:
            self._loop.set_debug(self._debug)
        self._context = contextvars.copy_context()
        self._state = _RunnerState.INITIALIZED

    def _install_sigint_handler(self, main_task):
        """Ctrl-C cancels the main task once; a second Ctrl-C raises KeyboardInterrupt."""
        if threading.current_thread() is not threading.main_thread():
            return None
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return None  # the program installed its own handler: leave it alone
        handler = functools.partial(self._on_sigint, main_task=main_task)
        try:
            signal.signal(signal.SIGINT, handler)
        except ValueError:
            return None
        return handler

    def _on_sigint(self, signum, frame, main_task):
        """First Ctrl-C: cancel the main task, so it unwinds cleanly.  A second one
        (or one when there is nothing left to cancel) stops the program outright."""
        self._interrupt_count += 1
        if self._interrupt_count > 1 or main_task.done():
            raise KeyboardInterrupt()
        main_task.cancel()
        # The loop may be asleep in the poller; a no-op callback from the signal
        # handler's thread-safe path wakes it so the cancellation is seen now.
        self._loop.call_soon_threadsafe(_do_nothing)


def _do_nothing():
    pass


async def _await(awaitable):
    return await awaitable


def run(main: Coroutine[Any, Any, _T], *, debug: bool | None = None,
        loop_factory: Callable[[], AbstractEventLoop] | None = None) -> _T:
    """Run coroutine *main* on a new coroloop loop, then close it; return the result."""
    if _bridge.get_running_loop_or_none() is not None:
        raise RuntimeError("asyncio.run() cannot be called from a running event loop")
    with Runner(debug=debug, loop_factory=loop_factory) as runner:
        return runner.run(main)


def _cancel_all_tasks(loop):
    pending = _bridge.all_tasks(loop)
    if not pending:
        return
    for task in pending:
        task.cancel()
    loop.run_until_complete(_wait_settled(pending))
    for task in pending:
        if task.cancelled():
            continue
        exc = task.exception()
        if exc is not None:
            loop.call_exception_handler({
                "message": "unhandled exception during asyncio.run() shutdown",
                "exception": exc,
                "task": task,
            })


async def _wait_settled(tasks):
    for task in tasks:
        try:
            await task
        except BaseException:
            pass  # its outcome is inspected by the caller

"""CoreEventLoop: coroloop's scheduler, and the components it holds.

The scheduler is one function, :func:`run_until_stopped` (run_forever calls it), whose
every iteration is:

1. work out how long we may sleep: 0 if callbacks are ready, else until the next
   timer (asked of the clock, so a virtual clock can jump instead of sleeping);
2. ask the poller which descriptors are ready and queue their handlers
   (``Readiness.poll``) -- skipped when nothing is registered and we would not
   sleep anyway, which saves a system call per iteration for CPU-bound task churn;
3. move due timers to the ready queue (``TimerQueue``; a due ``SleepFuture``
   completes at once and queues its task);
4. run the callbacks that were ready when the iteration started (ones they add
   wait for the next iteration, so I/O is never starved).

The ready queue (``_ready``, asyncio's name) holds ``Handle`` objects and tasks,
which carry the same four fields (``_callback``, ``_args``, ``_context``,
``_cancelled``); futures and tasks append to it directly on coroloop's loop.

Everything that is not scheduling is a component the loop holds and names:

    _timers          TimerQueue      timers.py     deadlines -> timers, FIFO per deadline
    _readiness       Readiness       readiness.py  fd -> reader/writer handles, poller, waker
    _executors       Executors       executors.py  run_in_executor, the default thread pool
    _errors          ErrorReporter   errors.py     exception handler, asyncio's log format
    _async_generators AsyncGenTracker asyncgens.py asyncgen hooks, shutdown_asyncgens
    _instruments     Instruments     instrument.py hooks for tools (None when none is installed)

The public methods for those duties are one-line delegations here, so this class
reads as the loop's API.

Deadlines -- one rule for every timer (call_at, call_later, sleep, timeouts):

* A NaN deadline is due at once, as asyncio 3.11/3.12 run it (3.13's asyncio
  crashes its loop instead, see docs/migrating.md).  It enters the timer store as
  "now": a NaN compares false with everything, so in the heap it would never be
  popped (wedging the loop at 100% CPU) and would hide the timers sifted below
  it.  The timer keeps the NaN as its ``when()``.
* +inf, or any deadline further away than ``MAX_POLL_TIMEOUT``, is kept as it is
  (it never fires, or fires when due), but one poll waits at most
  ``MAX_POLL_TIMEOUT`` (a day, as asyncio): ``epoll.poll`` and ``select`` raise
  ``OverflowError`` past the platform's time_t.  Networking, pipes, subprocesses and signals are not
here: ``coroloop.EventLoop`` (``_event_loop.py``) adds them on top.
"""

from __future__ import annotations

import asyncio.events as _aevents
import contextvars
import heapq
import os
import sys
import threading
import time as _time
import types
import warnings
from collections import deque
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from .. import _bridge
from .asyncgens import AsyncGenTracker
from .clock import Clock, MonotonicClock
from .coroutines import is_coroutine_function, iscoroutine
from .errors import ErrorReporter, logger
from .executors import Executors
from .futures import CANCELLED, PENDING, isfuture, new_future
from .handles import (Handle, TimerHandle, callback_error_context, extract_source_traceback,
                      new_handle, new_threadsafe_handle, new_timer_handle)
from .instrument import (STEP_LOG_BATCH, Instruments, StepRecord, announce_loop, debug_mode_ended,
                         debug_mode_started, error_repr, log_exit, record_step)
from .loopstate import NATIVE_LOOPS, LoopState
from .poller import Poller, default_poller
from .readiness import Readiness
from .sleep import SleepFuture
from .tasks import Task, ensure_future, new_task
from .timers import TimerQueue

if TYPE_CHECKING:
    # Annotations only (none is evaluated at run time): the signatures are typeshed's
    # for asyncio.AbstractEventLoop, with coroloop's Handle, Future and Task.
    import concurrent.futures
    from collections.abc import Awaitable, Callable, Coroutine, Generator
    from typing import TypeVarTuple, Unpack


    from .futures import Future
    from .typed import FileDescriptorLike

    _Ts = TypeVarTuple("_Ts")
    _ExceptionHandler = Callable[[_aevents.AbstractEventLoop, dict[str, Any]], object]

_T = TypeVar("_T")

__all__ = ["CoreEventLoop"]

_heappush = heapq.heappush
_heappop = heapq.heappop
_copy_context = contextvars.copy_context
# The states as module globals: reading an enum member through its class costs
# ~10x a global lookup on 3.11 (enum's descriptor), and these are compared on
# every call_soon.
_IDLE = LoopState.IDLE
_RUNNING = LoopState.RUNNING
_CLOSED = LoopState.CLOSED

# Depth of coroutine origin tracking in debug mode.
_DEBUG_STACK_DEPTH = 10
# The longest single poll (seconds): asyncio's MAXIMUM_SELECT_TIMEOUT.  A timer
# further away is simply polled for again.  See "Deadlines" above.
MAX_POLL_TIMEOUT = 24 * 3600


# The loop methods coroloop's fast paths do the work of, on a loop of NATIVE_LOOPS:
# a future's callbacks are queued without call_soon(), sleep() makes its timer
# without create_future()/call_later()/call_at()/time(), create_task(), TaskGroup and
# gather make tasks without loop.create_task(), locks and queues their waiters
# without create_future().
FAST_PATHS_STAND_IN_FOR = ("call_soon", "call_later", "call_at", "time",
                           "create_future", "create_task")


def _call_later_through_call_at(self, delay, callback, *args, context=None):
    """call_later() on a loop subclass that overrides call_at() or time()."""
    if delay is None:
        raise TypeError("delay must not be None")
    # In debug mode the timer's creation stack leaves this frame out by itself:
    # extract_source_traceback() drops coroloop's own frames.
    return self.call_at(self.time() + delay, callback, *args, context=context)


class CoreEventLoop(_aevents.AbstractEventLoop):
    """The scheduler of coroloop's event loop: callbacks, timers, readiness,
    futures and tasks, executors.  ``coroloop.EventLoop`` adds networking on top."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Subclasses take the same fast paths, unless they override a method one of
        # them stands in for: then every call goes through that method, as asyncio's
        # code would call it.
        if all(getattr(cls, name) is getattr(CoreEventLoop, name)
               for name in FAST_PATHS_STAND_IN_FOR):
            NATIVE_LOOPS.add(cls)
        elif (cls.call_later is CoreEventLoop.call_later
              and (cls.call_at is not CoreEventLoop.call_at
                   or cls.time is not CoreEventLoop.time)):
            # asyncio's call_later() is call_at(time() + delay): an override of
            # either sees call_later()'s timers too.  Set per class, so coroloop's
            # own call_later() keeps call_at()'s body inline.
            cls.call_later = _call_later_through_call_at

    def __init__(self, *, clock: Clock | None = None, poller: Poller | None = None,
                 scheduler: Any = None) -> None:
        # A scheduling policy (coroloop.testing): None runs asyncio's order on the
        # fast iteration; see _core/scheduled.py for what a policy may reorder.
        try:
            self._scheduler = _checked_scheduler(scheduler)
        except TypeError:
            self._state = LoopState.CLOSED  # nothing to release (and __del__ knows)
            raise
        self._clock = clock if clock is not None else MonotonicClock()
        self._now = self._clock.time  # bound once: read on every iteration
        self._state = _IDLE
        # Set by stop(): the current iteration is the last one of run_forever().
        self._stopping = False
        self._ready: deque[Handle] = deque()
        self._timers = TimerQueue()
        self._readiness = Readiness(self, poller if poller is not None else default_poller())
        self._waker = self._readiness.waker  # call_soon_threadsafe wakes the poller
        self._executors = Executors(self)
        self._errors = ErrorReporter(self)
        self._async_generators = AsyncGenTracker(self)
        # An Instruments or None; Any, as its hook attributes are made by _prepare().
        self._instruments: Any = None
        self._thread_id: int | None = None  # the thread running us, while running
        self._debug = sys.flags.dev_mode or (
            not sys.flags.ignore_environment and bool(os.environ.get("PYTHONASYNCIODEBUG")))
        self.slow_callback_duration = 0.1
        # The ready-queue item running now (None between iterations) and the number
        # of iterations run: read from other threads by running_callback() (the
        # blocking detector).  The fast path keeps them only while _tracking_running
        # (a count of track_running_callback(True) calls) is non-zero.
        self._current_handle: Handle | None = None
        self._iterations = 0
        self._tracking_running = 0
        # Loop time the running task step began, while an instrument records steps.
        self._step_began: float | None = None
        # Concurrent futures (executor jobs, wrap_future) whose completion will reach
        # this loop through call_soon_threadsafe: wakers that wake_sources() counts.
        # Added on the loop's thread, discarded by the completing thread after its
        # call_soon_threadsafe (set.add/discard are atomic).
        self._thread_wakers: set = set()
        # The future run_until_complete() runs until (see main_future()).
        self._main_future: Future[Any] | None = None
        self._task_factory: Callable[..., Any] | None = None
        announce_loop(self)  # to the tools watching for new loops, if any

    def __repr__(self) -> str:
        return (f"<{self.__class__.__name__} running={self.is_running()} "
                f"closed={self.is_closed()} debug={self.get_debug()}>")

    # -- lifecycle -------------------------------------------------------------------
    def is_running(self) -> bool:
        """True while run_forever() or run_until_complete() is running."""
        return self._state is _RUNNING

    def is_closed(self) -> bool:
        """True once close() has been called."""
        return self._state is _CLOSED

    @property
    def _closed(self) -> bool:
        """asyncio's private flag, read by libraries (docs/migrating.md): is_closed()."""
        return self._state is LoopState.CLOSED

    def _check_closed(self) -> None:
        if self._state is _CLOSED:
            raise RuntimeError("Event loop is closed")

    def _check_can_run(self) -> None:
        self._check_closed()
        if self._state is _RUNNING:
            raise RuntimeError("This event loop is already running")
        if _bridge.get_running_loop_or_none() is not None:
            raise RuntimeError("Cannot run the event loop while another loop is running")

    def run_forever(self) -> None:
        """Run the loop until stop() is called."""
        self._check_can_run()
        self._set_coroutine_origin_tracking(self._debug)
        self._async_generators.install()
        self._thread_id = threading.get_ident()
        self._state = _RUNNING
        _bridge.set_running_loop(self)
        # The debug-mode tools (coroloop.debug); what stops them as this run ends.
        stop_tools = debug_mode_started(self) if self._debug else None
        try:
            if self._scheduler is None:
                self._run_until_stopped()
            else:
                from .scheduled import run_scheduled
                run_scheduled(self, self._scheduler)
        finally:
            if stop_tools is not None:
                debug_mode_ended(self, stop_tools)
            self._stopping = False
            self._state = _IDLE
            self._thread_id = None
            _bridge.set_running_loop(None)
            self._set_coroutine_origin_tracking(False)
            self._async_generators.uninstall()

    def run_until_complete(self, future: Generator[Any, None, _T] | Awaitable[_T]) -> _T:
        """Run the loop until *future* (a future, task or coroutine, which is
        wrapped in a task) is done; return its result or raise its exception."""
        self._check_can_run()
        new_task = not isfuture(future)
        future = ensure_future(future, loop=self)  # type: ignore[arg-type]  # (or a generator-based coroutine)
        if new_task:
            # We own this task: an exception escaping run_until_complete is reported
            # to the caller, not again by the task's destructor.
            future._log_destroy_pending = False
        # asyncio's own callback (stop the loop unless SystemExit/KeyboardInterrupt
        # already unwinds it): anyio finds the root task by it (docs/migrating.md).
        future.add_done_callback(_bridge.RUN_UNTIL_COMPLETE_CALLBACK)
        self._main_future = future
        try:
            self.run_forever()
        except BaseException:
            if new_task and future.done() and not future.cancelled():
                future.exception()  # mark it retrieved
            raise
        finally:
            self._main_future = None
            future.remove_done_callback(_bridge.RUN_UNTIL_COMPLETE_CALLBACK)
        if not future.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return future.result()

    def stop(self) -> None:
        """Make run_forever() return after the current iteration."""
        self._stopping = True

    def close(self) -> None:
        """Close the loop (it must not be running): pending callbacks are dropped and the
        poller and the default executor released.  Closing twice is allowed."""
        if self._state is _RUNNING:
            raise RuntimeError("Cannot close a running event loop")
        if self._state is _CLOSED:
            return
        if self._debug:
            logger.debug("Close %r", self)
        self._state = _CLOSED
        self._ready.clear()
        self._timers.clear()
        self._executors.close()
        self._readiness.close()

    def __del__(self, _warn=warnings.warn):
        if self._state is not _CLOSED:
            _warn(f"unclosed event loop {self!r}", ResourceWarning, source=self)
            if self._state is not _RUNNING:
                self.close()

    # -- the scheduler ---------------------------------------------------------------
    def _run_until_stopped(self) -> None:
        """Iterate until stop() is called: poll, fire timers, run what is ready
        (:func:`run_until_stopped`)."""
        run_until_stopped(self)

    def _run_ready_watched(self, count: int) -> None:
        """The ready queue with timing and hooks: debug mode and instruments.

        Only what someone asked for is paid for: callbacks are timed in debug mode
        or for a ``callback_ran`` hook, and the task a ready item steps is looked
        up only for the step hooks.  Which hooks to call is read once and again
        only when the instruments change (any callback may add or remove one).
        """
        hooks = self._instruments
        if hooks is not None and hooks.ready_run_started is not None:
            hooks.ready_run_started(count)
        self._iterations += 1
        popleft = self._ready.popleft
        clock = _time.perf_counter
        now = self._now
        debug = self._debug
        version = -1
        for _ in range(count):
            handle = popleft()
            if handle._cancelled:
                continue
            hooks = self._instruments
            if hooks is None:
                if version:
                    version = 0
                    watch = ran = started_hook = stepped = ended_hook = exited = None
                    timed = debug
                    records = False
            elif hooks.version != version:
                version = hooks.version
                records = hooks.records_steps
                watch = hooks.watch_steps or records
                ran = hooks.callback_ran
                timed = debug or ran is not None
                started_hook = hooks.task_step_started
                stepped = hooks.task_stepped
                ended_hook = hooks.task_step_ended
                exited = hooks.task_exited
            task = None
            if watch:
                if type(handle) is Task:
                    task = handle
                elif type(handle._callback) is _MethodType:  # perhaps a task's wakeup
                    task = _task_stepped_by(handle)
                if task is not None:
                    if started_hook is not None:
                        started_hook(task)
                    step_began = self._step_began = now()
            if timed:
                started = clock()
            self._current_handle = handle
            try:
                args = handle._args
                if args is None:  # a task (as in _run_until_stopped)
                    handle._context.run(handle._callback, handle)
                elif len(args) == 1:
                    handle._context.run(handle._callback, args[0])
                else:
                    handle._context.run(handle._callback, *args)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._report_callback_error(handle, exc)
            finally:
                self._current_handle = self._step_began = None
            if timed:
                took = clock() - started
            if task is not None and self._instruments is hooks and hooks.version == version:
                if records or stepped is not None:
                    step_ended = now()
                    if records:
                        record_step(task, step_began, step_ended)
                    if stepped is not None:
                        stepped(task, step_began, step_ended)
                if ended_hook is not None:
                    ended_hook(task)
                if records and hooks.exit_log is not None and task.done():
                    log_exit(hooks.exit_log, hooks.exit_seq, task, task._step_record)
                if exited is not None and task.done():
                    exited(task)
            if timed:
                if debug and took >= self.slow_callback_duration:
                    logger.warning("Executing %s took %.3f seconds",
                                   _describe_handle(handle), took)
                if ran is not None and self._instruments is hooks \
                        and hooks.version == version:
                    ran(handle, took)

    def step_began(self) -> float | None:
        """Loop time the task step running now began, while an instrument records
        steps (see ``coroloop.Instrument``); None if none did.  Read it inside the
        step: between steps it may still be the last step's."""
        return self._step_began

    def iterations(self) -> int:
        """How many loop iterations have run (counted while the blocking detector
        or an instrument with ready-queue hooks watches, and in debug mode)."""
        return self._iterations

    def _report_callback_error(self, handle, exc) -> None:
        self.call_exception_handler(callback_error_context(handle, exc))

    def _timer_handle_cancelled(self, handle) -> None:
        """A scheduled timer was cancelled: it stays in the store, counted as dead."""
        self._timers.cancelled += 1

    # -- scheduling ------------------------------------------------------------------
    def time(self) -> float:
        """The loop's current time in seconds, from its clock (monotonic by default):
        the time base of call_at() and timeouts."""
        return self._now()

    @property
    def clock(self) -> Clock:
        """The clock this loop reads time from (see ``coroloop.testing.VirtualClock``)."""
        return self._clock

    def call_soon(self, callback: Callable[[Unpack[_Ts]], object], *args: Unpack[_Ts],
                  context: contextvars.Context | None = None) -> Handle:
        """Schedule ``callback(*args)`` for the next iteration, after the callbacks
        already scheduled; return its Handle."""
        if self._state is _CLOSED:
            raise RuntimeError("Event loop is closed")
        debug = self._debug  # read once: each read is a lookup in the compiled build
        if not callable(callback) or debug:
            self._check_callback(callback, "call_soon")
        handle = new_handle(callback, args, self,
                            _copy_context() if context is None else context)
        if debug:
            handle._source_traceback = extract_source_traceback(1)
        self._ready.append(handle)
        return handle

    def call_later(self, delay: float, callback: Callable[[Unpack[_Ts]], object],
                   *args: Unpack[_Ts], context: contextvars.Context | None = None,
                   ) -> TimerHandle:
        """Schedule ``callback(*args)`` *delay* seconds from now; return its TimerHandle."""
        if delay is None:
            raise TypeError("delay must not be None")
        when = self._now() + delay
        # call_at's body, not a call to it: forwarding *args and context= would
        # cost more than the timer itself.
        # >>> copy timer-at
        if self._state is _CLOSED:
            raise RuntimeError("Event loop is closed")
        debug = self._debug
        if not callable(callback) or debug:
            self._check_callback(callback, "call_at")  # as asyncio names it
        timer = new_timer_handle(when, callback, args, self,
                                 _copy_context() if context is None else context)
        if debug:
            timer._source_traceback = extract_source_traceback(1)
        # >>> copy nan-deadline
        if when != when:
            when = self._now()  # NaN: due at once (see "Deadlines")
        # <<< copy nan-deadline
        timerq = self._timers
        # >>> copy timer-push (self -> timerq)
        timerq.count += 1
        first = timerq.buckets.setdefault(when, timer)
        if first is timer:
            _heappush(timerq.heap, when)
        else:
            timerq.share(when, first, timer)
        # <<< copy timer-push
        return timer
        # <<< copy timer-at

    def call_at(self, when: float, callback: Callable[[Unpack[_Ts]], object],
                *args: Unpack[_Ts], context: contextvars.Context | None = None,
                ) -> TimerHandle:
        """Schedule ``callback(*args)`` at loop time *when* (see time()); return its
        TimerHandle, whose cancel() unschedules it."""
        if when is None:
            raise TypeError("when cannot be None")
        # >>> rule timer-at
        if self._state is _CLOSED:
            raise RuntimeError("Event loop is closed")
        debug = self._debug
        if not callable(callback) or debug:
            self._check_callback(callback, "call_at")  # as asyncio names it
        timer = new_timer_handle(when, callback, args, self,
                                 _copy_context() if context is None else context)
        if debug:
            timer._source_traceback = extract_source_traceback(1)
        # >>> copy nan-deadline
        if when != when:
            when = self._now()  # NaN: due at once (see "Deadlines")
        # <<< copy nan-deadline
        timerq = self._timers
        # >>> copy timer-push (self -> timerq)
        timerq.count += 1
        first = timerq.buckets.setdefault(when, timer)
        if first is timer:
            _heappush(timerq.heap, when)
        else:
            timerq.share(when, first, timer)
        # <<< copy timer-push
        return timer
        # <<< rule timer-at

    def _sleep_future(self, delay, result):
        """The future sleep() awaits: completed with *result* after *delay* seconds."""
        when = self._now() + delay
        timer = SleepFuture(self, when, result)
        # >>> rule nan-deadline: a NaN deadline enters the store as "now"
        if when != when:
            when = self._now()  # NaN: due at once (see "Deadlines")
        # <<< rule nan-deadline
        timerq = self._timers
        # >>> copy timer-push (self -> timerq)
        timerq.count += 1
        first = timerq.buckets.setdefault(when, timer)
        if first is timer:
            _heappush(timerq.heap, when)
        else:
            timerq.share(when, first, timer)
        # <<< copy timer-push
        return timer

    def call_soon_threadsafe(self, callback: Callable[[Unpack[_Ts]], object],
                             *args: Unpack[_Ts],
                             context: contextvars.Context | None = None) -> Handle:
        """call_soon() from any thread: the loop wakes at once if it is waiting
        in the poller."""
        self._check_closed()
        if not callable(callback) or self._debug:
            self._check_callback(callback, "call_soon_threadsafe", check_thread=False)
        context = _copy_context() if context is None else context
        if new_threadsafe_handle is not None:  # None before 3.13.1
            handle = new_threadsafe_handle(callback, args, self, context)
        else:
            handle = new_handle(callback, args, self, context)
        if self._debug:
            handle._source_traceback = extract_source_traceback(1)
        self._ready.append(handle)  # deque.append is atomic
        self._waker.wake()
        return handle

    def _check_callback(self, callback, method: str, check_thread: bool = True) -> None:
        if iscoroutine(callback) or is_coroutine_function(callback):
            raise TypeError(f"coroutines cannot be used with {method}()")
        if not callable(callback):
            raise TypeError(f"a callable object was expected by {method}(), got {callback!r}")
        if check_thread and self._debug:
            self._check_thread()

    def _check_thread(self) -> None:
        if self._thread_id is not None and self._thread_id != threading.get_ident():
            raise RuntimeError(
                "Non-thread-safe operation invoked on an event loop other than the current one")

    # -- futures and tasks -----------------------------------------------------------
    def create_future(self) -> Future[Any]:
        """A new Future on this loop."""
        return new_future(self)

    # create_task(): two front ends over one _create_task(), so that the common call
    # (no factory, no keyword but name/context) builds the task at once, and 3.11-3.13
    # do not pay for the **kwargs dict that only 3.14's signature has.
    def create_task(self, coro: Coroutine[Any, Any, _T] | Generator[Any, None, _T], *,
                    name: object = None, context: contextvars.Context | None = None,
                    eager_start: bool | None = None) -> Task[_T]:
        """Schedule the coroutine as a Task on this loop (through the task factory,
        if one is set) and return it; ``name``, ``context`` and ``eager_start`` as in
        asyncio (``eager_start`` on every version)."""
        if self._task_factory is None and eager_start is None and self._state is not _CLOSED:
            return new_task(self, coro, name, context)
        return self._create_task(coro, name, context, eager_start, {})

    if _bridge.CREATE_TASK_PASSES_ANY_KEYWORD:
        # (3.14's signature, with **kwargs: the type checker knows the one above.)
        def create_task(self, coro, *, name=None, context=None, eager_start=None,  # type: ignore[misc]  # noqa: F811
                        **kwargs):
            """Schedule the coroutine as a Task on this loop (see create_task above);
            3.14+: other keywords go to the task factory."""
            if (self._task_factory is None and eager_start is None and not kwargs
                    and self._state is not _CLOSED):
                return new_task(self, coro, name, context)
            return self._create_task(coro, name, context, eager_start, kwargs)

    def _create_task(self, coro, name, context, eager_start, kwargs):
        if self._state is _CLOSED:
            if iscoroutine(coro):
                coro.close()  # it will never run; don't warn it was never awaited
            raise RuntimeError("Event loop is closed")
        if eager_start is not None:
            kwargs["eager_start"] = eager_start
        factory = self._task_factory
        if factory is None:
            return Task(coro, loop=self, name=name, context=context, **kwargs)
        if context is not None:
            kwargs["context"] = context
        if _bridge.CREATE_TASK_PASSES_ANY_KEYWORD:
            # 3.14+: the factory gets the name too, and names the task itself.
            if name is not None:
                kwargs["name"] = name
            return factory(self, coro, **kwargs)
        task = factory(self, coro, **kwargs)
        if name is not None:
            task.set_name(name)
        return task

    def set_task_factory(self, factory: Callable[..., Any] | None) -> None:
        """Make create_task() call ``factory(loop, coro, **kwargs)``; None: build
        coroloop's Task."""
        if factory is not None and not callable(factory):
            raise TypeError(f"task factory must be a callable or None, got {factory!r}")
        self._task_factory = factory

    def get_task_factory(self) -> Callable[..., Any] | None:
        """The task factory set by set_task_factory(), or None."""
        return self._task_factory

    # -- errors (errors.py) ----------------------------------------------------------
    def get_exception_handler(self) -> _ExceptionHandler | None:
        """The handler set by set_exception_handler(), or None."""
        return self._errors.handler

    def set_exception_handler(self, handler: _ExceptionHandler | None) -> None:
        """Call ``handler(loop, context)`` for errors nobody else handles
        (None: the default handler)."""
        self._errors.set_handler(handler)

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        """Log the error described by *context* (a call_exception_handler()
        dict), with its traceback: what happens when no handler is set."""
        self._errors.log(context)

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        """Report *context* to the exception handler, in the context of the task or
        callback it is about, so the handler sees its context variables (gh-96704)."""
        self._errors.report(context)

    # -- debug -----------------------------------------------------------------------
    def get_debug(self) -> bool:
        """True in debug mode (slow callbacks are logged, futures remember where they
        were created)."""
        return self._debug

    def set_debug(self, enabled: bool) -> None:
        """Turn debug mode on or off."""
        self._debug = enabled
        if self.is_running():
            self.call_soon_threadsafe(self._set_coroutine_origin_tracking, enabled)

    # The program's own origin-tracking depth while a debug-mode run raises it.
    _saved_origin_depth: int | None = None

    def _set_coroutine_origin_tracking(self, enabled: bool) -> None:
        # As asyncio: a debug-mode run raises the depth and its end puts the
        # program's own setting back; a run without debug mode leaves it alone.
        if bool(enabled) == (self._saved_origin_depth is not None):
            return
        if enabled:
            self._saved_origin_depth = sys.get_coroutine_origin_tracking_depth()
            sys.set_coroutine_origin_tracking_depth(_DEBUG_STACK_DEPTH)
        else:
            depth, self._saved_origin_depth = self._saved_origin_depth, None
            sys.set_coroutine_origin_tracking_depth(depth or 0)

    def scheduler_facts(self) -> dict:
        """The scheduler's state, for the debugging tools: ``ready`` (ready-queue
        length), ``timers`` (live timers), ``next_deadline`` (loop time of the first
        live timer, or None) and ``fds`` (descriptors watched for the program; the
        loop's own waker is not counted).  Read it on the loop's thread."""
        timers = self._timers
        deadline = None
        for when in sorted(timers.heap):
            entry = timers.buckets[when]
            if not all(timer._cancelled for timer in (entry if type(entry) is list
                                                         else (entry,))):
                deadline = when
                break
        readiness = self._readiness
        fds = set(readiness.readers) | set(readiness.writers)
        fds.discard(self._waker.fileno())
        return {"ready": len(self._ready), "timers": len(timers),
                "next_deadline": deadline, "fds": sorted(fds)}

    # -- instruments (instrument.py) -------------------------------------------------
    def add_instrument(self, instrument: object) -> None:
        """Start calling *instrument*'s hooks (see ``coroloop.Instrument``)."""
        if self._instruments is None:
            instruments = Instruments(self)
            instruments.add(instrument)
            self._instruments = instruments
        else:
            self._instruments.add(instrument)

    def remove_instrument(self, instrument: object) -> None:
        """Uninstall *instrument* (see add_instrument())."""
        if self._instruments is None or instrument not in self._instruments.members:
            raise ValueError(f"{instrument!r} is not installed on {self!r}")
        self._instruments.remove(instrument)
        if not self._instruments.members:
            self._instruments = None

    @property
    def instruments(self) -> tuple[Any, ...]:
        """The installed instruments (see add_instrument()), as a tuple."""
        return tuple(self._instruments.members) if self._instruments is not None else ()

    # -- introspection (for coroloop.debug's detectors) ------------------------------
    @property
    def thread_id(self) -> int | None:
        """``threading.get_ident()`` of the thread running the loop, or None."""
        return self._thread_id

    def track_running_callback(self, enabled: bool) -> None:
        """Keep ``running_callback()`` up to date (calls nest: each True needs its
        False).  Debug mode and instruments with ready-queue hooks keep it anyway;
        otherwise it costs the ready queue one store per callback."""
        self._tracking_running = max(0, self._tracking_running + (1 if enabled else -1))

    def running_callback(self):
        """``(iteration, item)``: the ready-queue item (a Handle, or a task stepping)
        running now and the number of the iteration running it; None between items,
        and while nothing asked for it (``track_running_callback``).

        Safe to call from any thread (two attribute reads, checked against each
        other).  ``(iteration, item)`` names one run of one callback: an item runs
        at most once per iteration.
        """
        iteration = self._iterations
        item = self._current_handle
        if item is None or iteration != self._iterations:
            return None
        return iteration, item

    def main_future(self):
        """The future ``run_until_complete()`` is running until (``coroloop.run()``'s
        main task), or None."""
        return self._main_future

    def wake_sources(self) -> "WakeSources":
        """What could still wake this loop's waiting tasks (see ``WakeSources``).

        Call it on the loop's thread.  Thread wakers are read before the ready queue:
        a completing thread queues its call before it stops counting as a waker, so
        a wake-up in flight is always seen in one or the other.
        """
        thread_wakers = sum(1 for waker in tuple(self._thread_wakers) if not waker.done())
        facts = self.scheduler_facts()
        return WakeSources(facts["ready"], facts["timers"], facts["next_deadline"],
                           tuple(facts["fds"]), thread_wakers)

    def _add_thread_waker(self, concurrent_future) -> None:
        """*concurrent_future* will reach this loop from another thread when done."""
        self._thread_wakers.add(concurrent_future)

    def _discard_thread_waker(self, concurrent_future) -> None:
        self._thread_wakers.discard(concurrent_future)

    # -- readiness (readiness.py) ----------------------------------------------------
    def add_reader(self, fd: FileDescriptorLike, callback: Callable[[Unpack[_Ts]], Any],
                   *args: Unpack[_Ts]) -> None:
        """Call ``callback(*args)`` whenever *fd* (a descriptor or an object with
        ``fileno()``) is readable; replaces the reader *fd* had."""
        self._readiness.watch(self._readiness.readers, fd, callback, args, "add_reader")

    def add_writer(self, fd: FileDescriptorLike, callback: Callable[[Unpack[_Ts]], Any],
                   *args: Unpack[_Ts]) -> None:
        """Call ``callback(*args)`` whenever *fd* is writable; replaces the writer *fd* had."""
        self._readiness.watch(self._readiness.writers, fd, callback, args, "add_writer")

    def remove_reader(self, fd: FileDescriptorLike) -> bool:
        """Stop watching *fd* for reading; return True if it had a reader."""
        return self._readiness.unwatch(self._readiness.readers, fd)

    def remove_writer(self, fd: FileDescriptorLike) -> bool:
        """Stop watching *fd* for writing; return True if it had a writer."""
        return self._readiness.unwatch(self._readiness.writers, fd)

    # -- executors (executors.py) ----------------------------------------------------
    def run_in_executor(self, executor: concurrent.futures.Executor | None,
                        func: Callable[[Unpack[_Ts]], _T], *args: Unpack[_Ts]) -> Future[_T]:
        """Run ``func(*args)`` in *executor* (None: the loop's default thread
        pool); return an awaitable future of its result."""
        self._check_closed()
        if self._debug:
            self._check_callback(func, "run_in_executor")
        return self._executors.submit(executor, func, args)

    def set_default_executor(self, executor: concurrent.futures.Executor) -> None:
        """Use *executor* (a ThreadPoolExecutor) for run_in_executor(None, ...)."""
        self._executors.set_default(executor)

    async def shutdown_default_executor(self, timeout: float | None = None) -> None:
        """Wait for the default executor's threads to finish (at most *timeout* s)."""
        await self._executors.shutdown_default(timeout)

    # asyncio's private names for the same state, which libraries read (anyio;
    # see docs/migrating.md): views of the Executors component.
    @property
    def _default_executor(self):
        return self._executors.default

    @_default_executor.setter
    def _default_executor(self, executor) -> None:
        self._executors.default = executor

    @property
    def _executor_shutdown_called(self) -> bool:
        return self._executors.shutdown_called

    # -- async generators (asyncgens.py) ---------------------------------------------
    async def shutdown_asyncgens(self) -> None:
        """Close every asynchronous generator that is still suspended."""
        await self._async_generators.shutdown()


def run_until_stopped(loop) -> None:
    """The scheduler: iterate until ``loop.stop()`` is called -- poll, fire the due
    timers, run what is ready (see the module docstring).

    One function with the iteration inlined and hot attributes held in locals:
    with many short callbacks the per-iteration overhead is what we pay most.  A
    function of the module rather than a method, so that the compiled build can
    give its locals C types (loop.pxd): the timer store's fields and the tables'
    sizes are then read as C fields, without an attribute lookup.
    """
    ready = loop._ready
    popleft = ready.popleft
    timerq = loop._timers
    readiness = loop._readiness
    readers = readiness.readers
    writers = readiness.writers
    clock = loop._clock
    now = loop._now
    resolution = clock.resolution
    run_ready = loop._run_ready_watched
    # The lean recording path's chain of step times (see there).
    mark: Any = None
    task: Any = None
    step_log: Any = None
    log_step: Any = None
    read_log: Any = None
    logged = 0
    chained = version = 0
    while True:
        if timerq.cancelled and timerq.heap:
            timerq.tidy()  # cancelled timers must not shorten our sleep
        timers = timerq.heap  # rebound by TimerQueue.purge (in tidy)

        if ready or loop._stopping:
            if readers or writers:
                readiness.poll(0)
        elif timers:
            timeout = clock.sleep_time(timers[0])
            if timeout is not None and timeout > MAX_POLL_TIMEOUT:
                timeout = MAX_POLL_TIMEOUT  # "Deadlines": inf or decades away
            readiness.poll(timeout)
        else:
            readiness.poll(clock.sleep_time(None))

        if timers:
            buckets = timerq.buckets
            deadline = now() + resolution
            while timers and timers[0] <= deadline:
                timer = buckets.pop(_heappop(timers))
                if type(timer) is list:
                    timerq.fire_all(timer, ready)
                    continue
                timerq.count -= 1
                # >>> copy timer-fire (self -> timerq)
                timer._scheduled = False
                if timer._cancelled:
                    timerq.cancelled -= 1
                elif type(timer) is TimerHandle:
                    ready.append(timer)
                else:
                    timer._fire()  # a SleepFuture: wakes its task this iteration
                # <<< copy timer-fire

        # Only what is ready now runs in this iteration; callbacks it schedules
        # wait for the next one, after I/O has been polled again.
        hooks = loop._instruments
        if loop._debug or hooks is not None and hooks.watch_ready:
            if hooks is None or not hooks.lean or loop._debug:
                run_ready(len(ready))
            else:
                # Step records or task_stepped, nothing else per item (a
                # TaskMonitor, a trace recorder): _run_ready_watched() made lean,
                # inlined as its call per iteration costs more than the records.  Each task step is
                # counted in its StepRecord with one clock read: the end of one
                # step is the start of the next, also across iterations when
                # the loop cannot have blocked in between (the ready queue was
                # not empty); a callback is not timed, and the clock is read
                # again after one.  An instrument added or removed by an item
                # takes effect at the next iteration, as on the fast path.
                count = len(ready)
                if hooks.ready_run_started is not None:
                    hooks.ready_run_started(count)
                iteration = loop._iterations = loop._iterations + 1
                if iteration != chained or hooks.version != version:
                    mark = None  # the loop may have blocked, or the set changed
                version = hooks.version
                exited = hooks.task_exited
                records = hooks.records_steps
                # A tracer's step: three appends to its step_log (no Python call),
                # else one call of task_stepped.
                step_log = hooks.step_log
                stepped = hooks.task_stepped if step_log is None else None
                if step_log is not None:
                    log_step = step_log.append
                    read_log = hooks.read_step_log
                exit_log = hooks.exit_log  # only with records: `record` is set below
                exit_seq = hooks.exit_seq
                # Anything per step but the log (a tracer alone needs nothing else).
                more = records or stepped is not None or exited is not None
                for _ in range(count):
                    handle = popleft()
                    if handle._cancelled:
                        continue
                    args = handle._args
                    if args is None:  # a task: its own handle (as in the fast path)
                        task = handle
                    elif type(handle._callback) is _MethodType and \
                            handle._callback.__func__ is _task_wakeup:  # a foreign future's
                        task = handle._callback.__self__
                    else:
                        task = None
                    if task is not None and mark is None:
                        mark = now()
                    if records:
                        loop._step_began = mark
                    loop._current_handle = handle
                    try:
                        if args is None:
                            handle._context.run(handle._callback, handle)
                        elif len(args) == 1:
                            handle._context.run(handle._callback, args[0])
                        else:
                            handle._context.run(handle._callback, *args)
                    except (SystemExit, KeyboardInterrupt):
                        raise
                    except BaseException as exc:
                        loop._report_callback_error(handle, exc)
                    if task is None:
                        mark = None
                        continue
                    ended = now()
                    if step_log is not None:
                        log_step(task)
                        log_step(mark)
                        log_step(ended)
                        logged += 1
                        if logged == STEP_LOG_BATCH:  # read while its tasks are in cache
                            read_log()
                            logged = 0
                        if not more:
                            mark = ended
                            continue
                    if records:
                        record = task._step_record
                        if record is None:
                            record = task._step_record = StepRecord()
                        # >>> copy add-step (self -> record, began -> mark)
                        record.steps += 1
                        record.run_time += ended - mark
                        record.last_step_end = ended
                        # <<< copy add-step
                    if stepped is not None:
                        stepped(task, mark, ended)
                    mark = ended
                    if task._state is not PENDING:
                        if exit_log is not None:
                            # >>> copy exit-entry (log -> exit_log, seq -> exit_seq)
                            error = task._exception  # not exception(): that would mark it retrieved
                            coro = task._coro
                            exit_log.append((exit_seq(), id(task), task._name,
                                             getattr(coro, "__qualname__", coro),
                                             error is None and task._state is CANCELLED,
                                             None if error is None else error_repr(error),
                                             record.steps, record.run_time,
                                             record.last_step_end, record.created_at))
                            # <<< copy exit-entry
                        if exited is not None:
                            exited(task)
                loop._current_handle = None
                chained = iteration + 1 if ready else 0
                # A recorder stopped by an item: let go of its log (the list, its
                # bound append and the reader all hold it).
                step_log = log_step = read_log = None
        else:
            tracking = loop._tracking_running
            if tracking:
                loop._iterations += 1
            for _ in range(len(ready)):
                handle = popleft()
                if handle._cancelled:
                    continue
                if tracking:
                    loop._current_handle = handle
                args = handle._args
                try:
                    # Nearly every item has one argument (a done callback), none,
                    # or is a task (_args None: the step takes the task itself);
                    # calling without *args spares building a tuple per callback.
                    if args is None:
                        handle._context.run(handle._callback, handle)
                    elif len(args) == 1:
                        handle._context.run(handle._callback, args[0])
                    elif not args:
                        handle._context.run(handle._callback)
                    else:
                        handle._context.run(handle._callback, *args)
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException as exc:
                    loop._report_callback_error(handle, exc)
            if tracking:
                loop._current_handle = None
        if loop._stopping:
            return


class WakeSources(NamedTuple):
    """What could still wake a loop's waiting tasks (``loop.wake_sources()``).

    When every field is empty the loop can only block forever: no callback is
    ready, no timer is due to fire, no descriptor is watched (the loop's own
    wake-up descriptor aside; sockets, pipes, subprocess pidfds and the signal
    socket count), and no executor job or other thread's concurrent future is
    on its way.  A thread calling ``call_soon_threadsafe`` on its own is not
    counted: the loop cannot know about it (``coroloop.debug`` asks the threads).
    """

    ready: int                        # callbacks and steps in the ready queue
    timers: int                       # live (not cancelled) timers, sleeps included
    next_deadline: float | None       # loop time of the first of them
    fds: tuple                        # watched descriptors, the loop's own excluded
    thread_wakers: int                # executor jobs / wrapped concurrent futures pending

    @property
    def can_wake(self) -> bool:
        """True if anything listed could still wake the loop."""
        return bool(self.ready or self.timers or self.fds or self.thread_wakers)


NATIVE_LOOPS.add(CoreEventLoop)


def _checked_scheduler(scheduler):
    """The policy the loop consults, or None for asyncio's order (the fast path)."""
    if scheduler is None or not getattr(scheduler, "reorders", True):
        return None  # FIFO(): asyncio's order is what the fast iteration runs
    if not callable(getattr(scheduler, "order", None)):
        raise TypeError(
            f"scheduler must be a scheduling policy such as coroloop.testing.RandomOrder(seed) "
            f"(an object with an order(lanes, counts, now) method), got {scheduler!r}")
    return scheduler


_MethodType = types.MethodType
# The step a task runs after a foreign future (not coroloop's) woke it.
_task_wakeup = Task._wakeup


def _task_stepped_by(item):
    """The task a ready-queue item steps: the item itself, or the task whose wakeup
    it calls (a task waiting on a foreign future); None for other callbacks."""
    if isinstance(item, Task):
        return item
    owner = getattr(item._callback, "__self__", None)
    return owner if isinstance(owner, Task) and not owner.done() else None


def _describe_handle(item) -> str:
    """What a ready-queue item is, for the slow-callback warning."""
    if isinstance(item, Task):  # a task step
        return repr(item)
    return str(item)

"""EventLoop: coroloop's scheduler.

One iteration (``_run_once``) is:

1. work out how long we may sleep: 0 if callbacks are ready, else until the next
   timer (asked of the clock, so a virtual clock can jump instead of sleeping);
2. ask the poller which descriptors are ready and queue their handlers — skipped
   when nothing is registered and we would not sleep anyway, which saves a system
   call per iteration for CPU-bound task churn;
3. move due timers to the ready queue;
4. run the callbacks that were ready when the iteration started (ones they add
   wait for the next iteration, so I/O is never starved).

The ready queue holds ``Handle`` objects (``_callback``, ``_args``, ``_context``,
``_cancelled``); the timer heap holds distinct deadlines (floats, compared in C
without a tuple in between), and a dict maps each deadline to its timer or to the
list of its timers in scheduling order, so equal deadlines fire FIFO.  Cancelled
timers stay and are skipped; when they outnumber the live ones both are rebuilt.

Deadlines -- one rule for every timer (call_at, call_later, sleep, timeouts):

* A NaN deadline is due at once, as asyncio 3.11/3.12 run it (3.13's asyncio
  crashes its loop instead, see docs/migrating.md).  It enters the heap as "now":
  a NaN compares false with everything, so in the heap it would never be popped
  (wedging the loop at 100% CPU) and would hide the timers sifted below it.  The
  timer keeps the NaN as its ``when()``.
* +inf, or any deadline further away than ``MAX_POLL_TIMEOUT``, is kept as it is
  (it never fires, or fires when due), but one poll waits at most
  ``MAX_POLL_TIMEOUT`` (a day, as asyncio): ``epoll.poll`` and ``select`` raise
  ``OverflowError`` past the platform's time_t.

Everything networking-related (transports, servers, subprocesses) builds on
``add_reader``/``add_writer`` and lives outside this module.
"""

from __future__ import annotations

import asyncio.events as _aevents
import asyncio.log as _alog
import concurrent.futures
import contextvars
import heapq
import os
import socket
import sys
import threading
import time as _time
import traceback
import types
import warnings
import weakref
from collections import deque

from .. import _bridge
from .._repr import format_callback
from .clock import Clock, MonotonicClock
from .coroutines import is_coroutine_function, iscoroutine
from .futures import isfuture, new_future, set_result_unless_cancelled
from .handles import (Handle, TimerHandle, callback_error_context, extract_source_traceback,
                      new_handle, new_threadsafe_handle, new_timer_handle)
from . import instrument as _instrument
from .instrument import Instruments
from .loopstate import NATIVE_LOOPS, LoopState
from .poller import Poller, default_poller
from .sleep import SleepFuture
from .tasks import Task, ensure_future, new_task
from .threads import wrap_future

logger = _alog.logger  # shared with asyncio, so existing logging setups keep working

_heappush = heapq.heappush
_copy_context = contextvars.copy_context
_CLOSED = LoopState.CLOSED
_heappop = heapq.heappop

# Rebuild the timer heap when more than this many entries, and more than half of
# them, are cancelled timers.
_PURGE_MIN_CANCELLED = 64
# Depth of coroutine origin tracking in debug mode.
_DEBUG_STACK_DEPTH = 10
_THREAD_JOIN_TIMEOUT = 300
# The longest single poll (seconds): asyncio's MAXIMUM_SELECT_TIMEOUT.  A timer
# further away is simply polled for again.  See "Deadlines" above.
MAX_POLL_TIMEOUT = 24 * 3600


class _Waker:
    """Wakes the loop from another thread: an eventfd, or a socket pair."""

    def __init__(self) -> None:
        if hasattr(os, "eventfd"):
            self._rfd = self._wfd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self._pair = None
        else:
            self._pair = socket.socketpair()
            for sock in self._pair:
                sock.setblocking(False)
            self._rfd = self._pair[0].fileno()
            self._wfd = self._pair[1].fileno()

    def fileno(self) -> int:
        return self._rfd

    def wake(self) -> None:
        try:
            if self._pair is None:
                os.eventfd_write(self._wfd, 1)
            else:
                self._pair[1].send(b"\0")
        except (BlockingIOError, OSError):
            pass  # already pending, or closing: either way the loop will wake

    def drain(self) -> None:
        try:
            if self._pair is None:
                os.eventfd_read(self._rfd)
            else:
                while self._pair[0].recv(4096):
                    pass
        except (BlockingIOError, InterruptedError):
            pass

    def close(self) -> None:
        if self._pair is None:
            os.close(self._rfd)
        else:
            for sock in self._pair:
                sock.close()


def _fileobj_to_fd(fileobj) -> int:
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


class CoreEventLoop(_aevents.AbstractEventLoop):
    """The scheduler half of coroloop's event loop: callbacks, timers, readiness,
    futures and tasks, executors.  ``coroloop.EventLoop`` adds networking on top."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        NATIVE_LOOPS.add(cls)  # subclasses take the same fast paths

    def __init__(self, *, clock: Clock | None = None, poller: Poller | None = None):
        self._clock = clock if clock is not None else MonotonicClock()
        self._now = self._clock.time  # bound once: read on every iteration
        self._poller = poller if poller is not None else default_poller()
        self._state = LoopState.IDLE
        # Set by stop(): the current iteration is the last one of run_forever().
        self._stopping = False
        self._ready: deque[Handle] = deque()
        # Timers: a heap of distinct deadlines (floats compare fast in C) and, per
        # deadline, its timer or a list of its timers in scheduling order (FIFO).
        self._timers: list = []
        self._timer_buckets: dict = {}
        self._timer_count = 0              # timers in the buckets, cancelled included
        self._cancelled_timers = 0         # cancelled timers still in the buckets
        self._readers: dict[int, Handle] = {}
        self._writers: dict[int, Handle] = {}
        # fd -> the file object it was registered with (not for int registrations):
        # how a closed socket still finds its registration (see _add_watch).
        self._watched_objects: dict[int, object] = {}
        self._waker = _Waker()
        self._poller.modify(self._waker.fileno(), True, False)
        self._thread_id: int | None = None  # the thread running us, while running
        self._debug = sys.flags.dev_mode or (
            not sys.flags.ignore_environment and bool(os.environ.get("PYTHONASYNCIODEBUG")))
        self.slow_callback_duration = 0.1
        self._current_handle = None         # the handle running (debug mode only)
        self._exception_handler = None
        self._task_factory = None
        self._default_executor = None
        self._executor_shutdown_called = False
        self._asyncgens = weakref.WeakSet()
        self._asyncgens_shutdown_called = False
        self._old_agen_hooks = None
        self._instruments: Instruments | None = None
        if _instrument._loop_watchers:
            _instrument.announce_loop(self)

    def __repr__(self) -> str:
        return (f"<{self.__class__.__name__} running={self.is_running()} "
                f"closed={self.is_closed()} debug={self.get_debug()}>")

    # -- lifecycle -------------------------------------------------------------------
    def is_running(self) -> bool:
        return self._state is LoopState.RUNNING

    def is_closed(self) -> bool:
        return self._state is LoopState.CLOSED

    @property
    def _closed(self) -> bool:
        """asyncio's private flag, read by libraries (docs/migrating.md): is_closed()."""
        return self._state is LoopState.CLOSED

    def _check_closed(self) -> None:
        if self._state is LoopState.CLOSED:
            raise RuntimeError("Event loop is closed")

    def _check_can_run(self) -> None:
        self._check_closed()
        if self._state is LoopState.RUNNING:
            raise RuntimeError("This event loop is already running")
        if _bridge.get_running_loop_or_none() is not None:
            raise RuntimeError("Cannot run the event loop while another loop is running")

    def run_forever(self) -> None:
        self._check_can_run()
        self._set_coroutine_origin_tracking(self._debug)
        self._old_agen_hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,
                               finalizer=self._asyncgen_finalizer_hook)
        self._thread_id = threading.get_ident()
        self._state = LoopState.RUNNING
        _bridge.set_running_loop(self)
        try:
            self._run_until_stopped()
        finally:
            self._stopping = False
            self._state = LoopState.IDLE
            self._thread_id = None
            _bridge.set_running_loop(None)
            self._set_coroutine_origin_tracking(False)
            sys.set_asyncgen_hooks(*self._old_agen_hooks)

    def run_until_complete(self, future):
        self._check_can_run()
        new_task = not isfuture(future)
        future = ensure_future(future, loop=self)
        if new_task:
            # We own this task: an exception escaping run_until_complete is reported
            # to the caller, not again by the task's destructor.
            future._log_destroy_pending = False
        # asyncio's own callback (stop the loop unless SystemExit/KeyboardInterrupt
        # already unwinds it): anyio finds the root task by it (docs/migrating.md).
        future.add_done_callback(_bridge.RUN_UNTIL_COMPLETE_CALLBACK)
        try:
            self.run_forever()
        except BaseException:
            if new_task and future.done() and not future.cancelled():
                future.exception()  # mark it retrieved
            raise
        finally:
            future.remove_done_callback(_bridge.RUN_UNTIL_COMPLETE_CALLBACK)
        if not future.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return future.result()

    def stop(self) -> None:
        self._stopping = True

    def close(self) -> None:
        if self._state is LoopState.RUNNING:
            raise RuntimeError("Cannot close a running event loop")
        if self._state is LoopState.CLOSED:
            return
        if self._debug:
            logger.debug("Close %r", self)
        self._state = LoopState.CLOSED
        self._ready.clear()
        self._timers.clear()
        self._timer_buckets.clear()
        self._timer_count = 0
        self._cancelled_timers = 0
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is not None:
            self._default_executor = None
            executor.shutdown(wait=False)
        for fd in list(self._readers) + list(self._writers):
            self._readers.pop(fd, None)
            self._writers.pop(fd, None)
        self._watched_objects.clear()
        self._waker.close()
        self._poller.close()

    def __del__(self, _warn=warnings.warn):
        if self._state is not LoopState.CLOSED:
            _warn(f"unclosed event loop {self!r}", ResourceWarning, source=self)
            if self._state is not LoopState.RUNNING:
                self.close()

    # -- the scheduler ---------------------------------------------------------------
    def _run_until_stopped(self) -> None:
        """Iterate until stop() is called: poll, fire timers, run what is ready.

        One method with the iteration inlined and hot attributes held in locals:
        with many short callbacks the per-iteration overhead is what we pay most.
        """
        ready = self._ready
        popleft = ready.popleft
        readers = self._readers
        writers = self._writers
        clock = self._clock
        now = self._now
        resolution = clock.resolution
        run_ready = self._run_ready_watched
        while True:
            timers = self._timers  # both rebound by _purge_cancelled_timers
            buckets = self._timer_buckets
            if timers and self._cancelled_timers:
                if self._cancelled_timers > _PURGE_MIN_CANCELLED and \
                        self._cancelled_timers * 2 > self._timer_count:
                    self._purge_cancelled_timers()
                    timers = self._timers
                    buckets = self._timer_buckets
                # Cancelled timers at the head must not shorten our sleep.
                while timers and _all_cancelled(buckets[timers[0]]):
                    self._drop_timers(buckets.pop(_heappop(timers)))

            if ready or self._stopping:
                if readers or writers:
                    self._poll(0)
            elif timers:
                timeout = clock.sleep_time(timers[0])
                if timeout is not None and timeout > MAX_POLL_TIMEOUT:
                    timeout = MAX_POLL_TIMEOUT  # "Deadlines": inf or decades away
                self._poll(timeout)
            else:
                self._poll(clock.sleep_time(None))

            if timers:
                deadline = now() + resolution
                while timers and timers[0] <= deadline:
                    due = buckets.pop(_heappop(timers))
                    if type(due) is list:
                        self._fire_timers(due)
                        continue
                    self._timer_count -= 1
                    due._scheduled = False
                    if due._cancelled:
                        self._cancelled_timers -= 1
                    elif type(due) is TimerHandle:
                        ready.append(due)
                    else:
                        due._fire()  # a SleepFuture: wakes its task this iteration

            # Only what is ready now runs in this iteration; callbacks it schedules
            # wait for the next one, after I/O has been polled again.
            if self._debug or self._instruments is not None:
                run_ready(len(ready))
            else:
                for _ in range(len(ready)):
                    handle = popleft()
                    if handle._cancelled:
                        continue
                    args = handle._args
                    try:
                        # Nearly every item has one argument (a task step, a done
                        # callback) or none; calling without *args spares building
                        # a tuple and a bound method per callback.
                        if len(args) == 1:
                            handle._context.run(handle._callback, args[0])
                        elif not args:
                            handle._context.run(handle._callback)
                        else:
                            handle._context.run(handle._callback, *args)
                    except (SystemExit, KeyboardInterrupt):
                        raise
                    except BaseException as exc:
                        self._report_callback_error(handle, exc)
            if self._stopping:
                return

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
            elif hooks.version != version:
                version = hooks.version
                watch = hooks.watch_steps
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
                    step_began = now()
            if timed:
                started = clock()
            if debug:
                self._current_handle = handle
            try:
                args = handle._args
                if len(args) == 1:  # as in _run_until_stopped
                    handle._context.run(handle._callback, args[0])
                else:
                    handle._context.run(handle._callback, *args)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._report_callback_error(handle, exc)
            finally:
                if debug:
                    self._current_handle = None
            if timed:
                took = clock() - started
            if task is not None and self._instruments is hooks and hooks.version == version:
                if stepped is not None:
                    stepped(task, step_began, now())
                if ended_hook is not None:
                    ended_hook(task)
                if exited is not None and task.done():
                    exited(task)
            if timed:
                if debug and took >= self.slow_callback_duration:
                    logger.warning("Executing %s took %.3f seconds",
                                   _describe_handle(handle), took)
                if ran is not None and self._instruments is hooks \
                        and hooks.version == version:
                    ran(handle, took)

    def _report_callback_error(self, handle, exc) -> None:
        self.call_exception_handler(callback_error_context(handle, exc))

    def _poll(self, timeout) -> None:
        hooks = self._instruments
        if hooks is not None and hooks.io_wait_started is not None:
            hooks.io_wait_started(timeout)
        poller = self._poller
        events = poller.poll(timeout)
        if hooks is not None and hooks.io_wait_ended is not None:
            hooks.io_wait_ended(len(events))
        if not events:
            return
        readable = poller.READABLE
        writable = poller.WRITABLE
        waker_fd = self._waker.fileno()
        readers = self._readers
        writers = self._writers
        ready = self._ready
        for fd, mask in events:
            if mask & readable:
                handle = readers.get(fd)
                if handle is not None:
                    ready.append(handle)
                elif fd == waker_fd:
                    self._waker.drain()
            if mask & writable:
                handle = writers.get(fd)
                if handle is not None:
                    ready.append(handle)

    def _schedule_timer(self, when, timer) -> None:
        """Put *timer* (a TimerHandle or SleepFuture) in the heap, due at *when*.

        call_later() and sleep() inline this; keep them in step.
        """
        if when != when:
            when = self._now()  # NaN: due at once (see "Deadlines")
        self._timer_count += 1
        first = self._timer_buckets.setdefault(when, timer)
        if first is timer:
            _heappush(self._timers, when)
        else:
            self._share_deadline(when, first, timer)

    def _share_deadline(self, when, first, timer) -> None:
        """*timer* is due at *when* like *first* (a timer or a list): after it."""
        if type(first) is list:
            first.append(timer)
        else:
            self._timer_buckets[when] = [first, timer]

    def _fire_timers(self, due: list) -> None:
        """The timers sharing one deadline, in the order they were scheduled."""
        ready = self._ready
        self._timer_count -= len(due)
        for timer in due:
            timer._scheduled = False
            if timer._cancelled:
                self._cancelled_timers -= 1
            elif type(timer) is TimerHandle:
                ready.append(timer)
            else:
                timer._fire()

    def _drop_timers(self, entry) -> None:
        """Forget the (cancelled) timers of one deadline."""
        for timer in entry if type(entry) is list else (entry,):
            timer._scheduled = False
            self._timer_count -= 1
            self._cancelled_timers -= 1

    def _purge_cancelled_timers(self) -> None:
        buckets = {}
        for when, entry in self._timer_buckets.items():
            for timer in entry if type(entry) is list else (entry,):
                if timer._cancelled:
                    timer._scheduled = False
                else:
                    kept = buckets.setdefault(when, timer)
                    if kept is not timer:
                        if type(kept) is list:
                            kept.append(timer)
                        else:
                            buckets[when] = [kept, timer]
        timers = list(buckets)
        heapq.heapify(timers)
        self._timers = timers
        self._timer_buckets = buckets
        self._timer_count -= self._cancelled_timers
        self._cancelled_timers = 0

    def _timer_handle_cancelled(self, handle) -> None:
        self._cancelled_timers += 1

    # -- scheduling ------------------------------------------------------------------
    def time(self) -> float:
        return self._now()

    @property
    def clock(self) -> Clock:
        """The clock this loop reads time from (see ``coroloop.testing.VirtualClock``)."""
        return self._clock

    def call_soon(self, callback, *args, context=None):
        if self._state is LoopState.CLOSED:
            raise RuntimeError("Event loop is closed")
        if not callable(callback) or self._debug:
            self._check_callback(callback, "call_soon")
        handle = new_handle(callback, args, self,
                            _copy_context() if context is None else context)
        if self._debug:
            handle._source_traceback = extract_source_traceback(1)
        self._ready.append(handle)
        return handle

    def call_later(self, delay, callback, *args, context=None):
        if delay is None:
            raise TypeError("delay must not be None")
        when = self._now() + delay
        # call_at's body, not a call to it: forwarding *args and context= would
        # cost more than the timer itself.
        if self._state is LoopState.CLOSED:
            raise RuntimeError("Event loop is closed")
        if not callable(callback) or self._debug:
            self._check_callback(callback, "call_at")  # as asyncio names it
        timer = new_timer_handle(when, callback, args, self,
                                 _copy_context() if context is None else context)
        if self._debug:
            timer._source_traceback = extract_source_traceback(1)
        # _schedule_timer(), inlined: a hot path.
        if when != when:
            when = self._now()  # NaN: due at once (see "Deadlines")
        self._timer_count += 1
        first = self._timer_buckets.setdefault(when, timer)
        if first is timer:
            _heappush(self._timers, when)
        else:
            self._share_deadline(when, first, timer)
        return timer

    def call_at(self, when, callback, *args, context=None):
        if when is None:
            raise TypeError("when cannot be None")
        if self._state is LoopState.CLOSED:
            raise RuntimeError("Event loop is closed")
        if not callable(callback) or self._debug:
            self._check_callback(callback, "call_at")
        timer = new_timer_handle(when, callback, args, self,
                                 _copy_context() if context is None else context)
        if self._debug:
            timer._source_traceback = extract_source_traceback(1)
        self._schedule_timer(when, timer)
        return timer

    def _sleep_future(self, delay, result):
        """The future sleep() awaits: completed with *result* after *delay* seconds."""
        when = self._now() + delay
        sleeper = SleepFuture(self, when, result)
        if when != when:
            when = self._now()  # NaN (asyncio < 3.13 lets sleep take it): "Deadlines"
        # _schedule_timer(), inlined: every sleep comes here.
        self._timer_count += 1
        first = self._timer_buckets.setdefault(when, sleeper)
        if first is sleeper:
            _heappush(self._timers, when)
        else:
            self._share_deadline(when, first, sleeper)
        return sleeper

    def call_soon_threadsafe(self, callback, *args, context=None):
        self._check_closed()
        if not callable(callback) or self._debug:
            self._check_callback(callback, "call_soon_threadsafe", check_thread=False)
        make = new_threadsafe_handle or new_handle
        handle = make(callback, args, self, _copy_context() if context is None else context)
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
    def create_future(self):
        return new_future(self)

    # create_task(): two front ends over one _create_task(), so that the common call
    # (no factory, no keyword but name/context) builds the task at once, and 3.11-3.13
    # do not pay for the **kwargs dict that only 3.14's signature has.
    def create_task(self, coro, *, name=None, context=None, eager_start=None):
        if self._task_factory is None and eager_start is None and self._state is not _CLOSED:
            return new_task(self, coro, name, context)
        return self._create_task(coro, name, context, eager_start, {})

    if _bridge.CREATE_TASK_PASSES_ANY_KEYWORD:
        def create_task(self, coro, *, name=None, context=None, eager_start=None,  # noqa: F811
                        **kwargs):
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

    def set_task_factory(self, factory) -> None:
        if factory is not None and not callable(factory):
            raise TypeError(f"task factory must be a callable or None, got {factory!r}")
        self._task_factory = factory

    def get_task_factory(self):
        return self._task_factory

    # -- errors ----------------------------------------------------------------------
    def get_exception_handler(self):
        return self._exception_handler

    def set_exception_handler(self, handler) -> None:
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self._exception_handler = handler

    def default_exception_handler(self, context) -> None:
        message = context.get("message") or "Unhandled exception in event loop"
        exception = context.get("exception")
        exc_info = (type(exception), exception, exception.__traceback__) \
            if exception is not None else False
        handle = self._current_handle
        handle_traceback = getattr(handle, "_source_traceback", None)
        if "source_traceback" not in context and handle_traceback:
            context["handle_traceback"] = handle_traceback
        lines = [message]
        for key in sorted(context):
            if key in ("message", "exception"):
                continue
            value = context[key]
            if key == "source_traceback":
                value = ("Object created at (most recent call last):\n"
                         + "".join(traceback.format_list(value)).rstrip())
            elif key == "handle_traceback":
                value = ("Handle created at (most recent call last):\n"
                         + "".join(traceback.format_list(value)).rstrip())
            else:
                value = repr(value)
            lines.append(f"{key}: {value}")
        logger.error("\n".join(lines), exc_info=exc_info)

    def call_exception_handler(self, context) -> None:
        """Report *context* to the exception handler, in the context of the task or
        callback it is about, so the handler sees its context variables (gh-96704)."""
        owner = context.get("task") or context.get("future") or context.get("handle")
        get_context = getattr(owner, "get_context", None)
        owner_context = get_context() if get_context is not None else None
        if owner_context is not None:
            try:
                owner_context.run(self._call_exception_handler, context)
                return
            except RuntimeError:
                pass  # that context is entered right now (we are inside it)
        self._call_exception_handler(context)

    def _call_exception_handler(self, context) -> None:
        handler = self._exception_handler
        if handler is None:
            try:
                self.default_exception_handler(context)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error("Exception in default exception handler", exc_info=True)
            return
        try:
            handler(self, context)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            try:
                self.default_exception_handler({
                    "message": "Unhandled error in exception handler",
                    "exception": exc,
                    "context": context,
                })
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error("Exception in default exception handler while handling an "
                             "unexpected error in custom exception handler", exc_info=True)

    # -- debug -----------------------------------------------------------------------
    def get_debug(self) -> bool:
        return self._debug

    def set_debug(self, enabled: bool) -> None:
        self._debug = enabled
        if self.is_running():
            self.call_soon_threadsafe(self._set_coroutine_origin_tracking, enabled)

    def _set_coroutine_origin_tracking(self, enabled: bool) -> None:
        sys.set_coroutine_origin_tracking_depth(_DEBUG_STACK_DEPTH if enabled else 0)

    # -- instruments -----------------------------------------------------------------
    def add_instrument(self, instrument) -> None:
        """Start calling *instrument*'s hooks (see ``coroloop.Instrument``)."""
        if self._instruments is None:
            instruments = Instruments(self)
            instruments.add(instrument)
            self._instruments = instruments
        else:
            self._instruments.add(instrument)

    def remove_instrument(self, instrument) -> None:
        if self._instruments is None or instrument not in self._instruments.members:
            raise ValueError(f"{instrument!r} is not installed on {self!r}")
        self._instruments.remove(instrument)
        if not self._instruments.members:
            self._instruments = None

    @property
    def instruments(self) -> tuple:
        return tuple(self._instruments.members) if self._instruments is not None else ()

    # -- readiness -------------------------------------------------------------------
    def add_reader(self, fd, callback, *args) -> None:
        self._add_watch(self._readers, fd, callback, args, "add_reader")

    def add_writer(self, fd, callback, *args) -> None:
        self._add_watch(self._writers, fd, callback, args, "add_writer")

    def remove_reader(self, fd) -> bool:
        return self._remove_watch(self._readers, fd)

    def remove_writer(self, fd) -> bool:
        return self._remove_watch(self._writers, fd)

    # The readiness tables and the poller agree at all times: fd is in _readers or
    # _writers exactly when the poller watches it (for those directions).  When the
    # poller refuses a change (EBADF: closed; EPERM: a regular file), it has
    # forgotten fd, and so does the loop -- both directions -- before the error
    # propagates, as selectors drops the key.  A registration made with a file
    # object (not an int) remembers it in _watched_objects, so the object still
    # finds its registration once closed (fileno() == -1), as asyncio's does.
    def _add_watch(self, table, fileobj, callback, args, method) -> None:
        if self._state is LoopState.CLOSED:
            raise RuntimeError("Event loop is closed")
        fd = fileobj if fileobj.__class__ is int and fileobj >= 0 else self._registered_fd(fileobj)
        if not callable(callback) or self._debug:
            self._check_callback(callback, method)
        handle = new_handle(callback, args, self, _copy_context())
        if self._debug:
            handle._source_traceback = extract_source_traceback(2)
        previous = table.get(fd)
        if previous is not None:  # the poller watches fd this way already
            table[fd] = handle
            previous.cancel()
            return
        try:
            table[fd] = handle
            self._poller.modify(fd, fd in self._readers, fd in self._writers)
        except BaseException:
            self._forget_fd(fd)
            raise
        if fileobj.__class__ is not int:
            self._watched_objects[fd] = fileobj

    def _remove_watch(self, table, fileobj) -> bool:
        if self._state is LoopState.CLOSED:
            return False
        fd = fileobj if fileobj.__class__ is int and fileobj >= 0 else self._registered_fd(fileobj)
        handle = table.pop(fd, None)
        if handle is None:
            return False
        readable = fd in self._readers
        writable = fd in self._writers
        try:
            self._poller.modify(fd, readable, writable)
        except BaseException:
            self._forget_fd(fd)
            raise
        finally:
            handle.cancel()
        if self._watched_objects and not (readable or writable):
            self._watched_objects.pop(fd, None)
        return True

    def _registered_fd(self, fileobj) -> int:
        """The descriptor *fileobj* is (or, closed since, was) registered under."""
        try:
            return _fileobj_to_fd(fileobj)
        except ValueError:
            for fd, watched in self._watched_objects.items():
                if watched is fileobj:
                    return fd
            raise

    def _forget_fd(self, fd) -> None:
        """A change of fd failed half-way: drop fd from the tables and the poller
        alike (the poller has usually dropped it already), so both agree again."""
        for table in (self._readers, self._writers):
            handle = table.pop(fd, None)
            if handle is not None:
                handle.cancel()
        self._watched_objects.pop(fd, None)
        self._poller.modify(fd, False, False)  # make sure; a no-op if it forgot it

    # -- executors -------------------------------------------------------------------
    def run_in_executor(self, executor, func, *args):
        self._check_closed()
        if self._debug:
            self._check_callback(func, "run_in_executor")
        if executor is None:
            if self._executor_shutdown_called:
                raise RuntimeError("Executor shutdown has been called")
            executor = self._default_executor
            if executor is None:
                # Named as asyncio names its threads ("asyncio_0", ...): tools and logs match.
                executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="asyncio")
                self._default_executor = executor
        return wrap_future(executor.submit(func, *args), loop=self)

    def set_default_executor(self, executor) -> None:
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            raise TypeError(f"executor must be ThreadPoolExecutor instance, got {executor!r}")
        self._default_executor = executor

    async def shutdown_default_executor(self, timeout=None) -> None:
        """Wait for the default executor's threads to finish (at most *timeout* s)."""
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is None:
            return
        finished = self.create_future()

        def join_executor():
            # The timeout is about OS threads, so it is measured in real time here,
            # not with a loop timer (which a virtual clock would fire at once).
            joiner = threading.Thread(target=executor.shutdown, kwargs={"wait": True},
                                      name="coroloop-executor-join", daemon=True)
            joiner.start()
            joiner.join(timeout)
            if not self.is_closed():
                self.call_soon_threadsafe(set_result_unless_cancelled, finished,
                                          not joiner.is_alive())

        thread = threading.Thread(target=join_executor, name="coroloop-executor-shutdown")
        thread.start()
        joined = await finished
        thread.join()
        if not joined:
            warnings.warn("The executor did not finish joining its threads within "
                          f"{timeout} seconds.", RuntimeWarning, stacklevel=2)

    # -- async generators ------------------------------------------------------------
    def _asyncgen_firstiter_hook(self, agen) -> None:
        if self._asyncgens_shutdown_called:
            warnings.warn(f"asynchronous generator {agen!r} was scheduled after "
                          "loop.shutdown_asyncgens() call", ResourceWarning, source=self)
        self._asyncgens.add(agen)

    def _asyncgen_finalizer_hook(self, agen) -> None:
        self._asyncgens.discard(agen)
        if not self.is_closed():
            self.call_soon_threadsafe(self.create_task, agen.aclose())

    async def shutdown_asyncgens(self) -> None:
        """Close every asynchronous generator that is still suspended."""
        self._asyncgens_shutdown_called = True
        if not len(self._asyncgens):
            return
        generators = list(self._asyncgens)
        self._asyncgens.clear()
        closing = [self.create_task(agen.aclose()) for agen in generators]
        for agen, task in zip(generators, closing):
            try:
                await task
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self.call_exception_handler({
                    "message": f"an error occurred during closing of asynchronous "
                               f"generator {agen!r}",
                    "exception": exc,
                    "asyncgen": agen,
                })


def _all_cancelled(entry) -> bool:
    """True if the timer (or every timer of the list) *entry* is cancelled."""
    if type(entry) is list:
        return all(timer._cancelled for timer in entry)
    return entry._cancelled


NATIVE_LOOPS.add(CoreEventLoop)
_MethodType = types.MethodType


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

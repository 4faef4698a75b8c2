"""Task: runs a coroutine on the loop, one step at a time.

A step sends a value into (or throws an exception into) the coroutine and looks at
what it yields:

* a pending future (``_asyncio_future_blocking`` set): the task sleeps until that
  future is done, then steps again;
* None (a bare ``yield``, as ``sleep(0)`` does): the task steps again next iteration;
* anything else: a programming error, thrown back into the coroutine.

On coroloop's loop a task is **its own ready-queue item**: it has the four fields
the scheduler reads from a Handle (``_callback`` = the step function, ``_args`` =
None, which tells the scheduler to pass the item itself, ``_context``,
``_cancelled`` = False), so scheduling a step allocates nothing, and creating a
task allocates no argument tuple (nor a task -> tuple -> task cycle).  A task is never queued twice because it waits on at most one thing at a
time.  When it waits on a coroloop future, the future keeps the task itself among
its done callbacks and queues it when done.  With any foreign future or loop the
task uses the public ``add_done_callback`` protocol, so tasks and futures of both
libraries mix.
"""

from __future__ import annotations

import asyncio.tasks as _asyncio_tasks
import contextvars
import itertools
import linecache
import sys
import traceback
import types
import weakref
from typing import TYPE_CHECKING, Any, TypeVar, overload

from .. import _bridge
from .._repr import coroutine_repr
from .coroutines import iscoroutine
from .typed import AsyncioTask
from .futures import (FINISHED, PENDING, CancelledError, Future, InvalidStateError,
                      asyncio_twin, future_loop, isfuture)
from .handles import extract_source_traceback
from .instrument import log_exit, record_step
from .loopstate import NATIVE_LOOPS, LoopState
from .sleep import SleepFuture

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop
    from collections.abc import Awaitable, Coroutine, Generator
    from typing import TextIO, TypeAlias

    # What a task runs: a coroutine, or a generator-based one (3.11's @coroutine).
    _TaskCompatibleCoro: TypeAlias = Coroutine[Any, Any, "_T_co"] | Generator[Any, None, "_T_co"]

_T = TypeVar("_T")
_T_co = TypeVar("_T_co", covariant=True)
_FT = TypeVar("_FT", bound="Future[Any]")

__all__ = ["Task", "new_task", "new_child_task", "current_task", "all_tasks", "create_task", "ensure_future"]

_CoroutineType = types.CoroutineType
_enter_task = _bridge.enter_task
_leave_task = _bridge.leave_task
_current_task_of = _bridge.current_task_of
_registry_add = _bridge.TASK_REGISTRY_ADD
_registry_discard = _bridge.TASK_REGISTRY_DISCARD
_weakref = weakref.ref
_copy_context = contextvars.copy_context
_Context = contextvars.Context
_names = itertools.count(1)
# 3.15: Task() refuses a context that is not a contextvars.Context (gh-157301), and
# a second __init__() call.
_CHECK_CONTEXT = _bridge.TASK_CHECKS_CONTEXT_TYPE
_INIT_ONCE = _bridge.FUTURE_INIT_ONCE
_CLOSED = LoopState.CLOSED
_get_running_loop = _bridge.get_running_loop
_new_object = object.__new__


class Task(AsyncioTask[_T], Future[_T]):
    """A coroutine scheduled on an event loop (``asyncio.Task``'s API)."""

    # Ready-queue item fields (see the module docstring) are slots too: the
    # scheduler reads them for every step.  _args is always None (the scheduler
    # calls _callback(task)); _callback and _cancelled are set only on coroloop's loop.
    # Future's _state, _exception and _unretrieved are slots here (a Future keeps
    # class-level defaults for them): every task reads them in await and __del__.
    __slots__ = ("_state", "_exception", "_unretrieved",
                 "_coro", "_context", "_name", "_fut_waiter", "_must_cancel",
                 "_throw", "_parent", "_native", "_args", "_log_destroy_pending",
                 "_callback", "_cancelled")
    # The slots' types, for the type checker (annotations only).
    _coro: Any
    _context: contextvars.Context
    _name: Any  # an int until get_name() formats it
    _fut_waiter: Any
    _must_cancel: bool
    _parent: Any
    _native: bool
    _args: Any
    _callback: Any
    _cancelled: bool
    __class__ = asyncio_twin(__module__, __qualname__, _asyncio_tasks.Task)
    # The loop's StepRecord of this task while an instrument records steps
    # (instrument.py); a class default, so tasks pay nothing for it otherwise.
    _step_record = None

    # How many cancel() calls are outstanding (decremented by uncancel()).
    _num_cancels_requested = 0

    # loop: Any, as the native fast path below reads coroloop's loop fields.
    def __init__(self, coro: _TaskCompatibleCoro[_T], *, loop: Any = None,
                 name: object = None, context: contextvars.Context | None = None,
                 eager_start: bool = False) -> None:
        if _INIT_ONCE and hasattr(self, "_loop"):
            raise RuntimeError(f"{self.__class__.__name__} object is already initialized")
        if loop is None:
            loop = _bridge.get_event_loop()
        native = loop.__class__ in NATIVE_LOOPS
        # Future's fields, set here rather than by Future.__init__ (hot path).
        # >>> copy future-fields (fut -> self)
        self._loop = loop
        self._state = PENDING
        self._result = None
        self._asyncio_future_blocking = False
        self._entries = None
        # <<< copy future-fields
        self._exception = None     # slots in a Task (class defaults in a Future)
        self._unretrieved = False
        if loop._debug if native else loop.get_debug():
            self._source_traceback = extract_source_traceback(1)
        # Report "destroyed but pending" if collected unfinished (gather and
        # run_until_complete turn it off for tasks they own).
        self._log_destroy_pending = True
        if type(coro) is not _CoroutineType and not iscoroutine(coro):
            # The task never started: nothing to report when it is collected.
            self._log_destroy_pending = False
            raise TypeError(f"a coroutine was expected, got {coro!r}")
        # An int until someone asks for the name (formatting "Task-N" is not free).
        self._name = next(_names) if name is None else str(name)
        self._coro = coro
        if context is None:
            context = _copy_context()
        elif _CHECK_CONTEXT and context.__class__ is not _Context:
            self._log_destroy_pending = False  # it never started
            raise TypeError(f"a contextvars.Context was expected, got "
                            f"{type(context).__name__}")
        self._context = context
        # The future the coroutine is blocked on; None while runnable or done.
        self._fut_waiter = None
        # A cancel() not delivered by cancelling _fut_waiter: thrown in at next step.
        self._must_cancel = False
        # An exception to throw into the coroutine at the next step.
        self._throw = None
        # The task running when this one was created; dropped when this one finishes
        # so long chains of finished tasks are not kept alive.
        self._parent = _current_task_of(loop)
        # coroloop's own loop: handles may go straight onto its ready queue.
        self._native = native
        self._args = None
        if native:
            self._callback = _step
            self._cancelled = False
            hooks = loop._instruments
            if hooks is not None and hooks.task_spawned is not None:
                hooks.task_spawned(self)
        if eager_start and loop.is_running():
            try:
                self._eager_start()
            except BaseException:
                # The first step could not even start (its context is entered
                # elsewhere, say): the error is the caller's, not "destroyed but
                # pending" noise later.
                self._log_destroy_pending = False
                raise
        else:
            if native:
                if loop._state is _CLOSED:
                    # It will never run: no "destroyed but pending" or "never
                    # awaited" noise on top of the error.
                    self._log_destroy_pending = False
                    coro.close()
                    raise RuntimeError("Event loop is closed")
                loop._ready.append(self)
            else:
                loop.call_soon(self._step, context=context)
            if _registry_add is not None:  # seen by asyncio.all_tasks()
                _registry_add(_weakref(self, _registry_discard))
            else:
                _bridge.register_task(self)

    def __del__(self):
        if self._state is PENDING:
            if self._log_destroy_pending:
                context = {
                    "task": self,
                    "message": "Task was destroyed but it is pending!",
                }
                if self._source_traceback:
                    context["source_traceback"] = self._source_traceback
                self._loop.call_exception_handler(context)
        elif self._unretrieved:
            Future.__del__(self)  # "exception was never retrieved"

    # -- the step --------------------------------------------------------------------
    def _step(self):
        if self._state is not PENDING:
            raise InvalidStateError(f"_step(): already done: {self!r}")
        if self._must_cancel:
            self._must_cancel = False
            exc = self._throw
            self._throw = None
            if not isinstance(exc, CancelledError):
                waiter = self._fut_waiter
                if exc is None and waiter is not None and (
                        waiter.cancelled()
                        or isinstance(getattr(waiter, "_exception", None), CancelledError)):
                    # Woken (fast path) by a future whose outcome is a
                    # CancelledError: awaiting it raises that one, message and
                    # all, as asyncio throws in the waiter's error when a
                    # cancel() came on top.
                    pass
                else:
                    exc = self._make_cancelled_error()
        else:
            exc = self._throw
            if exc is not None:
                self._throw = None
        self._fut_waiter = None
        loop = self._loop
        # (Instrument hooks for steps are called by the loop around this call.)
        _enter_task(loop, self)
        try:
            if exc is None:
                result = self._coro.send(None)
            else:
                result = self._coro.throw(exc)
        except StopIteration as stop:
            if self._must_cancel:
                # cancel() arrived after the coroutine's last await: honour it.
                self._must_cancel = False
                Future.cancel(self, msg=self._cancel_message)
            else:
                # Future.set_result, inlined: every task ends here.
                self._result = stop.value
                # >>> copy complete
                self._state = FINISHED
                if self._entries is not None:
                    self._schedule_callbacks()
                # <<< copy complete
        except CancelledError as cancelled:
            self._cancelled_exc = cancelled
            Future.cancel(self)
        except (KeyboardInterrupt, SystemExit) as fatal:
            Future.set_exception(self, fatal)
            raise
        except BaseException as error:
            # Drop this frame from the traceback: users need not see it, and it
            # would hold `self` (a task -> exception -> frame -> task cycle), so a
            # failed task would wait for the cyclic GC to report its exception.
            if error.__traceback__ is not None:
                error.__traceback__ = error.__traceback__.tb_next
            Future.set_exception(self, error)
        else:
            # The two common cases, here and nowhere else (every await passes
            # here): a bare yield, as sleep(0) does, and a pending coroloop future
            # of our (coroloop) loop, which we join as one of its done callbacks.
            # _wait_for handles every other case through the asyncio protocol.
            if result is None and self._native:
                loop._ready.append(self)
            elif (_FAST_WAIT.get(type(result)) and self._native and result._loop is loop
                    and result._asyncio_future_blocking
                    and result._state is PENDING and result is not self):
                result._asyncio_future_blocking = False
                # >>> copy add-entry (self -> result, entry -> self)
                entries = result._entries
                if entries is None:
                    result._entries = self
                elif type(entries) is list:
                    entries.append(self)
                else:
                    result._entries = [entries, self]
                # <<< copy add-entry
                # >>> copy waiting-on
                self._fut_waiter = result
                if self._must_cancel and result.cancel(msg=self._cancel_message):
                    self._must_cancel = False
                # <<< copy waiting-on
            else:
                self._wait_for(result)
            return  # the task waits: no check of its state below
        finally:
            _leave_task(loop, self)
        # Here the task is done (each except clause above finishes it).
        # Long chains of finished tasks must not keep each other alive.
        self._parent = None
        # A failed coroutine's frame outlives this step (its traceback holds it)
        # and links back to this frame via f_back; this frame's locals must not
        # keep the task alive, or "exception was never retrieved" would wait for
        # the cyclic GC.
        self = None

    def _wait_for(self, result):
        """Arrange the next step according to what the coroutine yielded, when
        _step's fast paths do not apply: any future through the asyncio protocol
        (a foreign one, one of another loop, one done already), or a bad yield."""
        if result is None:
            self._reschedule_with(None)  # bare yield: run again next iteration
            return
        if type(result) not in _FAST_WAIT:
            _learn_future_class(type(result))  # the next await of it may be fast
        blocking = getattr(result, "_asyncio_future_blocking", None)
        if blocking is not None:
            if future_loop(result) is not self._loop:
                self._reschedule_with(RuntimeError(
                    f"Task {self!r} got Future {result!r} attached to a different loop"))
            elif not blocking:
                self._reschedule_with(RuntimeError(
                    f"yield was used instead of yield from in task {self!r} with {result!r}"))
            elif result is self:
                self._reschedule_with(RuntimeError(f"Task cannot await on itself: {self!r}"))
            else:
                result._asyncio_future_blocking = False
                result.add_done_callback(self._wakeup, context=self._context)
                # >>> rule waiting-on: remember the future; deliver a pending cancel()
                self._fut_waiter = result
                if self._must_cancel and result.cancel(msg=self._cancel_message):
                    self._must_cancel = False
                # <<< rule waiting-on
        elif isinstance(result, types.GeneratorType):
            self._reschedule_with(RuntimeError(
                f"yield was used instead of yield from for generator in task {self!r} "
                f"with {result!r}"))
        else:
            self._reschedule_with(RuntimeError(f"Task got bad yield: {result!r}"))

    def _reschedule_with(self, exc):
        """Step again next iteration, throwing *exc* (None: sending None) in."""
        self._throw = exc
        if self._native:
            self._loop._ready.append(self)
        else:
            self._loop.call_soon(self._step, context=self._context)

    def _wakeup(self, future):
        """Done callback for foreign futures: step, throwing the future's error in."""
        try:
            future.result()
        except BaseException as exc:
            self._throw = exc
        self._step()
        self = None  # see the end of _step

    def _eager_start(self):
        """Run the first step now, inside create_task() (3.12's eager tasks)."""
        loop = self._loop
        previous = _bridge.swap_current_task(loop, None)
        _bridge.register_eager_task(self)
        hooks = loop._instruments if self._native else None
        began = None
        if hooks is not None:
            if hooks.task_step_started is not None:
                hooks.task_step_started(self)
            began = loop.time()
        try:
            self._context.run(self._step)
        finally:
            hooks = loop._instruments if self._native else None
            if hooks is not None:
                if began is not None and (hooks.records_steps or hooks.task_stepped is not None):
                    ended = loop.time()
                    if hooks.records_steps:
                        record_step(self, began, ended)
                    if hooks.task_stepped is not None:
                        hooks.task_stepped(self, began, ended)
                if hooks.task_step_ended is not None:
                    hooks.task_step_ended(self)
                if self._state is not PENDING and hooks.exit_log is not None \
                        and began is not None:
                    log_exit(hooks.exit_log, hooks.exit_seq, self, self._step_record)
                if hooks.task_exited is not None and self._state is not PENDING:
                    hooks.task_exited(self)
            _bridge.swap_current_task(loop, previous)
            _bridge.finish_eager_registration(self, self._state is PENDING)
            if self._state is not PENDING:
                self._coro = None

    # -- cancellation ----------------------------------------------------------------
    def cancel(self, msg: Any | None = None) -> bool:
        """Ask the task to cancel itself: CancelledError is thrown into its coroutine."""
        self._unretrieved = False
        if self._state is not PENDING:
            return False
        self._num_cancels_requested += 1
        if self._native:
            hooks = self._loop._instruments
            if hooks is not None and hooks.task_cancel_requested is not None:
                hooks.task_cancel_requested(self, msg)
        waiter = self._fut_waiter
        if waiter is not None and waiter.cancel(msg=msg):
            # Keep _fut_waiter: if it is a task that swallows the cancellation we may
            # have to cancel it again.
            return True
        self._must_cancel = True
        self._cancel_message = msg
        return True

    def interrupt(self, exc: BaseException) -> bool:
        """Raise *exc* in the task where it awaits, leaving what it awaited alone.

        Unlike ``cancel()`` nothing else is cancelled (a task it awaits goes on);
        the task simply stops waiting and its next step throws *exc* in.  This is
        how ``coroloop.debug`` hands a ``DeadlockError`` to a stuck main task.
        Returns False (and does nothing) if the task is done or not suspended on a
        future.  A coroloop addition: asyncio's tasks have no such method.
        """
        if not isinstance(exc, BaseException):
            raise TypeError(f"interrupt() needs an exception instance, got {exc!r}")
        waiter = self._fut_waiter
        if self._state is not PENDING or waiter is None or waiter.done():
            return False
        if isinstance(waiter, Future) and self._native and waiter._loop is self._loop:
            entries = waiter._entries  # the fast path put the task itself there
            if entries is self:
                waiter._entries = None
            elif type(entries) is list and self in entries:
                entries.remove(self)
            else:
                waiter.remove_done_callback(self._wakeup)
        else:
            waiter.remove_done_callback(self._wakeup)
        self._reschedule_with(exc)
        return True

    def cancelling(self) -> int:
        """How many cancel() requests are pending (not yet withdrawn by uncancel())."""
        return self._num_cancels_requested

    def uncancel(self) -> int:
        """Withdraw one cancel() request; return how many are left."""
        if self._num_cancels_requested > 0:
            self._num_cancels_requested -= 1
            if self._num_cancels_requested == 0 and _bridge.UNCANCEL_CLEARS_PENDING_CANCEL:
                self._must_cancel = False
        return self._num_cancels_requested

    # -- Future methods a task does not allow ------------------------------------
    def set_result(self, result: object) -> None:
        """Not allowed on a task (RuntimeError): its coroutine decides its outcome."""
        raise RuntimeError("Task does not support set_result operation")

    def set_exception(self, exception: object) -> None:
        """Not allowed on a task (RuntimeError): its coroutine decides its outcome."""
        raise RuntimeError("Task does not support set_exception operation")

    # -- introspection ---------------------------------------------------------------
    # Any: the stubs of 3.11 do not allow the None that an eager task gives (3.12's).
    def get_coro(self) -> Any:
        """The coroutine the task wraps (None once an eager task finished without
        suspending, as asyncio 3.12+)."""
        return self._coro

    def get_context(self) -> contextvars.Context:
        """The contextvars.Context the task's steps run in."""
        return self._context

    def get_name(self) -> str:
        """The task's name (``Task-N`` unless one was given)."""
        name = self._name
        if name.__class__ is int:
            # >>> rule default-name: debug.snapshot formats a captured int off the loop
            name = f"Task-{name}"
            # <<< rule default-name
            self._name = name
        return name

    def set_name(self, value: object) -> None:
        """Rename the task (any value, converted with str())."""
        self._name = str(value)

    def waiting_on(self) -> Any:
        """The future (or task) this task is blocked on, or None if it is runnable or done."""
        return self._fut_waiter

    def spawned_by(self) -> Task[Any] | None:
        """The task that was running when this one was created (None: created
        outside any task, or this task has finished)."""
        return self._parent

    def get_stack(self, *, limit: int | None = None) -> list[types.FrameType]:
        """The frames of this task: the await chain while suspended, the traceback
        frames if it failed; oldest first."""
        frames = []
        if self._exception is not None and self._state is FINISHED:
            tb = self._exception.__traceback__
            while tb is not None:
                frames.append(tb.tb_frame)
                tb = tb.tb_next
        else:
            awaitable = self._coro
            while awaitable is not None:
                frame = (getattr(awaitable, "cr_frame", None)
                         or getattr(awaitable, "gi_frame", None))
                if frame is None:
                    break
                frames.append(frame)
                awaitable = (getattr(awaitable, "cr_await", None)
                             or getattr(awaitable, "gi_yieldfrom", None))
        if limit is not None:
            frames = frames[-limit:] if limit < 0 else frames[:limit]
        return frames

    def print_stack(self, *, limit: int | None = None, file: TextIO | None = None) -> None:
        """Print get_stack()'s frames (or the traceback of the task's exception) to
        *file* (default: stderr)."""
        file = sys.stderr if file is None else file
        frames = self.get_stack(limit=limit)
        entries = []
        for frame in frames:
            code = frame.f_code
            linecache.checkcache(code.co_filename)
            entries.append((code.co_filename, frame.f_lineno, code.co_name, None))
        exc = self._exception
        if not entries:
            print(f"No stack for {self!r}", file=file)
        elif exc is not None:
            print(f"Traceback for {self!r} (most recent call last):", file=file)
        else:
            print(f"Stack for {self!r} (most recent call last):", file=file)
        for line in traceback.format_list(
                traceback.StackSummary.from_list(
                    [traceback.FrameSummary(f, l, n) for f, l, n, _ in entries])):
            print(line, file=file, end="")
        if exc is not None:
            for line in traceback.format_exception_only(exc.__class__, exc):
                print(line, file=file, end="")

    def _repr_info(self):
        info = Future._repr_info(self)
        if self._num_cancels_requested and self._state is PENDING:
            info[0] = "cancelling"
        info.insert(1, f"name={self.get_name()!r}")
        if self._coro is not None:
            info.insert(2, f"coro=<{coroutine_repr(self._coro)}>")
        if self._fut_waiter is not None:
            info.insert(3, f"wait_for={self._fut_waiter!r}")
        return info


# The scheduler calls item._callback(item) for a task (_args None): Task._step(task).
_step = Task._step

# Future class -> may a task add itself to its callbacks directly (_step's fast
# path)?  Yes for coroloop's futures and subclasses that keep Future's callback
# machinery (gather's, sock_*'s).  A class not in here yet takes _wait_for's
# protocol path once, which works it out for the next time.  (A plain dict:
# .get() costs less than a subclass with __missing__.)
_FAST_WAIT = {Future: True, Task: True, SleepFuture: True}
_CALLBACK_MACHINERY = ("add_done_callback", "_add_entry", "_schedule_callbacks")


def _learn_future_class(cls) -> None:
    if len(_FAST_WAIT) < 256:  # bounded: classes made on the fly must not grow it forever
        _FAST_WAIT[cls] = issubclass(cls, Future) and all(
            getattr(cls, name) is getattr(Future, name) for name in _CALLBACK_MACHINERY)


def new_task(loop, coro, name, context):
    """Task(coro, loop=loop, name=name, context=context) for coroloop's own open loop.

    create_task's hot path: the same fields and scheduling as Task.__init__'s
    native branch, without type.__call__ packing the keyword arguments into a
    dict and without the generic checks (the caller knows the loop).
    """
    if loop._debug or (coro.__class__ is not _CoroutineType and not iscoroutine(coro)) or (
            context is not None and context.__class__ is not _Context):
        return Task(coro, loop=loop, name=name, context=context)  # the rare cases
    # >>> rule new-task: a task built and scheduled on coroloop's open loop
    task = _new_object(Task)
    # >>> copy future-fields (fut -> task)
    task._loop = loop
    task._state = PENDING
    task._result = None
    task._asyncio_future_blocking = False
    task._entries = None
    # <<< copy future-fields
    task._exception = None
    task._unretrieved = False
    task._log_destroy_pending = True
    task._name = next(_names) if name is None else str(name)
    task._coro = coro
    task._context = _copy_context() if context is None else context
    task._fut_waiter = None
    task._must_cancel = False
    task._throw = None
    task._parent = _current_task_of(loop)
    task._native = True
    task._callback = _step
    task._cancelled = False
    task._args = None
    hooks = loop._instruments
    if hooks is not None and hooks.task_spawned is not None:
        hooks.task_spawned(task)
    loop._ready.append(task)
    if _registry_add is not None:  # seen by asyncio.all_tasks()
        _registry_add(_weakref(task, _registry_discard))
    else:
        _bridge.register_task(task)
    # <<< rule new-task
    return task


def new_child_task(loop, coro, context, entry):
    """A task of coroloop's own open loop (without a task factory), created with
    the done-callback *entry* (an ``(fn, context)`` pair) already registered.

    TaskGroup.create_task's hot path: one call where create_task() and
    add_done_callback() made five.  None if the loop is another one, is closed or
    has a task factory: the caller then goes the general way.
    """
    if (loop.__class__ not in NATIVE_LOOPS or loop._task_factory is not None
            or loop._state is _CLOSED):
        return None
    name = None
    if loop._debug or (coro.__class__ is not _CoroutineType and not iscoroutine(coro)) or (
            context is not None and context.__class__ is not _Context):
        task = Task(coro, loop=loop, context=context)  # the rare cases
        task._add_entry(entry)
        return task
    # new_task(), inlined: a call costs as much as a tenth of the task.
    # >>> copy new-task
    task = _new_object(Task)
    # >>> copy future-fields (fut -> task)
    task._loop = loop
    task._state = PENDING
    task._result = None
    task._asyncio_future_blocking = False
    task._entries = None
    # <<< copy future-fields
    task._exception = None
    task._unretrieved = False
    task._log_destroy_pending = True
    task._name = next(_names) if name is None else str(name)
    task._coro = coro
    task._context = _copy_context() if context is None else context
    task._fut_waiter = None
    task._must_cancel = False
    task._throw = None
    task._parent = _current_task_of(loop)
    task._native = True
    task._callback = _step
    task._cancelled = False
    task._args = None
    hooks = loop._instruments
    if hooks is not None and hooks.task_spawned is not None:
        hooks.task_spawned(task)
    loop._ready.append(task)
    if _registry_add is not None:  # seen by asyncio.all_tasks()
        _registry_add(_weakref(task, _registry_discard))
    else:
        _bridge.register_task(task)
    # <<< copy new-task
    task._entries = entry  # the done callback, registered as add_done_callback would
    return task


def skip_task_number() -> None:
    """Use up the next ``Task-N`` number without creating a task.

    Where asyncio runs a step in a task of its own and coroloop does it inline
    (a server accepting a connection), this keeps the default names of the tasks
    created afterwards the same as asyncio's.
    """
    next(_names)


def current_task(loop: AbstractEventLoop | None = None) -> Task[Any] | None:
    """The task running on *loop* (default: the running loop), or None."""
    return _bridge.current_task(loop)


def all_tasks(loop: AbstractEventLoop | None = None) -> set[Task[Any]]:
    """The not-yet-done tasks of *loop* (default: the running loop)."""
    return _bridge.loop_tasks(loop, Task, PENDING)


def create_task(coro: _TaskCompatibleCoro[_T], *, name: str | None = None,
                context: contextvars.Context | None = None,
                eager_start: bool | None = None) -> Task[_T]:
    """Schedule *coro* on the running loop and return its Task (``eager_start`` on
    every version, as ``loop.create_task``)."""
    loop: Any = _get_running_loop()
    if (name is None and eager_start is None and loop.__class__ in NATIVE_LOOPS
            and loop._task_factory is None):
        # What loop.create_task does: new_task(loop, coro, None, context), inlined
        # (a call costs as much as a tenth of the task).
        if loop._debug or (coro.__class__ is not _CoroutineType and not iscoroutine(coro)) or (
                context is not None and context.__class__ is not _Context):
            return Task(coro, loop=loop, name=name, context=context)  # the rare cases
        # >>> copy new-task
        task = _new_object(Task)
        # >>> copy future-fields (fut -> task)
        task._loop = loop
        task._state = PENDING
        task._result = None
        task._asyncio_future_blocking = False
        task._entries = None
        # <<< copy future-fields
        task._exception = None
        task._unretrieved = False
        task._log_destroy_pending = True
        task._name = next(_names) if name is None else str(name)
        task._coro = coro
        task._context = _copy_context() if context is None else context
        task._fut_waiter = None
        task._must_cancel = False
        task._throw = None
        task._parent = _current_task_of(loop)
        task._native = True
        task._callback = _step
        task._cancelled = False
        task._args = None
        hooks = loop._instruments
        if hooks is not None and hooks.task_spawned is not None:
            hooks.task_spawned(task)
        loop._ready.append(task)
        if _registry_add is not None:  # seen by asyncio.all_tasks()
            _registry_add(_weakref(task, _registry_discard))
        else:
            _bridge.register_task(task)
        # <<< copy new-task
        return task
    return _create_task(loop, coro, name, context,
                        {} if eager_start is None else {"eager_start": eager_start})


if _bridge.CREATE_TASK_PASSES_ANY_KEYWORD:
    # 3.14's signature: any other keyword goes on to loop.create_task (and its task
    # factory).  Up to 3.13 the explicit signature above spares a **kwargs dict per
    # call and refuses unknown keywords as asyncio's does.
    def create_task(coro: _TaskCompatibleCoro[_T], *,  # type: ignore[misc]  # noqa: F811
                    name: str | None = None, context: contextvars.Context | None = None,
                    **kwargs: Any) -> Task[_T]:
        """Schedule *coro* on the running loop and return its Task."""
        loop: Any = _get_running_loop()
        if (name is None and not kwargs and loop.__class__ in NATIVE_LOOPS
                and loop._task_factory is None):
            return new_task(loop, coro, None, context)  # what loop.create_task does
        return _create_task(loop, coro, name, context, kwargs)


def _create_task(loop, coro, name, context, kwargs):
    """create_task() with a name, keywords or a loop other than coroloop's plain one."""
    if name is not None and _bridge.NAMED_TASKS_USE_UP_A_NUMBER:
        # As 3.11/3.12: created unnamed (a Task-N number is used up), named after.
        task = _create_task(loop, coro, None, context, kwargs)
        task.set_name(name)
        return task
    if not kwargs and loop.__class__ in NATIVE_LOOPS and loop._task_factory is None:
        return new_task(loop, coro, name, context)  # what loop.create_task does
    if context is None:
        return loop.create_task(coro, name=name, **kwargs)
    return loop.create_task(coro, name=name, context=context, **kwargs)


@overload
def ensure_future(coro_or_future: _FT, *,  # type: ignore[overload-overlap]  # as typeshed's
                  loop: AbstractEventLoop | None = None) -> _FT: ...
@overload
def ensure_future(coro_or_future: Awaitable[_T], *,
                  loop: AbstractEventLoop | None = None) -> Task[_T]: ...
def ensure_future(coro_or_future: Any, *, loop: Any = None) -> Any:
    """Return a future for *coro_or_future*: futures as they are, coroutines and
    awaitables wrapped in a Task."""
    if isfuture(coro_or_future):
        if loop is not None and loop is not future_loop(coro_or_future):
            raise ValueError("The future belongs to a different loop than "
                             "the one specified as the loop argument")
        return coro_or_future
    is_coro = iscoroutine(coro_or_future)
    if not is_coro:
        if hasattr(coro_or_future, "__await__"):
            coro_or_future = _wrap_awaitable(coro_or_future)
            is_coro = True
        else:
            raise TypeError("An asyncio.Future, a coroutine or an awaitable is required")
    if loop is None:
        loop = _bridge.get_event_loop()
    try:
        return loop.create_task(coro_or_future)
    except RuntimeError:
        coro_or_future.close()
        raise


async def _wrap_awaitable(awaitable):
    return await awaitable



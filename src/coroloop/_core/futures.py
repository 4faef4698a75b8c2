"""Future: a result that will arrive later, following the asyncio future protocol.

The protocol (what stdlib tasks, ``asyncio.wrap_future`` and third-party code rely
on) is: ``_asyncio_future_blocking``, ``get_loop()``, ``add_done_callback(fn, *,
context=None)``, ``done()``, ``result()``, ``__await__``.  coroloop's Future speaks
it, so a stdlib Task can await it, and coroloop's Task can await stdlib futures.

State machine: PENDING -> FINISHED (result or exception) or PENDING -> CANCELLED.
Every transition happens once; trying again raises InvalidStateError naming the
state.  Done callbacks are scheduled (never called synchronously) on the
transition, in registration order.
"""

from __future__ import annotations

import asyncio.futures as _asyncio_futures
import contextvars
import reprlib
from asyncio import exceptions as _exc
from typing import TYPE_CHECKING, Any, TypeVar

from .. import _bridge
from .._repr import format_callback
from .typed import AsyncioFuture
from .handles import extract_source_traceback, new_handle
from .loopstate import NATIVE_LOOPS, LoopState

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop
    from collections.abc import Callable, Generator
    from typing import Self, TypeGuard

_T = TypeVar("_T")

__all__ = ["Future", "new_future", "isfuture", "future_loop", "set_result_if_pending",
           "PENDING", "CANCELLED", "FINISHED", "CancelledError", "InvalidStateError"]

CancelledError = _exc.CancelledError
InvalidStateError = _exc.InvalidStateError

# The states are strings because asyncio's are: they show up in reprs and errors.
PENDING = "PENDING"
CANCELLED = "CANCELLED"
FINISHED = "FINISHED"

_copy_context = contextvars.copy_context
_CLOSED = LoopState.CLOSED
# 3.15: a second __init__() call on a future or task is refused.
_INIT_ONCE = _bridge.FUTURE_INIT_ONCE


# -- isinstance(fut, asyncio.Future) ---------------------------------------------------
# Libraries branch on isinstance(x, asyncio.Future) / asyncio.Task (anyio's cancel
# scopes skip a task whose awaited future is an asyncio.Future that is already done).
# Subclassing asyncio's C Future would make that true, at 10-30% on every benchmark.
# Instead each class below sets __class__, as a plain class attribute, to its
# *asyncio twin*: an empty subclass of asyncio.Future (or Task) with the same name.
# isinstance(obj, C) first checks type(obj); when that is not a subclass of C it
# consults obj.__class__, and the twin is.  Why this is safe and cheap:
# * type(obj) is still coroloop's class: attribute lookup, super(), slots and every
#   method are untouched, and asyncio's C code, which tests the C-level type, never
#   takes a coroloop object for one of its own futures (tests/unit/test_asyncio_isinstance.py).
# * obj.__class__ is a class attribute, not a property: reading it costs a lookup,
#   no call (hot paths in coroloop use type(obj) anyway).
# * the twin stands in for the real class where obj.__class__ is used: its name,
#   module and qualname are the real class's, calling it builds the real class, and
#   subclassing it is refused with the fix in the message.
# What it cannot do is listed in docs/migrating.md: obj.__class__ is not
# type(obj) (functools.singledispatch dispatches on the twin), and a subclass you
# write shows its coroloop base's twin.

def asyncio_twin(module: str, qualname: str, asyncio_class: type) -> type:
    """The class a coroloop future class shows as ``__class__``: *asyncio_class*'s
    subclass standing in for it (use in the class body, see above)."""
    def __new__(twin, *args, **kwargs):
        return twin._coroloop_class(*args, **kwargs)

    def __init_subclass__(cls, **kwargs):
        raise TypeError(
            f"{module}.{qualname}.__class__ stands for {qualname} in isinstance() "
            f"checks and cannot be subclassed: subclass type(obj) instead")

    return type(qualname.rpartition(".")[2], (asyncio_class,), {
        "__module__": module, "__qualname__": qualname, "__slots__": (),
        "__doc__": f"Stands for {module}.{qualname} in isinstance() checks "
                   f"against {asyncio_class.__module__}.{asyncio_class.__qualname__}.",
        "__new__": __new__, "__init_subclass__": classmethod(__init_subclass__),
        "_coroloop_class": None,
    })


class Future(AsyncioFuture[_T]):
    """An awaitable result of an operation that completes later on the loop."""

    # _entries holds the done callbacks: None, one entry, or a list of 2+ entries
    # (most futures have exactly one waiter, so no list is allocated for them).  An
    # entry is an (fn, context) tuple, or a coroloop task waiting on us on a
    # coroloop loop, which is woken by putting it straight on the ready queue.
    #
    # Hot fields live in slots; rarely set ones are class-level defaults that an
    # instance overrides in its (lazily created) __dict__.
    __slots__ = ("_loop", "_result", "_entries", "_asyncio_future_blocking",
                 "__dict__", "__weakref__")
    # The slots' types, for the type checker (annotations only: no class attributes).
    _loop: Any  # coroloop's loop (read directly) or any asyncio loop
    _result: Any
    _entries: Any
    _asyncio_future_blocking: bool
    __class__ = asyncio_twin(__module__, __qualname__, _asyncio_futures.Future)

    # Not a slot, so that a future whose __init__ was skipped still reads as pending.
    _state = PENDING

    # Protocol marker (a slot here): True while a coroutine awaiting this future has
    # yielded it to its task; the task resets it to False.  A class without the
    # attribute is not a future.

    _exception: BaseException | None = None
    _exception_tb: Any = None
    _source_traceback: Any = None
    _cancel_message: Any = None
    # A CancelledError raised inside a task, kept so that result() re-raises it with
    # its original context instead of a fresh one.
    _cancelled_exc: BaseException | None = None
    # True while an exception is set and nobody has looked at it; reported by __del__.
    _unretrieved = False

    def __init__(self, *, loop: AbstractEventLoop | None = None) -> None:
        if _INIT_ONCE and hasattr(self, "_loop"):
            raise RuntimeError(f"{self.__class__.__name__} object is already initialized")
        if loop is None:
            loop = _bridge.get_event_loop()
        # >>> copy future-fields (fut -> self)
        self._loop = loop
        self._state = PENDING
        self._result = None
        self._asyncio_future_blocking = False
        self._entries = None
        # <<< copy future-fields
        if loop.get_debug():
            self._source_traceback = extract_source_traceback(1)

    # Future[int] is types.GenericAlias, as asyncio's: from the Generic base.

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        twin = cls.__dict__.get("__class__")
        if twin is not None:  # the class set its own twin: calling it builds cls
            twin._coroloop_class = cls

    def __dir__(self):
        # object.__dir__ would list the attributes of self.__class__, the twin.
        names = set(dir(type(self)))
        names.update(self.__dict__)
        return sorted(names)

    def __reduce_ex__(self, protocol):
        # As asyncio's: a future belongs to its loop and cannot be copied or pickled.
        raise TypeError(f"cannot pickle {type(self).__name__!r} object")

    # -- introspection ---------------------------------------------------------------
    def get_loop(self) -> AbstractEventLoop:
        """The loop the future is bound to."""
        try:
            return self._loop
        except AttributeError:  # a subclass skipped Future.__init__
            raise RuntimeError("Future object is not initialized.") from None

    def done(self) -> bool:
        """True once the future has a result or an exception, or was cancelled."""
        return self._state is not PENDING

    def cancelled(self) -> bool:
        """True if the future was cancelled."""
        return self._state is CANCELLED

    @property
    def _log_traceback(self):
        return self._unretrieved

    @_log_traceback.setter
    def _log_traceback(self, value):
        if value:
            raise ValueError("_log_traceback can only be set to False")
        self._unretrieved = False

    # -- reading the outcome ---------------------------------------------------------
    def result(self) -> _T:
        """The result, or raise the exception the future was given (CancelledError if
        cancelled, InvalidStateError if not done yet)."""
        state = self._state
        if state is FINISHED:
            self._unretrieved = False
            exc = self._exception
            if exc is not None:
                # The traceback will hold this frame: it must not hold the future or
                # the exception (exc -> traceback -> frame -> exc), or the cyclic GC
                # would have to free them (asyncio's C Future has no frame).
                tb = self._exception_tb
                self = None  # type: ignore[assignment]  # (why: just above)
                try:
                    raise exc.with_traceback(tb)
                finally:
                    exc = tb = None
            return self._result
        if state is CANCELLED:
            raise self._make_cancelled_error()
        raise InvalidStateError("Result is not set.")  # asyncio's C Future's words

    def exception(self) -> BaseException | None:
        """The exception the future was given (None if it has a result);
        CancelledError if cancelled, InvalidStateError if not done yet."""
        state = self._state
        if state is FINISHED:
            self._unretrieved = False
            return self._exception
        if state is CANCELLED:
            raise self._make_cancelled_error()
        raise InvalidStateError("Exception is not set.")

    def _make_cancelled_error(self):
        """The CancelledError that result()/exception() raise for a cancelled future."""
        exc = self._cancelled_exc
        if exc is not None:
            self._cancelled_exc = None
            return exc
        msg = self._cancel_message
        return CancelledError() if msg is None else CancelledError(msg)

    # -- completing ------------------------------------------------------------------
    def set_result(self, result: _T) -> None:
        """Finish the future with *result* and schedule its callbacks;
        InvalidStateError if it is done already."""
        if self._state is not PENDING:
            raise InvalidStateError(_already_done(self))
        self._result = result
        # >>> rule complete: the state changes, then the done callbacks are queued
        self._state = FINISHED
        if self._entries is not None:
            self._schedule_callbacks()
        # <<< rule complete

    def set_exception(self, exception: type | BaseException) -> None:
        """Finish the future with *exception* (a class is instantiated) and schedule
        its callbacks; InvalidStateError if it is done already."""
        if self._state is not PENDING:
            raise InvalidStateError(_already_done(self))
        if isinstance(exception, type):
            exception = exception()
        if not isinstance(exception, BaseException):
            raise TypeError(f"invalid exception object: {exception!r} is not an exception")
        if isinstance(exception, StopIteration):
            exception = _stop_iteration_in_future(exception)
        self._exception = exception
        self._exception_tb = exception.__traceback__
        self._unretrieved = True
        # >>> copy complete
        self._state = FINISHED
        if self._entries is not None:
            self._schedule_callbacks()
        # <<< copy complete

    def cancel(self, msg: Any | None = None) -> bool:
        """Cancel the future (its waiters get CancelledError, with *msg*) and schedule
        its callbacks; False if it was already done."""
        self._unretrieved = False
        if self._state is not PENDING:
            return False
        self._state = CANCELLED
        self._cancel_message = msg
        if self._entries is not None:
            self._schedule_callbacks()
        return True

    # -- callbacks -------------------------------------------------------------------
    def add_done_callback(self, fn: Callable[[Self], object], *,
                          context: contextvars.Context | None = None) -> None:
        """Call ``fn(future)`` once the future is done (at once, through the loop,
        if it is already), in *context* or a copy of the current one."""
        if self._state is not PENDING:
            self._loop.call_soon(fn, self, context=context)
            return
        entry = (fn, _copy_context() if context is None else context)
        # _add_entry(), inlined: gather and wait add one per child.
        # >>> copy add-entry
        entries = self._entries
        if entries is None:
            self._entries = entry
        elif type(entries) is list:
            entries.append(entry)
        else:
            self._entries = [entries, entry]
        # <<< copy add-entry

    def _add_entry(self, entry) -> None:
        """Add a done callback entry (see the class comment) after the others."""
        # >>> rule add-entry
        entries = self._entries
        if entries is None:
            self._entries = entry
        elif type(entries) is list:
            entries.append(entry)
        else:
            self._entries = [entries, entry]
        # <<< rule add-entry

    def _callback_entries(self) -> list:
        callbacks = self._entries
        if callbacks is None:
            return []
        return list(callbacks) if type(callbacks) is list else [callbacks]

    @property
    def _callbacks(self) -> list:
        """The done callbacks as asyncio's Future lists them: [(fn, context), ...].

        Read-only and private, but libraries read it (anyio's find_root_task does),
        so it keeps asyncio's shape whatever the internal representation.
        """
        return [entry if type(entry) is tuple else (entry._step, entry._context)
                for entry in self._callback_entries()]

    def remove_done_callback(self, fn: Callable[[Self], object]) -> int:
        """Remove every registration of *fn*; return how many there were."""
        entries = self._callback_entries()
        kept = [entry for entry in entries if type(entry) is not tuple or entry[0] != fn]
        removed = len(entries) - len(kept)
        if removed:
            self._entries = None
            for entry in kept:
                self._add_entry(entry)
        return removed

    def _schedule_callbacks(self) -> None:
        entries = self._entries
        self._entries = None
        loop = self._loop
        if type(entries) is not list:
            if type(entries) is not tuple:
                loop._ready.append(entries)  # the common case: one coroloop task waiting
                hooks = loop._instruments  # (a task entry: this is coroloop's loop)
                if hooks is not None and hooks.task_woken is not None:
                    hooks.task_woken(entries, self)
                return
            # One (fn, context) entry (a TaskGroup's, wait()'s, a foreign task's):
            # straight to its handle, without a tuple and a loop around it.
            if loop.__class__ in NATIVE_LOOPS and loop._state is not _CLOSED:
                loop._ready.append(new_handle(entries[0], (self,), loop, entries[1]))
            else:
                loop.call_soon(entries[0], self, context=entries[1])
            return
        # On coroloop's (open) loop, handles go straight onto the ready queue: the
        # checks call_soon makes are for callers we do not control.
        direct = loop.__class__ in NATIVE_LOOPS and loop._state is not _CLOSED
        for entry in entries:
            if type(entry) is not tuple:
                loop._ready.append(entry)   # a coroloop task waiting on us
                hooks = loop._instruments
                if hooks is not None and hooks.task_woken is not None:
                    hooks.task_woken(entry, self)
            elif direct:
                loop._ready.append(new_handle(entry[0], (self,), loop, entry[1]))
            else:
                loop.call_soon(entry[0], self, context=entry[1])

    # -- "awaited by" links (3.14's asyncio.future_add_to_awaited_by) ----------------
    # Explicit links (gather's and TaskGroup's, through _bridge) live in a set made on
    # the first one; the tasks waiting on us are read off the callbacks when asked, so
    # awaiting a future costs nothing for this.
    _awaited_by: set | None = None

    def _add_awaited_by(self, waiter) -> None:
        if self._awaited_by is None:
            self._awaited_by = set()
        self._awaited_by.add(waiter)

    def _discard_awaited_by(self, waiter) -> None:
        if self._awaited_by is not None:
            self._awaited_by.discard(waiter)

    @property
    def _asyncio_awaited_by(self):
        """The futures and tasks awaiting this one (asyncio 3.14's attribute, read by
        ``asyncio.capture_call_graph``): a frozenset, or None when there are none."""
        waiters = set(self._awaited_by or ())
        for entry in self._callback_entries():
            if type(entry) is not tuple:
                waiters.add(entry)  # a coroloop task waiting on us
                continue
            owner = getattr(entry[0], "__self__", None)  # a (foreign) task's wakeup
            if owner is not None and owner is not self and hasattr(owner, "get_coro"):
                waiters.add(owner)
        return frozenset(waiters) if waiters else None

    # -- awaiting --------------------------------------------------------------------
    def __await__(self) -> Generator[Any, None, _T]:
        if self._state is PENDING:
            self._asyncio_future_blocking = True
            yield self  # the task running us waits until we are done
            if self._state is PENDING:
                raise RuntimeError("await wasn't used with future")
        if self._state is FINISHED and self._exception is None:
            return self._result  # result(), without the call
        try:
            return self.result()
        finally:
            self = None  # type: ignore[assignment]  # see result(): this frame is in the traceback too

    __iter__ = __await__  # for `yield from` in generator-based coroutines

    # -- reporting -------------------------------------------------------------------
    def __del__(self):
        if not self._unretrieved:
            return
        context = {
            "message": f"{type(self).__name__} exception was never retrieved",
            "exception": self._exception,
            "future": self,
        }
        if self._source_traceback:
            context["source_traceback"] = self._source_traceback
        self._loop.call_exception_handler(context)

    def _repr_info(self) -> list[str]:
        info = [self._state.lower()]
        if self._state is FINISHED:
            if self._exception is not None:
                info.append(f"exception={self._exception!r}")
            else:
                info.append(f"result={reprlib.repr(self._result)}")
        if self._entries is not None:
            info.append(f"cb=[{_format_callbacks(self._callback_entries())}]")
        if self._source_traceback:
            frame = self._source_traceback[-1]
            info.append(f"created at {frame[0]}:{frame[1]}")
        return info

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {' '.join(self._repr_info())}>"


Future.__dict__["__class__"]._coroloop_class = Future


def _already_done(fut) -> str:
    # "invalid state" is what asyncio's (C) Future says; then what its pure-Python
    # Future says: the state and the future.
    return f"invalid state: {fut._state}: {fut!r}"


def _format_callbacks(entries) -> str:
    def one(entry):
        if type(entry) is not tuple:
            return format_callback(entry._step, ())
        return format_callback(entry[0], ())
    if len(entries) <= 2:
        return ", ".join(one(e) for e in entries)
    return f"{one(entries[0])}, <{len(entries) - 2} more>, {one(entries[-1])}"


def _stop_iteration_in_future(exc: StopIteration) -> BaseException:
    """StopIteration would end the awaiting generator instead of raising there."""
    message = "StopIteration interacts badly with generators and cannot be raised into a Future"
    if _bridge.STOP_ITERATION_BECOMES_RUNTIME_ERROR:
        wrapped = RuntimeError(message)
        wrapped.__cause__ = wrapped.__context__ = exc
        return wrapped
    if type(exc) is StopIteration:
        raise TypeError(message)
    return exc


def new_future(loop, _new=object.__new__):
    """Future(loop=loop) without the generic checks, for coroloop's own loop."""
    fut = _new(Future)
    # >>> rule future-fields: what every pending future starts with
    fut._loop = loop
    fut._state = PENDING
    fut._result = None
    fut._asyncio_future_blocking = False
    fut._entries = None
    # <<< rule future-fields
    if loop._debug:
        fut._source_traceback = extract_source_traceback(1)
    return fut


def isfuture(obj: Any) -> TypeGuard[Future[Any]]:
    """True for objects that follow the asyncio future protocol (any implementation)."""
    return (hasattr(obj.__class__, "_asyncio_future_blocking")
            and obj._asyncio_future_blocking is not None)


def future_loop(fut):
    """The loop of any future that follows the asyncio protocol.

    ``fut.get_loop()``; for a future written before ``get_loop()`` joined the
    protocol (3.7), its ``_loop``, as asyncio's own helper does.  An error raised
    inside ``get_loop()`` propagates: only a missing method means "old protocol".
    """
    get_loop = getattr(fut, "get_loop", None)
    return get_loop() if get_loop is not None else fut._loop


def set_result_if_pending(fut, result=None) -> None:
    """Complete *fut* with *result* unless it is done already.

    For callbacks scheduled to complete a future that may have been cancelled (or
    completed another way) in the meantime: that must not become an
    InvalidStateError in the exception handler.
    """
    if not fut.done():
        fut.set_result(result)

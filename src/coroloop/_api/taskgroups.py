"""TaskGroup: structured concurrency, with asyncio 3.11+'s API and semantics.

    async with TaskGroup() as group:
        group.create_task(a())
        group.create_task(b())
    # here every task of the group is done

The first child that fails (with anything but CancelledError) aborts the group:
the other children are cancelled, and so is the body (the parent task) if it is
still running inside ``async with``.  When everything has finished, the failures
are raised together as an ExceptionGroup (a BaseExceptionGroup if one is not an
Exception).  KeyboardInterrupt and SystemExit are raised as they are, not
grouped.  The parent's cancellation count is restored (``uncancel()``) so a
cancel() that came from outside the group still propagates, and one that the
group made does not.

Each version's semantics: 3.13 (gh-116720) withdraws the group's cancel() of the
parent only after the children are done, and when it raises the errors while the
parent is also cancelled from outside, re-arms that cancellation (so the next
await raises it); 3.11/3.12 withdraw it before waiting for the children and
leave the outside cancellation counted but not re-delivered (gate
TASKGROUP_UNCANCELS_AFTER_CHILDREN).  A coroutine the group refuses is closed on
every version (3.11/3.12 leave it to warn "never awaited").

Later asyncio behaviour: ``cancel()`` (3.15) exists on every version (a pure
addition; with 3.15's fix gh-155433, and gh-155418 for groups it cancelled).  3.14+
reports a child that finished inside ``create_task()`` (eagerly) through its done
callback like any other (gh-128550) and passes any keyword on to
``loop.create_task()``; 3.15+ cancels a child that joins a group already aborting
(gh-155418) and re-raises a lone ``GeneratorExit`` out of the body rather than
grouping it (gh-135736).  All gated in ``_bridge``.
"""

from __future__ import annotations

import contextvars
import enum
from typing import TYPE_CHECKING, Any, TypeVar

from asyncio import exceptions as _exc

from .. import _bridge
from .._core.tasks import Task as _Task
from .._core.tasks import new_child_task as _new_child_task

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from types import TracebackType

    from .._core.tasks import Task

_T = TypeVar("_T")

__all__ = ["TaskGroup", "TaskGroupState"]

_CancelledError = _exc.CancelledError
# 3.13's exit (gh-116720) or 3.11/3.12's: see the module docstring.
_AS_313 = _bridge.TASKGROUP_UNCANCELS_AFTER_CHILDREN
# The other gates create_task() and each finishing child read (see the docstring).
_EAGER_CHILDREN_BY_CALLBACK = _bridge.TASKGROUP_EAGER_CHILDREN_REPORTED_BY_CALLBACK
_CANCELS_LATE_JOINERS = _bridge.TASKGROUP_CANCELS_LATE_JOINERS
_AWAITED_BY_LINKS = _bridge.AWAITED_BY_LINKS
_NAMED_TASKS_USE_UP_A_NUMBER = _bridge.NAMED_TASKS_USE_UP_A_NUMBER


class TaskGroupState(enum.Enum):
    """Where a TaskGroup is in its life (whether it is aborting is kept apart:
    a group can abort while its body runs or while it exits)."""

    #: Not entered yet.
    CREATED = "created"
    #: The body of 'async with' is running.
    RUNNING = "entered"
    #: The body is done; waiting for the children to finish.
    EXITING = "exiting"
    #: 'async with' has exited.
    FINISHED = "finished"


_CREATED = TaskGroupState.CREATED
_RUNNING = TaskGroupState.RUNNING
_EXITING = TaskGroupState.EXITING
_FINISHED = TaskGroupState.FINISHED


def _is_fatal(exc: BaseException) -> bool:
    # These stop the program rather than the group: raised as-is, never grouped.
    return isinstance(exc, (SystemExit, KeyboardInterrupt))


class TaskGroup:
    """An async context manager that owns the tasks created through it."""

    def __init__(self) -> None:
        self._state = _CREATED
        # The loop and the task running 'async with' (set on entry).
        self._parent_task: Any = None
        self._loop: Any = None
        # Set by the first failure or cancellation: children are being cancelled
        # and no new task is accepted.  Never reset.
        self._aborting = False
        # Children not done yet, in creation order (a dict used as an ordered
        # set): an abort cancels them in that order, so which child sees its
        # CancelledError first does not depend on memory addresses.
        self._tasks: dict[Any, None] = {}
        # Exceptions of failed children (and of the body), in order of arrival.
        self._errors: list[BaseException] = []
        # The first KeyboardInterrupt/SystemExit seen: raised instead of a group.
        self._fatal_error: BaseException | None = None
        # True when the group itself cancelled the parent (a child failed while
        # the body was running): __aexit__ must uncancel() it exactly once.
        self._parent_cancel_requested = False
        # __aexit__ waits on this until the last child is done.
        self._all_done: Any = None
        # The done callback entry (bound _on_task_done, its context), made once per
        # group rather than per task: coroloop's tasks all hold this one tuple.
        self._done_entry: Any = None
        # cancel() was called before 'async with': cancel on entry.
        self._cancel_on_enter = False
        # cancel() was called (see create_task: gh-155418 on every version for it).
        self._cancel_called = False

    def __repr__(self) -> str:
        info = []
        if self._tasks:
            info.append(f"tasks={len(self._tasks)}")
        if self._errors:
            info.append(f"errors={len(self._errors)}")
        if self._aborting:
            info.append("cancelling")
        elif self._state is not _CREATED:
            info.append(self._state.value)
        return f"<TaskGroup{''.join(' ' + part for part in info)}>"

    # -- entering ----------------------------------------------------------------------
    async def __aenter__(self) -> TaskGroup:
        if self._state is not _CREATED:
            raise RuntimeError(f"TaskGroup {self!r} has already been entered; "
                               "use a new TaskGroup for each 'async with'")
        loop = _bridge.get_running_loop()
        parent = _bridge.current_task(loop)
        if parent is None:
            raise RuntimeError(f"TaskGroup {self!r} cannot determine the parent task; "
                               "use it inside a coroutine run by a task")
        self._loop = loop
        self._parent_task = parent
        self._done_entry = (self._on_task_done, contextvars.copy_context())
        self._state = _RUNNING
        if self._cancel_on_enter:
            self.cancel()
        return self

    # -- creating tasks ----------------------------------------------------------------
    # Two front ends over _adopt(): up to 3.13 the signature is asyncio's own (name=
    # and context= only: no **kwargs dict per child, and an unknown keyword is
    # Python's TypeError, as asyncio's); 3.14+ passes any keyword on.
    def create_task(self, coro: Coroutine[Any, Any, _T], *, name: str | None = None,
                    context: contextvars.Context | None = None) -> Task[_T]:
        """Start *coro* as a task of this group (asyncio.create_task's arguments)."""
        if self._state is not _RUNNING or self._aborting:
            self._refuse(coro)
        if name is None:
            task = _new_child_task(self._loop, coro, context, self._done_entry)
            if task is not None:  # coroloop's plain loop: _adopt()'s work, done
                self._tasks[task] = None
                if _AWAITED_BY_LINKS:
                    _bridge.future_add_to_awaited_by(task, self._parent_task)
                return task
        if name is not None and not _NAMED_TASKS_USE_UP_A_NUMBER:
            task = (self._loop.create_task(coro, name=name) if context is None
                    else self._loop.create_task(coro, name=name, context=context))
        else:
            task = (self._loop.create_task(coro) if context is None
                    else self._loop.create_task(coro, context=context))
            if name is not None:
                # As 3.11/3.12: created unnamed (a Task-N number is used up), named after.
                task.set_name(name)
        return self._adopt(task)

    if _bridge.CREATE_TASK_PASSES_ANY_KEYWORD:
        def create_task(self, coro: Coroutine[Any, Any, _T],  # type: ignore[misc]  # noqa: F811
                        **kwargs: Any) -> Task[_T]:
            """Start *coro* as a task of this group (asyncio.create_task's arguments;
            any other keyword goes on to ``loop.create_task()``)."""
            if self._state is not _RUNNING or self._aborting:
                self._refuse(coro)
            if not kwargs:
                task = _new_child_task(self._loop, coro, None, self._done_entry)
                if task is not None:  # as above
                    self._tasks[task] = None
                    if _AWAITED_BY_LINKS:
                        _bridge.future_add_to_awaited_by(task, self._parent_task)
                    return task
            task = (self._loop.create_task(coro, **kwargs) if kwargs
                    else self._loop.create_task(coro))
            return self._adopt(task)

    def _refuse(self, coro) -> None:
        refusal = self._refusal()
        if refusal is not None:
            coro.close()   # it will never run: no "never awaited" warning
            raise RuntimeError(refusal)

    def _adopt(self, task):
        """Make the new *task* a child of the group; return it."""
        done = task.done()
        if _EAGER_CHILDREN_BY_CALLBACK or not done:
            # 3.14+: even a task that finished inside create_task() (eagerly) is
            # reported by its done callback, so that a failure cannot cancel the body
            # before create_task() has returned (gh-128550).
            self._tasks[task] = None
            entry = self._done_entry
            if type(task) is _Task and not done:
                task._add_entry(entry)  # add_done_callback(), with the group's tuple
            else:
                task.add_done_callback(entry[0], context=entry[1])
            if _AWAITED_BY_LINKS:  # 3.14+: capture_call_graph() follows it
                _bridge.future_add_to_awaited_by(task, self._parent_task)
        else:
            # Finished eagerly, inside create_task(): reported at once (up to 3.13).
            self._on_task_done(task)
        if self._aborting and not task.done() and (
                _CANCELS_LATE_JOINERS or self._cancel_called):
            # The group started aborting during the task's eager first step (the task
            # cancelled or failed it): the task was not among those it cancelled.
            task.cancel()
        try:
            return task
        finally:
            # An eager failure's traceback holds this frame: do not let it hold the task.
            del task

    def _refusal(self):
        """Why create_task() is refused now, or None if it is accepted."""
        state = self._state
        if state is _CREATED:
            return (f"TaskGroup {self!r} has not been entered; create tasks inside "
                    "'async with'")
        if state is _FINISHED or (state is _EXITING and not self._tasks):
            return f"TaskGroup {self!r} is finished; it accepts no new tasks"
        if self._aborting:
            return f"TaskGroup {self!r} is shutting down; it accepts no new tasks"
        return None

    # -- children finishing --------------------------------------------------------------
    def _on_task_done(self, task) -> None:
        tasks = self._tasks
        tasks.pop(task, None)
        if _AWAITED_BY_LINKS and self._parent_task is not None:
            _bridge.future_discard_from_awaited_by(task, self._parent_task)
        if not tasks and self._all_done is not None and not self._all_done.done():
            self._all_done.set_result(None)
        if type(task) is _Task and task._exception is None:
            return  # a result or a cancellation: nothing to report (the common case)
        if task.cancelled() or (exc := task.exception()) is None:
            return
        self._errors.append(exc)
        if self._fatal_error is None and _is_fatal(exc):
            self._fatal_error = exc
        parent = self._parent_task
        if parent.done():
            # The parent left without waiting for us (it cannot happen through
            # 'async with'; report rather than lose the error).
            self._loop.call_exception_handler({
                "message": f"Task {task!r} has errored out but its parent "
                           f"task {parent!r} is already completed",
                "exception": exc,
                "task": task,
            })
            return
        if self._aborting or self._parent_cancel_requested:
            return
        # First failure: stop the siblings, and interrupt the body if it is still
        # awaiting something inside 'async with' (__aexit__ withdraws this cancel).
        self._parent_cancel_requested = True
        self._abort()
        parent.cancel()

    def _abort(self) -> None:
        self._aborting = True
        for task in list(self._tasks):
            if not task.done():
                task.cancel()

    # -- cancelling ----------------------------------------------------------------------
    def cancel(self) -> None:
        """Cancel the group: its unfinished tasks and its body, which then leaves
        ``async with`` without a CancelledError (asyncio 3.15's TaskGroup.cancel(),
        on every version).

        Before ``async with``, the group is cancelled as it is entered; after it,
        this does nothing.  Calling it again does nothing either.
        """
        if self._state is _CREATED:
            self._cancel_on_enter = True
            return
        if self._state is _FINISHED or (self._state is _EXITING and not self._tasks):
            return
        if self._aborting:
            return
        self._cancel_called = True
        self._abort()
        parent = self._parent_task
        if parent is not None and not self._parent_cancel_requested:
            self._parent_cancel_requested = True
            parent.cancel()

    # -- exiting -------------------------------------------------------------------------
    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc_val: BaseException | None,
                        exc_tb: TracebackType | None) -> bool | None:
        try:
            return await self._aexit(exc_type, exc_val)
        finally:
            # Exceptions hold frames that may hold us: break the cycles now.
            self._parent_task = None
            self._errors = None  # type: ignore[assignment]  # the group is over: never read again
            self._fatal_error = None
            self._done_entry = None
            exc_val = exc_tb = None

    async def _aexit(self, exc_type, exc_val):  # asyncio's name (call graphs show it)
        # What this frame refers to is cleared on the way out (finally below): the
        # exception raised from here keeps the frame in its traceback, and the frame
        # must not keep the exceptions, the errors or the parent task alive with it.
        propagate_cancel = last_cancel = fatal = errors = parent = None
        try:
            self._state = _EXITING
            if exc_val is not None and self._fatal_error is None and _is_fatal(exc_val):
                self._fatal_error = exc_val
            # A CancelledError out of the body: ours to pass on unless something
            # more important happened.
            if _AS_313:
                propagate_cancel = exc_val if (exc_type is not None and
                                               issubclass(exc_type, _CancelledError)) else None
            else:
                propagate_cancel = exc_val if exc_type is _CancelledError else None
                if self._parent_cancel_requested:
                    # 3.11/3.12 withdraw our cancel() before waiting for the children.
                    if self._parent_task.uncancel() == 0:
                        propagate_cancel = None
            if exc_type is not None and not self._aborting:
                # The body failed or was cancelled: stop the children.
                self._abort()

            while self._tasks:
                self._all_done = self._loop.create_future()
                try:
                    await self._all_done
                except _CancelledError as cancelled:
                    # The parent was cancelled while we wait (possibly repeatedly):
                    # cancel the children once, and keep waiting for them.
                    last_cancel = cancelled
                    if not self._aborting:
                        propagate_cancel = cancelled
                        self._abort()
                self._all_done = None

            fatal = self._fatal_error
            self._state = _FINISHED
            if fatal is not None:
                raise fatal

            if (not _AS_313 and self._parent_cancel_requested and propagate_cancel is None
                    and last_cancel is not None and self._parent_task.cancelling()):
                # 3.11/3.12 withdrew our cancel() of the parent already: a request
                # from outside that came while we waited must not be lost (gh-155433;
                # as 3.15, only when we cancelled the parent ourselves).
                propagate_cancel = last_cancel
            if self._parent_cancel_requested and _AS_313:
                # Withdraw the cancel() we made; if no other request is left, the
                # CancelledError it caused is not to be propagated.
                if self._parent_task.uncancel() == 0:
                    propagate_cancel = None
                elif propagate_cancel is None:
                    # A request from outside remains: it must not be lost (gh-155433).
                    propagate_cancel = last_cancel

            errors = self._errors
            if propagate_cancel is not None and not errors:
                raise propagate_cancel

            if exc_type is not None and not issubclass(exc_type, _CancelledError):
                errors.append(exc_val)

            if errors:
                parent = self._parent_task
                if parent.cancelling() and _AS_313:
                    # Cancelled from outside as well: keep that request pending, so
                    # it is delivered at the parent's next await (as 3.12+).
                    parent.uncancel()
                    parent.cancel()
                if (_bridge.TASKGROUP_LETS_GENERATOR_EXIT_THROUGH and len(errors) == 1
                        and exc_type is not None and issubclass(exc_type, GeneratorExit)):
                    # Only the body's GeneratorExit: an async generator is being
                    # closed, and aclose() expects exactly that back (gh-135736).
                    raise exc_val
                raise BaseExceptionGroup("unhandled errors in a TaskGroup", errors) from None
            # Whatever the body raised is dealt with (a CancelledError the group
            # caused itself, through cancel()): do not let it propagate.
            return True
        finally:
            exc_val = propagate_cancel = last_cancel = fatal = errors = parent = None

"""Cancellation provenance: who cancelled a task, from where, through what.

``cancelled_by(task_or_exception)`` answers with a ``CancelInfo``: the cancelling
task (id and name, None when the cancel came from a callback or another thread),
the stack of the ``cancel()`` call, its message, and ``via`` — the mechanism that
called ``cancel()``:

    ========== ==============================================================
    via        the innermost library frame of the cancel() call is ...
    ========== ==============================================================
    timeout    a ``timeout()``/``timeout_at()`` expiring
    wait_for   the same, for a ``wait_for()`` (its timeout, or 3.11's own task)
    TaskGroup  a TaskGroup stopping its children (a child failed, the body raised)
    gather     ``gather()`` passing its own cancellation on to its children
    shield     none: the task awaited ``shield(op)`` and *op* was cancelled, which
               cancels the future shield() returned (``cause``: op's cancellation)
    run        ``run()``/``Runner``: Ctrl-C, or cancelling what is left at exit
    direct     none of these: the program called ``task.cancel()`` itself
    ========== ==============================================================

``cause`` chains them: a cancellation made while another one was being delivered
(a TaskGroup's children when its parent task was cancelled; a gather's children
when the task awaiting it was; the task awaiting a shielded operation that was
cancelled) points to that one.

The ``CancelTracker`` instrument records this through the ``task_cancel_requested``
hook (called inside ``cancel()``, so the stack and ``current_task()`` are the
canceller's).  In debug mode it is on, and a ``CancelledError`` that escapes a task
carries the provenance as a note (``add_note``), so a traceback says who cancelled.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import weakref
from typing import Any, cast

import coroloop

from ._tool import LoopTool, current_task_or_none, running_loop_or_none
from .waits import await_chain

__all__ = ["CancelInfo", "CancelTracker", "cancelled_by"]

_RECORD = "_coroloop_cancel_record"
_EXC_ATTRIBUTE = "__coroloop_cancel__"
_STACK_DEPTH = 24

_LIBRARY_DIRS = tuple(os.path.dirname(cast(str, module.__file__)) + os.sep
                      for module in (coroloop, __import__("asyncio")))
# Frames of cancel() itself: not the mechanism (a gather's or a shield's cancel is).
_CANCEL_METHODS = ("Task.cancel", "Future.cancel")
_HOOK_FILE = os.path.join("_core", "instrument.py")
# (file name, qualified-name prefix) of the innermost library frame -> via.  Both
# coroloop's modules and asyncio's (stdlib tasks and timeouts on coroloop's loop).
_VIA_RULES = (
    ("combinators.py", "_wait_for_in_own_task", "wait_for"),
    ("combinators.py", "wait_for", "wait_for"),
    ("tasks.py", "wait_for", "wait_for"),
    ("timeouts.py", "", "timeout"),
    ("taskgroups.py", "", "TaskGroup"),
    ("combinators.py", "_GatheringFuture", "gather"),
    ("tasks.py", "_GatheringFuture", "gather"),
    ("tasks.py", "gather", "gather"),
    ("combinators.py", "_ShieldLink", "shield"),
    ("combinators.py", "shield", "shield"),
    ("tasks.py", "shield", "shield"),
    ("runners.py", "", "run"),
)


@dataclasses.dataclass(frozen=True, slots=True)
class CancelInfo:
    """Where one ``cancel()`` of a task came from (see the module doc).

    ``task_id``/``task_name``: the task cancelled; ``canceller_id``/``canceller_name``:
    the task that called ``cancel()`` (None outside a task); ``stack``: that call's
    frames as ``(filename, lineno, function)``, innermost last; ``message``: the
    ``cancel(msg)`` argument; ``via``: the mechanism; ``time``: loop time;
    ``cause``: the cancellation that led to this one, or None.
    """

    task_id: int
    task_name: str
    canceller_id: int | None
    canceller_name: str | None
    stack: tuple
    message: object
    via: str
    time: float
    cause: "CancelInfo | None" = None

    def describe(self) -> str:
        """One line: who, how, where (and the cause's line after it)."""
        who = ("outside any task" if self.canceller_name is None
               else f"by task {self.canceller_name!r}")
        where = ""
        site = _program_site(self.stack)
        if site is not None:
            where = f" at {site[0]}:{site[1]} in {site[2]}"
        text = f"task {self.task_name!r} cancelled {who} via {self.via}{where}"
        if self.message is not None:
            text += f" (message: {self.message!r})"
        if self.cause is not None:
            text += f"; because {self.cause.describe()}"
        return text

    def to_dict(self) -> dict:
        """JSON-serializable fields (the message as its repr unless a string)."""
        return {"task_id": self.task_id, "task_name": self.task_name,
                "canceller_id": self.canceller_id, "canceller_name": self.canceller_name,
                "stack": [list(entry) for entry in self.stack],
                "message": self.message if isinstance(self.message, (str, type(None)))
                else repr(self.message),
                "via": self.via, "time": self.time,
                "cause": None if self.cause is None else self.cause.to_dict()}


class _Record:
    """Per task: its cancellations, and its coroutine's frame at the first one (whose
    ``f_lineno`` is the line it returned at, if it swallows the cancellation)."""

    __slots__ = ("cancels", "frame")

    def __init__(self) -> None:
        self.cancels: list = []
        self.frame = None


def _record(task, create=False):
    try:
        record = task.__dict__.get(_RECORD)
    except AttributeError:
        return None
    if record is None and create:
        record = task.__dict__[_RECORD] = _Record()
    return record


def cancelled_by(task_or_exception) -> CancelInfo | None:
    """The provenance of a task's latest cancellation, or of a ``CancelledError``
    (one that escaped a task carries it; one caught inside the task that was
    cancelled gives that task's).  None when nothing was recorded (no
    ``CancelTracker`` on the loop: debug mode, or ``CancelTracker.install(loop)``)."""
    if isinstance(task_or_exception, BaseException):
        info = getattr(task_or_exception, _EXC_ATTRIBUTE, None)
        if info is not None:
            return info
        loop = running_loop_or_none()
        task = current_task_or_none(loop) if loop is not None else None
        if task is None:
            return None
        task_or_exception = task
    record = _record(task_or_exception)
    if record is None or not record.cancels:
        return None
    return record.cancels[-1]


class CancelTracker(LoopTool):
    """Records every ``cancel()`` of the loop's tasks (``cancelled_by()`` reads it).

    ``notes=True`` (debug mode's choice) also adds the provenance as a note to the
    ``CancelledError`` that escapes a cancelled task.
    """

    def __init__(self, loop, *, notes: bool = False) -> None:
        self.loop = loop
        self.notes = notes
        # shield()'s future -> the CancelInfo of the shielded task's cancellation.
        self._shielded: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @classmethod
    def install(cls, loop=None, *, notes: bool = False) -> "CancelTracker":
        """The tracker of *loop*, installed now if it had none."""
        if loop is None:
            loop = coroloop.get_running_loop()
        tracker = cls.of(loop)
        if tracker is None:
            tracker = cls(loop, notes=notes)
            tracker._attach()
        elif notes:
            tracker.notes = True
        return tracker

    def _through_shield(self, task) -> None:
        """*task* ended cancelled with no cancel() of its own: if the future it was
        awaiting is a shield's whose operation was cancelled, record that."""
        exc = getattr(task, "_cancelled_exc", None)  # the CancelledError that escaped
        for future in _awaited_at(exc):
            cause = self._shielded.get(future)
            if cause is not None:
                _record(task, create=True).cancels.append(CancelInfo(
                    id(task), task.get_name(), cause.canceller_id, cause.canceller_name,
                    cause.stack, cause.message, "shield", self.loop.time(), cause))
                return

    # -- hooks ------------------------------------------------------------------------
    def task_cancel_requested(self, task, msg) -> None:
        """Instrument hook: record who cancels *task*, from where and why."""
        try:
            frame = sys._getframe(1)
            stack, via, cause = _inspect_cancel_call(frame, task)
            canceller = current_task_or_none(self.loop)
            if cause is None and canceller is not None and canceller is not task \
                    and canceller.cancelling():
                cause = cancelled_by(canceller)
            if via == "timeout" and _awaits_in_wait_for(task):
                via = "wait_for"
            info = CancelInfo(id(task), task.get_name(),
                              None if canceller is None else id(canceller),
                              None if canceller is None else canceller.get_name(),
                              stack, msg, via, self.loop.time(), cause)
            record = _record(task, create=True)
            record.cancels.append(info)
            if record.frame is None:
                coro = task.get_coro()
                record.frame = getattr(coro, "cr_frame", None)
            self._note_shields(task, info)
        except Exception as exc:
            self._fail("task_cancel_requested", exc)

    def _note_shields(self, task, info) -> None:
        """If *task* is shielded (``shield(task)``), remember *info* for the future
        shield() returned: should *task* end cancelled, that future is cancelled
        and so is whoever awaits it -- via "shield" (see task_exited)."""
        for fn, _ in task._callbacks or ():
            link: Any = getattr(fn, "__self__", None)
            if type(link).__name__ == "_ShieldLink":
                self._shielded[link.outer] = info

    def task_exited(self, task) -> None:
        """Instrument hook: a task cancelled through a shield gets its provenance;
        in debug mode, note the provenance on the CancelledError that ends *task*."""
        if not task.cancelled():
            return
        try:
            if self._shielded and not task.cancelling():  # no cancel() reached it
                self._through_shield(task)
            if not self.notes:
                return
            record = _record(task)
            if record is None or not record.cancels:
                return
            exc = getattr(task, "_cancelled_exc", None)  # the CancelledError that escaped
            if exc is not None and getattr(exc, _EXC_ATTRIBUTE, None) is None:
                info = record.cancels[-1]
                setattr(exc, _EXC_ATTRIBUTE, info)
                exc.add_note(f"coroloop.debug: {info.describe()}")
        except Exception as exc:
            self._fail("task_exited", exc)


def _awaited_at(exc) -> list:
    """The futures the frames of *exc*'s traceback were running a method of, innermost
    first (a CancelledError raised at ``await fut`` ends in ``fut``'s own frames)."""
    found = []
    tb = getattr(exc, "__traceback__", None)
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
            owner = frame.f_locals.get("self")
            if owner is not None and coroloop.isfuture(owner):
                found.append(owner)
        tb = tb.tb_next
    found.reverse()
    return found


def _inspect_cancel_call(frame, task):
    """``(stack, via, cause)`` from the frames of a cancel() call, innermost first."""
    stack = []
    via = None
    cause = None
    while frame is not None and len(stack) < _STACK_DEPTH:
        code = frame.f_code
        filename = code.co_filename
        qualname = getattr(code, "co_qualname", code.co_name)
        in_library = filename.startswith(_LIBRARY_DIRS)
        if in_library and qualname in _CANCEL_METHODS:
            owner = frame.f_locals.get("self")
            if cause is None and owner is not task and hasattr(owner, "get_coro"):
                # An enclosing cancel() of another task is delivering its own
                # cancellation (the task awaiting a gather, a shield): the cause.
                cause = cancelled_by(owner)
            if not stack:
                frame = frame.f_back
                continue  # cancel() itself is not part of the caller's stack
        elif not in_library and not filename.startswith(_INSTRUMENT_DIR):
            # The program's own code called cancel() (or called what did): the
            # mechanisms above it on the stack did not cause this cancellation.
            via = via or "direct"
        elif in_library and via is None:
            base = os.path.basename(filename)
            for rule_file, prefix, name in _VIA_RULES:
                if base == rule_file and qualname.startswith(prefix):
                    via = name
                    break
        if not filename.startswith(_INSTRUMENT_DIR) and not filename.endswith(_HOOK_FILE):
            stack.append((filename, frame.f_lineno, qualname))
        frame = frame.f_back
    stack.reverse()
    return tuple(stack), via or "direct", cause


_INSTRUMENT_DIR = os.path.dirname(__file__) + os.sep


def _awaits_in_wait_for(task) -> bool:
    for frame in await_chain(task):
        if frame.f_code.co_name == "wait_for" and \
                frame.f_code.co_filename.startswith(_LIBRARY_DIRS):
            return True
    return False


def _program_site(stack):
    """The innermost entry of *stack* outside coroloop and asyncio (else innermost)."""
    for entry in reversed(stack):
        if not entry[0].startswith(_LIBRARY_DIRS):
            return entry
    return stack[-1] if stack else None

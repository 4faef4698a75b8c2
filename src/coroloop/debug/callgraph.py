"""Call graphs: Python 3.14's ``asyncio.capture_call_graph`` API on every version.

``capture_call_graph(future=None, *, depth=1, limit=None)`` returns a
``FutureCallGraph(future, call_stack, awaited_by)`` whose ``call_stack`` is a tuple
of ``FrameCallGraphEntry(frame)`` (innermost first, as 3.14's) and ``awaited_by`` the
graphs of whoever awaits the future; ``format_call_graph``/``print_call_graph``
render it in 3.14's layout.  It works for coroloop's tasks and futures and for
stdlib tasks on coroloop's loop, on 3.11-3.13 as on 3.14+.

Where the "awaited by" edges come from: 3.14's explicit links (``_asyncio_awaited_by``,
which coroloop's futures keep: ``gather``, ``shield``, ``TaskGroup`` make them there),
else the same inference the snapshot uses (``snapshot.awaiters_of``): tasks waiting
on the future, a gather's children awaited by the task awaiting the gather, a
TaskGroup's children by its parent task.  On 3.14+ ``capture_call_graph`` is
asyncio's own function (the same classes, so results compare equal).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import types

import coroloop


from ._tool import current_task_or_none, running_loop_or_none
from .snapshot import awaiters_of

__all__ = ["FrameCallGraphEntry", "FutureCallGraph", "capture_call_graph",
           "format_call_graph", "print_call_graph"]

_ASYNC_FLAGS = 0x80 | 0x100 | 0x200  # CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR


@dataclasses.dataclass(frozen=True, slots=True)
class FrameCallGraphEntry:
    """One frame of a call stack (3.14's ``asyncio.FrameCallGraphEntry``)."""

    frame: types.FrameType


@dataclasses.dataclass(frozen=True, slots=True)
class FutureCallGraph:
    """A future, its call stack and the graphs of what awaits it (3.14's shape)."""

    future: object
    call_stack: tuple
    awaited_by: tuple


def _check_future(future) -> None:
    if isinstance(future, type) or not coroloop.isfuture(future):
        raise TypeError(f"{future!r} object does not appear to be compatible "
                        f"with asyncio.Future")


def _waiters(future) -> list:
    """Who awaits *future*; a future between (a gather's) is looked through, as
    3.14's gather links its children to the task awaiting it."""
    found = []
    for waiter in awaiters_of(future):
        if hasattr(waiter, "get_coro") or not awaiters_of(waiter):
            if waiter not in found:
                found.append(waiter)
        else:
            found.extend(w for w in _waiters(waiter) if w not in found)
    return found


def _graph_of(future, limit, seen) -> FutureCallGraph:
    _check_future(future)
    stack = []
    get_coro = getattr(future, "get_coro", None)
    coro = get_coro() if get_coro is not None and limit != 0 else None
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None:
            stack.append(FrameCallGraphEntry(frame))
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    stack = _limited(stack, limit)
    stack.reverse()
    seen = seen | {id(future)}
    awaited_by = tuple(_graph_of(waiter, limit, seen) for waiter in _waiters(future)
                       if id(waiter) not in seen)  # a cycle is shown once, not looped
    return FutureCallGraph(future, tuple(stack), awaited_by)


def _limited(stack, limit):
    if limit is None:
        return stack
    if limit > 0:
        return stack[:limit]
    if limit < 0:
        return stack[limit:]
    return []


def capture_call_graph(future=None, /, *, depth: int = 1, limit: int | None = None):
    """The call graph of *future* (default: the current task), or None outside a task.

    *depth* skips frames from the top of the current task's stack; *limit* keeps
    ``abs(limit)`` entries per stack (positive: those nearest the call, negative:
    the outermost; 0: no stacks, only the "awaited by" edges).
    """
    loop = running_loop_or_none()
    current = current_task_or_none(loop) if loop is not None else None
    if future is not None and future is not current:
        return _graph_of(future, limit, frozenset())
    if future is None:
        if loop is None:
            raise RuntimeError("capture_call_graph() is called outside of a running "
                               "event loop and no *future* to introspect was provided")
        future = current
        if future is None:
            return None
    _check_future(future)
    stack = []
    frame = sys._getframe(depth) if limit != 0 else None
    while frame is not None:
        stack.append(FrameCallGraphEntry(frame))
        back = frame.f_back
        if frame.f_code.co_flags & _ASYNC_FLAGS and (
                back is None or not back.f_code.co_flags & (_ASYNC_FLAGS | 0x20)):
            break  # the task's outermost coroutine: below it is the loop
        frame = back
    frame = None
    if limit is not None:
        stack = _limited(stack, -limit)
    awaited_by = tuple(_graph_of(waiter, limit, frozenset({id(future)}))
                       for waiter in _waiters(future))
    return FutureCallGraph(future, tuple(stack), awaited_by)


def format_call_graph(future=None, /, *, depth: int = 1, limit: int | None = None) -> str:
    """The call graph as text, in 3.14's layout (empty string outside a task)."""
    graph = capture_call_graph(future, depth=depth + 1, limit=limit)
    if graph is None:
        return ""
    lines: list[str] = []
    _render(graph, lines, 0)
    return "\n".join(lines)


def _render(graph, lines, level) -> None:
    def add(text):
        lines.append(("    " * level) + text)

    future = graph.future
    if hasattr(future, "get_name"):
        add(f"* Task(name={future.get_name()!r}, id={id(future):#x})")
    else:
        add(f"* Future(id={id(future):#x})")
    if graph.call_stack:
        add("  + Call stack:")
        for entry in graph.call_stack:
            code = entry.frame.f_code
            name = getattr(code, "co_qualname", code.co_name)
            flags = code.co_flags
            tag = ("async " if flags & 0x180 else "async generator " if flags & 0x200
                   else "generator " if flags & 0x20 else "")
            add(f"  |   File {code.co_filename!r}, line {entry.frame.f_lineno}, "
                f"in {tag}{name}()")
    if graph.awaited_by:
        add("  + Awaited by:")
        for parent in graph.awaited_by:
            _render(parent, lines, level + 1)


def print_call_graph(future=None, /, *, file=None, depth: int = 1,
                     limit: int | None = None) -> None:
    """Print ``format_call_graph()`` to *file* (default: stdout)."""
    print(format_call_graph(future, depth=depth, limit=limit), file=file)


if hasattr(asyncio, "capture_call_graph"):
    # 3.14+: asyncio's own, which sees coroloop's futures through their twins and
    # their _asyncio_awaited_by links (and stdlib tasks through theirs).
    # (asyncio's classes replace ours: hence the ignores, and asyncio.graph is 3.14+ only)
    import asyncio.graph as _graph  # type: ignore[import-not-found]
    FrameCallGraphEntry = _graph.FrameCallGraphEntry  # type: ignore[misc]  # noqa: F811
    FutureCallGraph = _graph.FutureCallGraph  # type: ignore[misc]  # noqa: F811
    capture_call_graph = _graph.capture_call_graph  # noqa: F811
    format_call_graph = _graph.format_call_graph  # noqa: F811
    print_call_graph = _graph.print_call_graph  # noqa: F811

"""Readable descriptions of callbacks and coroutines, for reprs and log messages."""

from __future__ import annotations

import functools
import inspect
import reprlib
from typing import Any

__all__ = ["format_args", "format_callback", "callback_location", "coroutine_repr"]


def format_args(args, kwargs=None) -> str:
    """``(1, 'a', key=2)``, each value shortened with reprlib."""
    items = [reprlib.repr(arg) for arg in args or ()]
    items += [f"{key}={reprlib.repr(value)}" for key, value in (kwargs or {}).items()]
    return f"({', '.join(items)})"


def format_callback(callback, args=(), *, show_args: bool = True) -> str:
    """``func(arg1, arg2) at file:line`` for a callback about to be called with *args*.

    A functools.partial shows its own arguments, then the call's:
    ``func(1, 2)(3)``.  With show_args=False every argument list is ``()``.
    """
    calls: list[tuple[Any, Any]] = []  # argument lists, outermost call last
    kwargs = None
    while isinstance(callback, functools.partial):
        calls.insert(0, (args, kwargs))
        callback, args, kwargs = callback.func, callback.args, callback.keywords
    calls.insert(0, (args, kwargs))
    name = getattr(callback, "__qualname__", None) or getattr(callback, "__name__", None)
    text = name if name else repr(callback)
    for call_args, call_kwargs in calls:
        text += format_args(call_args, call_kwargs) if show_args else "()"
    location = callback_location(callback)
    if location:
        text += f" at {location}"
    return text


def callback_location(callback) -> str | None:
    """``file:line`` where the callback's function is defined, if it has one."""
    func = inspect.unwrap(callback) if callable(callback) else callback
    while isinstance(func, (functools.partial, functools.partialmethod)):
        func = inspect.unwrap(func.func)
    code = getattr(func, "__code__", None)
    if code is None:
        func = getattr(func, "__func__", None)
        code = getattr(func, "__code__", None)
    if code is None:
        return None
    return f"{code.co_filename}:{code.co_firstlineno}"


def coroutine_repr(coro) -> str:
    """``name() running at file:line`` / ``name() done, defined at file:line``."""
    name = getattr(coro, "__qualname__", None) or getattr(coro, "__name__", None) \
        or type(coro).__name__
    name = f"{name}()"
    frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None) \
        or getattr(coro, "ag_frame", None)
    code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None) \
        or getattr(coro, "ag_code", None)
    if frame is not None:
        return f"{name} running at {frame.f_code.co_filename}:{frame.f_lineno}"
    if code is not None:
        return f"{name} done, defined at {code.co_filename}:{code.co_firstlineno}"
    return name

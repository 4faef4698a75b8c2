"""Readable descriptions of callbacks and coroutines, for reprs and log messages."""

from __future__ import annotations

import functools
import inspect
import reprlib


def format_args(args) -> str:
    if not args:
        return "()"
    text = reprlib.repr(args)
    return text[:-2] + ")" if len(args) == 1 else text


def format_callback(callback, args=(), suffix: str = "") -> str:
    """``func(arg1, arg2)`` for a callback; unwraps functools.partial."""
    if isinstance(callback, functools.partial):
        inner = format_args(callback.args)
        return format_callback(callback.func, (), inner + suffix) + format_args(args)
    name = getattr(callback, "__qualname__", None) or getattr(callback, "__name__", None)
    text = name if name else repr(callback)
    text += suffix if suffix else ""
    if args is not None:
        text += format_args(args)
    location = callback_location(callback)
    if location:
        text += f" at {location}"
    return text


def callback_location(callback) -> str | None:
    func = inspect.unwrap(callback) if callable(callback) else callback
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

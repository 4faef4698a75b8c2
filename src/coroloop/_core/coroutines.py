"""What counts as a coroutine, and the pre-3.5 generator style.

``coroutine`` keeps generator-based coroutines working (``@coroutine`` on a
generator function that uses ``yield from``), which Python 3.11 removed from
asyncio.  The decorated function returns a real coroutine object, so everything
downstream (tasks, ``iscoroutine``, stdlib asyncio) treats it as one.
"""

from __future__ import annotations

import collections.abc
import functools
import inspect
import types
from typing import TYPE_CHECKING, Any

from .. import _bridge

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from typing_extensions import TypeIs  # (typing's from 3.13; annotations only)

__all__ = ["iscoroutine", "iscoroutinefunction", "coroutine"]

_COROUTINE_TYPES = (types.CoroutineType, collections.abc.Coroutine) + (
    (types.GeneratorType,) if _bridge.ISCOROUTINE_ACCEPTS_GENERATORS else ())
_seen_types: dict[type, bool] = {types.CoroutineType: True}


def iscoroutine(obj: object) -> TypeIs[Coroutine[Any, Any, Any]]:
    """True for coroutine objects (native or any collections.abc.Coroutine)."""
    cls = type(obj)
    known = _seen_types.get(cls)
    if known is None:
        known = isinstance(obj, _COROUTINE_TYPES)
        if len(_seen_types) < 128:  # cache answers per type, bounded
            _seen_types[cls] = known
    return known


# Marker recognised by iscoroutinefunction for @coroutine-decorated functions.
_is_coroutine = object()


def is_coroutine_function(func) -> bool:
    """True for ``async def`` functions and ``@coroutine``-decorated ones.

    coroloop's own checks use this; the public name is ``iscoroutinefunction``,
    which warns on 3.14+ as asyncio's does.
    """
    return (inspect.iscoroutinefunction(func)
            or getattr(func, "_is_coroutine", None) is _is_coroutine)


if _bridge.ISCOROUTINEFUNCTION_DEPRECATED:
    def iscoroutinefunction(func) -> bool:
        """Deprecated as in asyncio 3.14+: use ``inspect.iscoroutinefunction()``."""
        _bridge.warn_deprecated("iscoroutinefunction",
                                "; use inspect.iscoroutinefunction() instead")
        return is_coroutine_function(func)
else:
    def iscoroutinefunction(func) -> bool:
        """True for ``async def`` functions and ``@coroutine``-decorated ones."""
        return is_coroutine_function(func)


def coroutine(func):
    """Decorator for pre-async/await coroutines: generator functions using ``yield from``.

    Works on generator functions and on plain functions (whose result, if
    awaitable, is awaited).  Native ``async def`` functions are returned unchanged.
    """
    if inspect.iscoroutinefunction(func):
        return func
    if not callable(func):
        raise TypeError(f"coroutine() expects a function, got {func!r}")

    if inspect.isgeneratorfunction(func):
        as_awaitable = types.coroutine(func)
    else:
        @types.coroutine
        @functools.wraps(func)
        def as_awaitable(*args, **kwargs):
            result = func(*args, **kwargs)
            if inspect.isgenerator(result) or inspect.isawaitable(result):
                result = yield from _await(result)
            return result

    @functools.wraps(func)
    async def wrapper(*args, **kwargs):
        return await as_awaitable(*args, **kwargs)

    wrapper._is_coroutine = _is_coroutine
    return wrapper


@types.coroutine
def _await(awaitable):
    if inspect.isgenerator(awaitable) or isinstance(awaitable, types.CoroutineType):
        return (yield from awaitable)
    return (yield from awaitable.__await__())

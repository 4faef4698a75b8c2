"""What the type checker sees: base classes that mean one thing to it and another at
run time, and the type aliases of coroloop's signatures.

coroloop's Future and Task are asyncio's for ``isinstance()`` (each sets ``__class__``
to an "asyncio twin", see ``futures.py``) without subclassing asyncio's C classes.
The type checker knows only subclassing, so here it is told what ``isinstance()``
says:

* ``AsyncioFuture[T]`` is ``asyncio.Future[T]`` to the type checker; at run time
  it is ``Generic``'s stand-in below, Future's only base.
* ``AsyncioTask[T]`` is ``asyncio.Task[T]`` to the type checker; at run time it
  vanishes from the bases (``__mro_entries__`` returns nothing): Task's only base is
  coroloop's Future.
* ``Generic`` is ``typing.Generic`` to the type checker (``Queue[str]``); at run time
  an empty slotted class whose subscript is ``types.GenericAlias``, as on asyncio's
  own classes (``Queue[int]`` is ``GenericAlias(Queue, (int,))``), and that adds no
  ``typing`` machinery to the class or its instances.

The aliases (``FileDescriptorLike``, ``SupportsRichComparison``, ``StrOrBytesPath``:
typeshed's private ones, spelled here) exist for the type checker only.
"""

from __future__ import annotations

from types import GenericAlias
from typing import TYPE_CHECKING

__all__ = ["AsyncioFuture", "AsyncioTask", "Generic"]

if TYPE_CHECKING:
    import os
    from asyncio import Future as AsyncioFuture
    from asyncio import Task as AsyncioTask
    from typing import Any, Generic as Generic, Protocol, TypeAlias

    class HasFileno(Protocol):
        def fileno(self) -> int: ...

    class SupportsLessThan(Protocol):
        def __lt__(self, other: Any, /) -> bool: ...

    FileDescriptorLike: TypeAlias = int | HasFileno
    SupportsRichComparison: TypeAlias = SupportsLessThan
    StrOrBytesPath: TypeAlias = str | bytes | os.PathLike[str] | os.PathLike[bytes]
else:
    class Generic:
        """Base of coroloop's generic classes: ``Cls[T]`` is ``types.GenericAlias``."""

        __slots__ = ()
        __class_getitem__ = classmethod(GenericAlias)

    AsyncioFuture = Generic

    class _NoBase:
        """As a base class: none (``class C(AsyncioTask[T], B)`` has the base B)."""

        __slots__ = ()

        def __mro_entries__(self, bases):
            return ()

    class AsyncioTask:
        """``AsyncioTask[T]`` is a base class for the type checker only (see above)."""

        __slots__ = ()

        def __class_getitem__(cls, params):
            return _NO_BASE

    _NO_BASE = _NoBase()

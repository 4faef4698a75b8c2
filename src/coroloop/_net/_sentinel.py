"""The one sentinel shared by the sans-I/O objects of coroloop._net."""

from __future__ import annotations

__all__ = ["NEED_DATA", "NeedData"]


class NeedData:
    """Type of :data:`NEED_DATA`: "not enough bytes yet, feed me more and ask again".

    A parse operation returns it instead of raising, because running out of data is the
    normal case, not an error (h11 does the same).  It has no truth value: ``b''`` (EOF)
    is falsy too, and ``if not result:`` would silently mix up "nothing yet" and "EOF".
    Code must test ``result is NEED_DATA``.
    """

    _instance: NeedData | None = None

    def __new__(cls) -> NeedData:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        raise TypeError(
            "NEED_DATA has no truth value (b'' at EOF is falsy too); "
            "test `result is NEED_DATA` instead"
        )

    def __repr__(self) -> str:
        return "NEED_DATA"

    def __reduce__(self) -> str:
        return "NEED_DATA"


NEED_DATA = NeedData()

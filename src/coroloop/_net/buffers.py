"""The sans-I/O half of ``StreamReader``: a receive buffer with asyncio's parse rules.

:class:`ReadBuffer` holds the bytes a transport delivered and answers ``read(n)``,
``readexactly(n)``, ``readline()`` and ``readuntil(separator)`` either with a result or
with :data:`NEED_DATA`.  It never waits: the async ``StreamReader`` wraps it and adds
only the waiting and the transport's flow control, so each coroutine method is a loop::

    async def readuntil(self, separator=b'\\n'):
        while (result := self._buf.readuntil(separator)) is NEED_DATA:
            await self._wait_for_data('readuntil')   # resumes a paused transport
        self._maybe_resume_transport()
        return result

Everything else is in here, in the order asyncio does it: argument validation, then the
exception set by ``set_exception()``, then parsing; ``IncompleteReadError`` at EOF;
``LimitOverrunError(message, consumed)`` with asyncio's ``consumed`` values; ``readline``
turning an overrun into ``ValueError`` after dropping the offending data.  The
exceptions are asyncio's own classes (DESIGN.md principle 2).

Complexity
----------
The bytes live in one ``bytearray``; consuming from the front is ``del buf[:n]``, which
CPython's bytearray does in O(1) amortized (it moves its start pointer).  One exception
saves the copies on the common path (a transport's bytes read whole by ``read(n)``): a
``bytes`` object fed to an empty buffer is kept as it is (``_chunk``), and ``read(n)``
that takes all of it returns that same object; anything else first moves it into the
bytearray.  A
``readuntil`` that has to wait remembers how far it searched (``_scan_offset``), so a
line that arrives one byte at a time costs O(length), not O(length²).  That memory is
only an optimization: it is valid for one separator and one buffer content, and is
reset whenever bytes are consumed or another separator is asked for.

Differences from asyncio
------------------------
* ``read(-1)`` answers NEED_DATA until EOF and then returns everything, instead of
  consuming ``limit``-sized blocks as they come.  The result is the same; if the caller
  is cancelled, the data stays in the buffer instead of being lost.  Flow control is not
  affected: the wrapper resumes a paused transport every time it waits, as asyncio's
  ``_wait_for_data`` does.
* A tuple of separators (asyncio 3.13) is accepted on every Python version.
* ``feed`` after ``feed_eof`` raises RuntimeError (asyncio: ``assert``).
"""

from __future__ import annotations

from asyncio import IncompleteReadError, LimitOverrunError
from typing import Union

from ._sentinel import NEED_DATA, NeedData

__all__ = ["ReadBuffer", "NEED_DATA", "DEFAULT_LIMIT"]

#: asyncio.streams._DEFAULT_LIMIT: 64 KiB.
DEFAULT_LIMIT = 2**16

_Separator = Union[bytes, bytearray, memoryview, tuple]


def _as_bytes(sep: bytes | bytearray | memoryview) -> bytes:
    if type(sep) is bytes:
        return sep
    # memoryview() refuses what is not bytes-like (str, int), with a TypeError, as
    # bytearray.find() would in asyncio.
    with memoryview(sep) as view:
        return view.tobytes()


class ReadBuffer:
    """Bytes received and not yet consumed, plus the EOF flag and a pending exception.

    ``limit`` is asyncio's stream limit: the longest line/chunk readuntil() accepts
    (the separator not counted).  The wrapper also uses it for flow control
    (pause the transport above ``2 * limit`` buffered bytes, resume at ``limit``).
    """

    __slots__ = ("_buffer", "_chunk", "_eof", "_exception", "_limit", "_scan_key",
                 "_scan_offset")

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        if limit <= 0:
            raise ValueError("Limit cannot be <= 0")
        #: Received bytes not consumed yet.
        self._buffer = bytearray()
        #: A bytes object fed while _buffer was empty, not copied into it yet (None if
        #: none).  Invariant: _buffer is empty while _chunk is set.
        self._chunk: bytes | None = None
        #: feed_eof() was called: no byte will be added any more.
        self._eof = False
        #: Set by set_exception(); raised by every read operation after validating its
        #: arguments (asyncio's order), never cleared.
        self._exception: BaseException | None = None
        self._limit = limit
        #: readuntil() search memory: for separators ``_scan_key`` (the sorted list),
        #: no separator starts before ``_scan_offset`` in the current buffer.
        #: Invariants: _scan_offset == 0 whenever _scan_key is None, and
        #: _scan_offset <= limit (a bigger one raises LimitOverrunError instead).
        self._scan_key: list[bytes] | None = None
        self._scan_offset = 0

    def __repr__(self) -> str:
        info = [f"{len(self)} bytes"]
        if self._eof:
            info.append("eof")
        if self._limit != DEFAULT_LIMIT:
            info.append(f"limit={self._limit}")
        if self._exception is not None:
            info.append(f"exception={self._exception!r}")
        return f"<ReadBuffer {' '.join(info)}>"

    # -- input --------------------------------------------------------------------------

    def feed(self, data: bytes | bytearray | memoryview) -> int:
        """Append received bytes (copied).  Empty data is ignored.  Returns the number
        of bytes now buffered (what the reader's flow control compares to the limit)."""
        if self._eof:
            # asyncio's StreamReader fails this with an assert: the same error here.
            raise AssertionError(
                f"feed_data after feed_eof: {self!r} got bytes after feed_eof() was called")
        if data:
            if type(data) is bytes and self._chunk is None and not self._buffer:
                self._chunk = data  # immutable: kept as it is, copied only if needed
                return len(data)
            self._spill()
            self._buffer += data
        return len(self._buffer) if self._chunk is None else len(self._chunk)

    def _spill(self) -> None:
        """Move a kept ``_chunk`` into the bytearray (before working on the bytearray)."""
        if self._chunk is not None:
            self._buffer += self._chunk
            self._chunk = None

    def feed_eof(self) -> None:
        """No more data will come.  Idempotent."""
        self._eof = True

    def set_exception(self, exc: BaseException) -> None:
        """Make every later read operation raise ``exc`` (StreamReader.set_exception)."""
        self._exception = exc

    # -- state ------------------------------------------------------------------------

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def eof(self) -> bool:
        """feed_eof() was called (bytes may still be buffered; see at_eof())."""
        return self._eof

    def at_eof(self) -> bool:
        """True if feed_eof() was called and every byte has been consumed."""
        return self._eof and not self._buffer and self._chunk is None

    def exception(self) -> BaseException | None:
        return self._exception

    def __len__(self) -> int:
        return len(self._buffer) if self._chunk is None else len(self._chunk)

    def contents(self) -> bytes:
        """The bytes buffered and not consumed yet (a snapshot)."""
        return bytes(self._buffer) if self._chunk is None else self._chunk

    def take_all(self) -> bytes:
        """Remove and return every byte buffered (b'' if none), whatever EOF says."""
        return self._take(len(self))

    # -- parse operations ---------------------------------------------------------------

    def _take(self, n: int) -> bytes:
        # Remove and return the first n bytes (n <= len(self)).
        chunk = self._chunk
        if chunk is not None:
            self._chunk = None
            self._scan_key = None
            self._scan_offset = 0
            if n >= len(chunk):  # all of it: no copy
                return chunk
            with memoryview(chunk) as view:
                self._buffer += view[n:]  # the rest waits in the bytearray
            return chunk[:n]
        buf = self._buffer
        if n >= len(buf):
            data = bytes(buf)
            buf.clear()
        else:
            with memoryview(buf) as view:
                data = bytes(view[:n])
            del buf[:n]
        self._scan_key = None
        self._scan_offset = 0
        return data

    def read(self, n: int = -1) -> bytes | NeedData:
        """Up to ``n`` bytes; ``n < 0``: everything until EOF.

        b'' when ``n == 0``, or at EOF with nothing buffered.  NEED_DATA when the buffer
        is empty and EOF has not been fed (for ``n < 0``: until EOF is fed).
        """
        if self._exception is not None:
            raise self._exception
        if n == 0:
            return b""
        if n < 0:
            if not self._eof:
                return NEED_DATA
            return self._take(len(self))
        if not self._buffer and self._chunk is None:
            return b"" if self._eof else NEED_DATA
        return self._take(n)

    def readexactly(self, n: int) -> bytes | NeedData:
        """Exactly ``n`` bytes, or NEED_DATA.

        At EOF with fewer bytes buffered: raises IncompleteReadError(partial, n) and the
        partial bytes are consumed.
        """
        if n < 0:
            raise ValueError("readexactly size can not be less than zero")
        if self._exception is not None:
            raise self._exception
        if n == 0:
            return b""
        if len(self) < n:
            if not self._eof:
                return NEED_DATA
            raise IncompleteReadError(self._take(len(self)), n)
        return self._take(n)

    def readline(self) -> bytes | NeedData:
        """A line ending with b'\\n'; at EOF the incomplete last line; b'' at EOF.

        A line longer than ``limit`` (newline not counted) raises ValueError: the line
        with its newline is dropped if the newline is buffered, else the whole buffer
        is dropped (asyncio's StreamReader.readline).
        """
        try:
            return self.readuntil(b"\n")
        except IncompleteReadError as e:
            return e.partial
        except LimitOverrunError as e:
            if self._buffer.startswith(b"\n", e.consumed):
                self._take(e.consumed + 1)
            else:
                self._take(len(self._buffer))
            raise ValueError(e.args[0]) from None

    def readuntil(self, separator: _Separator = b"\n") -> bytes | NeedData:
        """Bytes up to and including ``separator``, or NEED_DATA.

        ``separator`` is a non-empty bytes-like object or a non-empty tuple of them; for
        a tuple the shortest result wins (the earliest end; on a tie, the shortest
        separator), as documented for asyncio 3.13.
        Errors, as asyncio's:

        * ``LimitOverrunError('Separator is not found, and chunk exceed the limit',
          consumed)`` when more than ``limit`` bytes are buffered without a separator;
          ``consumed`` is the number of bytes known not to start one.
        * ``LimitOverrunError('Separator is found, but chunk is longer than limit',
          consumed)`` with ``consumed`` the separator's start index.
        * ``IncompleteReadError(partial, None)`` at EOF without a separator; the
          partial bytes are consumed.

        LimitOverrunError leaves the buffer untouched, so the data can be read again.
        """
        # Snapshot as bytes: the scan memory compares separators by value, and a caller's
        # bytearray could change between calls.  (bytes(b) of a bytes is b itself.)
        if isinstance(separator, tuple):
            # The shortest separator first: on equal end positions it wins.
            seps = sorted(map(_as_bytes, separator), key=len)
            if not seps:
                raise ValueError("Separator should contain at least one element")
        else:
            seps = [_as_bytes(separator)]
        min_len = len(seps[0])
        max_len = len(seps[-1])
        if min_len == 0:
            raise ValueError("Separator should be at least one-byte string")
        if self._exception is not None:
            raise self._exception

        self._spill()
        buf = self._buffer
        buflen = len(buf)
        offset = self._scan_offset if seps == self._scan_key else 0
        if buflen - offset >= min_len:
            match_start = match_end = -1
            for sep in seps:
                start = buf.find(sep, offset)
                if start != -1:
                    end = start + len(sep)
                    if match_end == -1 or end < match_end:
                        match_start, match_end = start, end
            if match_end != -1:
                if match_start > self._limit:
                    raise LimitOverrunError(
                        "Separator is found, but chunk is longer than limit", match_start
                    )
                return self._take(match_end)
            # No separator starts before this point: the last max_len - 1 bytes may be
            # the beginning of one that is still arriving.
            offset = max(0, buflen + 1 - max_len)
            if offset > self._limit:
                # Not remembered: asyncio's next call starts from 0 and raises again;
                # with a remembered offset the search (and this check) could be skipped.
                self._scan_key = None
                self._scan_offset = 0
                raise LimitOverrunError(
                    "Separator is not found, and chunk exceed the limit", offset
                )
            self._scan_key = seps
            self._scan_offset = offset
        # A separator completed by the last feed is found above even after feed_eof();
        # only now is EOF an error.
        if self._eof:
            raise IncompleteReadError(self._take(buflen), None)
        return NEED_DATA

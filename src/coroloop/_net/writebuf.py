"""The sans-I/O half of a transport's write side: buffered bytes and flow control.

A transport tries to send directly; what the kernel does not take goes into a
:class:`WriteBuffer`.  When the socket is writable again the transport sends
``buffer.chunks()`` (one ``send`` of the first chunk, or a ``sendmsg`` of several) and
reports what went out with ``consume(n)``.

Flow control follows asyncio's ``_FlowControlMixin``: the protocol is paused when the
buffered size goes *above* the high-water mark and resumed when it falls *to or below*
the low-water mark.  The buffer does not call the protocol; its mutating methods return
whether the transport must now call ``protocol.pause_writing()`` (``append``,
``set_write_buffer_limits``) or ``protocol.resume_writing()`` (``consume``).  Each
returns True exactly once per transition, so pause and resume always alternate.
"""

from __future__ import annotations

from collections import deque

__all__ = ["WriteBuffer", "DEFAULT_HIGH_WATER"]

#: asyncio's default high-water mark, 64 KiB; the low-water mark defaults to a quarter.
DEFAULT_HIGH_WATER = 64 * 1024


def _check_limits(high: int | None, low: int | None) -> tuple[int, int]:
    # asyncio's rules: high defaults to 64 KiB, or 4 * low if only low is given;
    # low defaults to high // 4.
    if high is None:
        high = DEFAULT_HIGH_WATER if low is None else 4 * low
    if low is None:
        low = high // 4
    if not high >= low >= 0:
        raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
    return high, low


class WriteBuffer:
    """Bytes accepted by a transport's write() and not sent yet."""

    __slots__ = ("_chunks", "size", "_high", "_low", "_paused")

    def __init__(self, high: int | None = None, low: int | None = None) -> None:
        self._high, self._low = _check_limits(high, low)
        #: Pending data, oldest first; every chunk is non-empty and immutable (bytes,
        #: or a memoryview of bytes) so that a caller reusing its bytearray after
        #: write() cannot change what is sent.
        self._chunks: deque[bytes | memoryview] = deque()
        #: Sum of the chunks' lengths: read it (a transport's write() does, on every
        #: call: cheaper than len()); only the methods here change it.
        self.size = 0
        #: True between a True from append()/set_write_buffer_limits() (pause_writing)
        #: and the next True from consume() (resume_writing).
        self._paused = False

    def __repr__(self) -> str:
        state = " paused" if self._paused else ""
        return (
            f"<WriteBuffer {self.size} bytes in {len(self._chunks)} chunks "
            f"low={self._low} high={self._high}{state}>"
        )

    # -- limits -------------------------------------------------------------------------

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> bool:
        """Set the watermarks (asyncio's defaults and ValueError); True: pause now.

        As in asyncio, new limits can pause the protocol but never resume it: that
        happens only in consume().
        """
        self._high, self._low = _check_limits(high, low)
        return self._maybe_pause()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        """``(low, high)``, in asyncio's order."""
        return self._low, self._high

    def get_write_buffer_size(self) -> int:
        return self.size

    def __len__(self) -> int:
        return self.size

    @property
    def paused(self) -> bool:
        """The protocol has been told to pause and not resumed yet."""
        return self._paused

    # -- data ---------------------------------------------------------------------------

    def append(self, data: bytes | bytearray | memoryview) -> bool:
        """Queue ``data``; True if the protocol must be paused now.

        bytes (and read-only views of bytes) are kept without copying; anything
        mutable is copied, since the caller may reuse it as soon as write() returns.
        """
        if type(data) is bytes:
            chunk: bytes | memoryview = data
        elif isinstance(data, (bytes, bytearray, memoryview)):
            view = data if isinstance(data, memoryview) else memoryview(data)
            if view.readonly and isinstance(view.obj, bytes) and view.c_contiguous:
                chunk = view.cast("B") if view.format != "B" or view.ndim != 1 else view
            else:
                chunk = view.tobytes()
        else:
            raise TypeError(
                "data argument must be a bytes-like object, "
                f"not {type(data).__name__!r}"
            )
        n = chunk.nbytes if isinstance(chunk, memoryview) else len(chunk)
        if n:
            self._chunks.append(chunk)
            self.size += n
        return self._maybe_pause()

    def chunks(self, max_chunks: int | None = None) -> list[bytes | memoryview]:
        """The pending chunks, oldest first (for ``send`` or ``sendmsg``).

        Nothing is removed: call consume() with the number of bytes actually sent.
        """
        if max_chunks is None or max_chunks >= len(self._chunks):
            return list(self._chunks)
        return [self._chunks[i] for i in range(max_chunks)]

    def consume(self, nbytes: int) -> bool:
        """Forget the first ``nbytes`` (sent); True if the protocol must resume now."""
        if nbytes < 0 or nbytes > self.size:
            raise ValueError(
                f"cannot consume {nbytes} bytes from {self!r}: "
                f"0 <= nbytes <= {self.size} required"
            )
        chunks = self._chunks
        left = nbytes
        while left:
            first = chunks[0]
            n = len(first) if isinstance(first, bytes) else first.nbytes
            if n <= left:
                chunks.popleft()
                left -= n
            else:
                # A slice of a memoryview is O(1): the sent prefix is not copied.
                view = first if isinstance(first, memoryview) else memoryview(first)
                chunks[0] = view[left:]
                left = 0
        self.size -= nbytes
        if self._paused and self.size <= self._low:
            self._paused = False
            return True
        return False

    def clear(self) -> None:
        """Drop everything (abort / connection lost).  The flow-control state stays:
        asyncio does not resume a protocol whose connection is gone."""
        self._chunks.clear()
        self.size = 0

    def _maybe_pause(self) -> bool:
        if not self._paused and self.size > self._high:
            self._paused = True
            return True
        return False

"""ReadBuffer: asyncio's StreamReader parse rules, without waiting.

Besides the explicit cases, a differential test runs random scripts of feeds and reads
against the standard library's own asyncio.StreamReader, driven by hand on a fake loop
(no event loop, no socket), and requires identical results.
"""

from __future__ import annotations

import asyncio
import random
import sys

import pytest

from coroloop._net.buffers import DEFAULT_LIMIT, NEED_DATA, ReadBuffer
from net_helpers import ReadBufferByHand, StreamReaderByHand

HAS_MULTI_SEPARATOR = sys.version_info >= (3, 13)


def test_shared_exception_classes():
    import coroloop._net.buffers as mod

    assert mod.IncompleteReadError is asyncio.IncompleteReadError
    assert mod.LimitOverrunError is asyncio.LimitOverrunError


def test_limit_validation_and_repr():
    with pytest.raises(ValueError, match="Limit cannot be <= 0"):
        ReadBuffer(0)
    with pytest.raises(ValueError, match="Limit cannot be <= 0"):
        ReadBuffer(-1)
    buf = ReadBuffer()
    assert buf.limit == DEFAULT_LIMIT == 2**16
    assert repr(buf) == "<ReadBuffer 0 bytes>"
    buf = ReadBuffer(5)
    buf.feed(b"abc")
    buf.feed_eof()
    assert repr(buf) == "<ReadBuffer 3 bytes eof limit=5>"
    assert len(buf) == 3


def test_feed_types_and_copy():
    buf = ReadBuffer()
    data = bytearray(b"abc")
    buf.feed(data)
    data[:] = b"XYZ"
    buf.feed(memoryview(b"def"))
    buf.feed(b"")
    assert buf.read(10) == b"abcdef"


def test_feed_after_eof_is_an_error():
    buf = ReadBuffer()
    buf.feed_eof()
    buf.feed_eof()  # idempotent
    with pytest.raises(AssertionError, match="^feed_data after feed_eof"):  # asyncio's
        buf.feed(b"x")


def test_at_eof():
    buf = ReadBuffer()
    assert not buf.at_eof() and not buf.eof
    buf.feed(b"line\n")
    buf.feed_eof()
    assert buf.eof and not buf.at_eof()
    assert buf.readline() == b"line\n"
    assert buf.at_eof()


# -- read -------------------------------------------------------------------------------


def test_read():
    buf = ReadBuffer()
    assert buf.read(5) is NEED_DATA
    assert buf.read(0) == b""
    buf.feed(b"hello world")
    assert buf.read(5) == b"hello"
    assert buf.read(100) == b" world"
    assert buf.read(1) is NEED_DATA
    buf.feed_eof()
    assert buf.read(1) == b""
    assert buf.read() == b""


def test_read_all_waits_for_eof():
    buf = ReadBuffer(limit=4)
    buf.feed(b"0123456789")
    assert buf.read(-1) is NEED_DATA
    buf.feed(b"abc")
    assert buf.read() is NEED_DATA
    buf.feed_eof()
    assert buf.read() == b"0123456789abc"
    assert buf.read() == b""


# -- readexactly ----------------------------------------------------------------------------


def test_readexactly():
    buf = ReadBuffer()
    buf.feed(b"abc")
    assert buf.readexactly(4) is NEED_DATA
    buf.feed(b"defg")
    assert buf.readexactly(4) == b"abcd"
    assert buf.readexactly(0) == b""
    assert buf.readexactly(3) == b"efg"


def test_readexactly_eof():
    buf = ReadBuffer()
    buf.feed(b"abc")
    buf.feed_eof()
    with pytest.raises(asyncio.IncompleteReadError) as info:
        buf.readexactly(5)
    assert info.value.partial == b"abc"
    assert info.value.expected == 5
    assert buf.at_eof()


def test_readexactly_negative():
    buf = ReadBuffer()
    buf.set_exception(OSError("x"))
    # Argument validation comes before the stored exception, as in asyncio.
    with pytest.raises(ValueError, match="readexactly size can not be less than zero"):
        buf.readexactly(-1)


# -- readline / readuntil ---------------------------------------------------------------


def test_readline_pieces():
    buf = ReadBuffer()
    for piece in (b"li", b"ne", b"1\nli"):
        assert buf.readline() is NEED_DATA
        buf.feed(piece)
    assert buf.readline() == b"line1\n"
    assert buf.readline() is NEED_DATA
    buf.feed_eof()
    assert buf.readline() == b"li"  # incomplete last line
    assert buf.readline() == b""


def test_readline_limit_newline_buffered():
    # CPython test_readline_limit_with_existing_data: the long line, its newline
    # included, is dropped; the next line stays.
    buf = ReadBuffer(limit=5)
    buf.feed(b"long ")
    buf.feed(b"line1\nline2\n")
    with pytest.raises(ValueError, match="is found"):
        buf.readline()
    assert buf.readline() == b"line2\n"


def test_readline_limit_no_newline_clears_buffer():
    buf = ReadBuffer(limit=3)
    buf.feed(b"li")
    buf.feed(b"ne1")
    buf.feed(b"li")
    with pytest.raises(ValueError, match="not found") as info:
        buf.readline()
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert len(buf) == 0


def test_readline_limit_over_time():
    # The overrun is detected as soon as the buffered bytes exceed the limit.
    buf = ReadBuffer(limit=7)
    buf.feed(b"chunk1")
    assert buf.readline() is NEED_DATA
    buf.feed(b"chunk2")
    with pytest.raises(ValueError):
        buf.readline()
    buf.feed(b"chunk3\n")
    assert buf.readline() == b"chunk3\n"


def test_readuntil():
    buf = ReadBuffer()
    buf.feed(b"some dataAA")
    assert buf.readuntil(b"AAA") is NEED_DATA
    buf.feed(b"A and more")
    assert buf.readuntil(b"AAA") == b"some dataAAA"
    assert buf.readuntil(bytearray(b"mo")) == b" and mo"
    assert buf.readuntil(memoryview(b"e")) == b"re"


def test_readuntil_separator_validation():
    buf = ReadBuffer()
    buf.set_exception(OSError("x"))
    with pytest.raises(ValueError, match="Separator should be at least one-byte string"):
        buf.readuntil(b"")
    with pytest.raises(ValueError, match="Separator should contain at least one element"):
        buf.readuntil(())
    with pytest.raises(ValueError, match="Separator should be at least one-byte string"):
        buf.readuntil((b"a", b""))
    with pytest.raises(TypeError):
        buf.readuntil("\n")  # type: ignore[arg-type]
    with pytest.raises(OSError):
        buf.readuntil(b"\n")


def test_readuntil_eof():
    buf = ReadBuffer()
    buf.feed(b"some dataAA")
    buf.feed_eof()
    with pytest.raises(asyncio.IncompleteReadError, match="undefined expected bytes") as info:
        buf.readuntil(b"AAA")
    assert info.value.partial == b"some dataAA"
    assert info.value.expected is None
    assert buf.at_eof()


def test_readuntil_separator_completed_by_last_feed_before_eof():
    buf = ReadBuffer()
    buf.feed(b"abc\r")
    assert buf.readuntil(b"\r\n") is NEED_DATA
    buf.feed(b"\n")
    buf.feed_eof()
    assert buf.readuntil(b"\r\n") == b"abc\r\n"


def test_readuntil_limit_consumed_values():
    buf = ReadBuffer(limit=3)
    buf.feed(b"some dataAA")
    with pytest.raises(asyncio.LimitOverrunError, match="not found") as info:
        buf.readuntil(b"AAA")
    # Bytes known not to start a separator: len - (len(sep) - 1).
    assert info.value.consumed == 11 + 1 - 3
    assert len(buf) == 11  # untouched
    buf.feed(b"A")
    with pytest.raises(asyncio.LimitOverrunError, match="is found") as info:
        buf.readuntil(b"AAA")
    assert info.value.consumed == 9  # where the separator starts
    assert len(buf) == 12
    # The data can be read again (e.g. with a bigger chunk).
    assert buf.readexactly(12) == b"some dataAAA"


def test_readuntil_limit_is_inclusive():
    buf = ReadBuffer(limit=3)
    buf.feed(b"abc\n")
    assert buf.readuntil(b"\n") == b"abc\n"  # 3 bytes + separator is fine
    buf.feed(b"abcd")
    with pytest.raises(asyncio.LimitOverrunError) as info:
        buf.readuntil(b"\n")
    assert info.value.consumed == 4


def test_readuntil_multi_separator():
    buf = ReadBuffer()
    buf.feed(b"line 1\nline 2\r")
    assert buf.readuntil((b"\r", b"\n")) == b"line 1\n"
    assert buf.readuntil((b"\r", b"\n")) == b"line 2\r"
    # The first end position wins, even if that is the longer separator.
    buf.feed(b"ABCDEFG")
    assert buf.readuntil((b"DEF", b"BCDE")) == b"ABCDE"
    assert buf.read(10) == b"FG"


def test_readuntil_multi_separator_tie_prefers_shortest():
    buf = ReadBuffer(limit=3)
    buf.feed(b"some dataA")
    # Both end at the same place; the shortest (b'A', starting at 9) is "the one that
    # matched", so the chunk is over the limit.
    with pytest.raises(asyncio.LimitOverrunError, match="is found") as info:
        buf.readuntil((b"A", b"ome dataA"))
    assert info.value.consumed == 9
    assert len(buf) == 10


def test_readuntil_multi_separator_negative_offset():
    buf = ReadBuffer()
    buf.feed(b"data")
    assert buf.readuntil((b"A", b"long sep")) is NEED_DATA
    buf.feed(b"Z")
    assert buf.readuntil((b"A", b"long sep")) is NEED_DATA
    buf.feed(b"Aaaa")
    assert buf.readuntil((b"A", b"long sep")) == b"dataZA"
    assert buf.read(10) == b"aaa"


def test_readuntil_scan_memory_is_per_separator():
    # A search for b'xy' remembers it scanned the buffer; asking for another separator
    # must not skip data.
    buf = ReadBuffer()
    buf.feed(b"a\nbbbbb")
    assert buf.readuntil(b"xy") is NEED_DATA
    assert buf.readuntil(b"\n") == b"a\n"
    buf.feed(b"x")
    assert buf.readuntil(b"xy") is NEED_DATA
    buf.feed(b"y")
    assert buf.readuntil(b"xy") == b"bbbbbxy"


def test_readuntil_separator_split_across_feeds_one_byte_at_a_time():
    buf = ReadBuffer()
    data = b"x" * 10_000 + b"--boundary--" + b"tail"
    for i in range(len(data)):
        result = buf.readuntil(b"--boundary--")
        if result is not NEED_DATA:
            break
        buf.feed(data[i : i + 1])
    else:
        result = buf.readuntil(b"--boundary--")
    assert result == b"x" * 10_000 + b"--boundary--"


def test_set_exception():
    buf = ReadBuffer()
    buf.feed(b"data\n")
    exc = ConnectionResetError("boom")
    buf.set_exception(exc)
    assert buf.exception() is exc
    assert "exception=ConnectionResetError('boom')" in repr(buf)
    for op in (lambda: buf.read(1), lambda: buf.read(0), buf.readline,
               lambda: buf.readexactly(1), lambda: buf.readexactly(0)):
        with pytest.raises(ConnectionResetError):
            op()


# -- differential test against asyncio.StreamReader ------------------------------------------


SEPARATORS = [b"\n", b"ab", b"aba", b"XYZW", bytearray(b"b\n")]
if HAS_MULTI_SEPARATOR:
    SEPARATORS += [(b"\n", b"ab"), (b"XYZW", b"Z"), (b"aba", b"ba", b"b\n")]


def _random_op(rng):
    kind = rng.choice(["read", "read", "readexactly", "readline", "readuntil", "readuntil"])
    if kind == "read":
        return kind, (rng.choice([-1, 0, 1, 2, 3, 5, 8, 100]),)
    if kind == "readexactly":
        return kind, (rng.randint(0, 12),)
    if kind == "readline":
        return kind, ()
    return kind, (rng.choice(SEPARATORS),)


@pytest.mark.parametrize("seed", range(300))
def test_matches_asyncio_streamreader(seed):
    rng = random.Random(seed)
    limit = rng.choice([1, 2, 3, 5, 8, 1000])
    ref, ours = StreamReaderByHand(limit), ReadBufferByHand(limit)
    data = bytes(rng.choice(b"ab\nXYZW") for _ in range(rng.randint(0, 120)))
    pos = 0
    ops = rng.randint(1, 25)
    log = []
    while ops or ref.coro is not None:
        if ref.coro is None:
            name, args = _random_op(rng)
            ops -= 1
            r, o = ref.start(name, *args), ours.start(name, *args)
            log.append((name, args, r))
        else:
            if pos < len(data):
                n = rng.randint(1, 6)
                chunk = data[pos : pos + n]
                pos += n
                ref.reader.feed_data(chunk)
                ours.buf.feed(chunk)
            else:
                ref.reader.feed_eof()
                ours.buf.feed_eof()
            r, o = ref.poll(), ours.poll()
        assert o == r, (seed, log)
        assert ours.buf.at_eof() == ref.reader.at_eof()
    # What is left is the same too.
    ref.reader.feed_eof()
    ours.buf.feed_eof()
    assert ours.start("read", -1) == ref.start("read", -1)


def test_fed_bytes_are_returned_without_copies():
    # A bytes object fed to an empty buffer is kept as it is: read(n) taking all of
    # it returns the very object (the stream read path does no copy).
    buf = ReadBuffer()
    data = b"x" * 10_000
    buf.feed(data)
    assert len(buf) == 10_000
    assert buf.read(65536) is data
    assert buf.read(1) is NEED_DATA
    # Part of it: the rest stays buffered, in order, with later data.
    buf.feed(b"hello world\n")
    assert buf.read(5) == b"hello"
    buf.feed(b"more\n")
    assert buf.readline() == b" world\n"
    assert buf.readline() == b"more\n"
    # Mutable input is copied at once.
    ba = bytearray(b"abc")
    buf.feed(ba)
    ba[:] = b"zzz"
    assert buf.read(10) == b"abc"
    # Other operations see a kept chunk like any buffered bytes.
    buf.feed(b"12345")
    assert buf.readexactly(2) == b"12"
    buf.feed(b"6")
    assert buf.readuntil(b"6") == b"3456"
    buf.feed(b"tail")
    buf.feed_eof()
    assert not buf.at_eof()
    assert buf.read(-1) == b"tail"
    assert buf.at_eof()

"""WriteBuffer: asyncio's write-side flow control without a transport."""

from __future__ import annotations

import array
import random

import pytest

from coroloop._net.writebuf import DEFAULT_HIGH_WATER, WriteBuffer


def test_default_limits():
    buf = WriteBuffer()
    assert DEFAULT_HIGH_WATER == 64 * 1024
    assert buf.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
    assert buf.get_write_buffer_size() == 0 and len(buf) == 0
    assert not buf.paused


@pytest.mark.parametrize(
    "high, low, expected",
    [
        (None, None, (16384, 65536)),
        (100, None, (25, 100)),
        (None, 10, (10, 40)),
        (0, None, (0, 0)),
        (None, 0, (0, 0)),
        (10, 10, (10, 10)),
        (3, None, (0, 3)),
    ],
)
def test_limit_defaults_like_asyncio(high, low, expected):
    buf = WriteBuffer()
    buf.set_write_buffer_limits(high, low)
    assert buf.get_write_buffer_limits() == expected
    assert WriteBuffer(high, low).get_write_buffer_limits() == expected


@pytest.mark.parametrize(
    "high, low, message",
    [
        (1, 2, "high (1) must be >= low (2) must be >= 0"),
        (-1, None, "high (-1) must be >= low (-1) must be >= 0"),
        (None, -1, "high (-4) must be >= low (-1) must be >= 0"),
        (5, -1, "high (5) must be >= low (-1) must be >= 0"),
    ],
)
def test_limit_validation_like_asyncio(high, low, message):
    buf = WriteBuffer(10, 5)
    with pytest.raises(ValueError) as info:
        buf.set_write_buffer_limits(high=high, low=low)
    assert str(info.value) == message
    assert buf.get_write_buffer_limits() == (5, 10)  # unchanged
    with pytest.raises(ValueError):
        WriteBuffer(high, low)


def test_pause_above_high_resume_at_low():
    buf = WriteBuffer(high=10, low=4)
    assert buf.append(b"x" * 10) is False  # == high: not above
    assert buf.append(b"y") is True  # 11 > 10: pause_writing()
    assert buf.paused
    assert buf.append(b"z" * 100) is False  # already paused: no second call
    assert buf.consume(100) is False  # 11 left > 4
    assert buf.consume(7) is True  # 4 <= low: resume_writing()
    assert not buf.paused
    assert buf.consume(4) is False
    assert buf.append(b"") is False


def test_set_limits_can_pause_but_never_resume():
    buf = WriteBuffer(high=100)
    buf.append(b"x" * 50)
    assert buf.set_write_buffer_limits(high=20) is True
    assert buf.paused
    assert buf.set_write_buffer_limits(high=1000) is False
    assert buf.paused  # asyncio resumes only when the buffer drains
    assert buf.consume(50) is True


def test_high_zero_pauses_on_any_data():
    buf = WriteBuffer(high=0)
    assert buf.append(b"a") is True
    assert buf.consume(1) is True


def test_chunks_and_partial_consume():
    buf = WriteBuffer()
    buf.append(b"hello ")
    buf.append(bytearray(b"big "))
    buf.append(memoryview(b"world"))
    assert [bytes(c) for c in buf.chunks()] == [b"hello ", b"big ", b"world"]
    assert [bytes(c) for c in buf.chunks(2)] == [b"hello ", b"big "]
    buf.consume(3)
    assert b"".join(buf.chunks()) == b"lo big world"
    buf.consume(7)
    assert b"".join(buf.chunks()) == b"world"
    assert buf.get_write_buffer_size() == 5
    buf.consume(5)
    assert buf.chunks() == []


def test_copies_only_mutable_data():
    buf = WriteBuffer()
    data = b"immutable"
    ba = bytearray(b"mutable")
    mv_of_ba = memoryview(bytearray(b"view"))
    ro_view = memoryview(b"0123456789")[2:5]
    for d in (data, ba, mv_of_ba, ro_view):
        buf.append(d)
    chunks = buf.chunks()
    assert chunks[0] is data  # bytes kept as is
    assert chunks[3].obj is ro_view.obj  # read-only view of bytes: no copy
    ba[:] = b"XXXXXXX"
    mv_of_ba[:] = b"YYYY"
    assert b"".join(buf.chunks()) == b"immutablemutableview234"


def test_non_byte_formats_count_bytes():
    buf = WriteBuffer()
    arr = array.array("i", [1, 2, 3])
    buf.append(memoryview(arr))
    assert buf.get_write_buffer_size() == arr.itemsize * 3
    ints = memoryview(bytes(range(8))).cast("I")  # read-only, of bytes, format 'I'
    buf.append(ints)
    assert buf.get_write_buffer_size() == arr.itemsize * 3 + 8
    buf.consume(arr.itemsize * 3 + 1)
    assert b"".join(buf.chunks()) == bytes(range(1, 8))
    strided = memoryview(b"abcdef")[::2]
    buf.append(strided)
    assert b"".join(buf.chunks())[-3:] == b"ace"


def test_type_errors():
    buf = WriteBuffer()
    with pytest.raises(TypeError, match="data argument must be a bytes-like object, not 'str'"):
        buf.append("text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not 'int'"):
        buf.append(5)  # type: ignore[arg-type]


def test_consume_bounds():
    buf = WriteBuffer()
    buf.append(b"abc")
    with pytest.raises(ValueError, match="0 <= nbytes <= 3"):
        buf.consume(4)
    with pytest.raises(ValueError):
        buf.consume(-1)
    assert buf.consume(0) is False


def test_clear_keeps_flow_state():
    buf = WriteBuffer(high=1)
    assert buf.append(b"abc") is True
    buf.clear()
    assert buf.get_write_buffer_size() == 0 and buf.chunks() == []
    assert buf.paused
    assert "0 bytes in 0 chunks low=0 high=1 paused" in repr(buf)


@pytest.mark.parametrize("seed", range(20))
def test_random_writes_and_partial_sends(seed):
    rng = random.Random(seed)
    high = rng.randint(0, 300)
    low = rng.randint(0, high)
    buf = WriteBuffer(high, low)
    sent = bytearray()
    written = bytearray()
    paused = False
    for _ in range(300):
        if rng.random() < 0.5:
            data = rng.randbytes(rng.randint(0, 100))
            kind = rng.choice([bytes, bytearray, memoryview])
            written += data
            if buf.append(kind(data)):
                assert not paused
                paused = True
        else:
            # A partial send of the first chunks, like sendmsg would do.
            avail = b"".join(buf.chunks(rng.randint(1, 3)))
            n = rng.randint(0, len(avail))
            sent += avail[:n]
            if buf.consume(n):
                assert paused
                paused = False
        size = buf.get_write_buffer_size()
        assert size == len(written) - len(sent)
        assert buf.paused == paused
        if not paused:
            assert size <= high
        if paused and size <= low:
            raise AssertionError("should have resumed")
    sent += b"".join(buf.chunks())
    assert sent == written

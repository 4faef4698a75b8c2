"""Fuzz target: the stream buffer (``ReadBuffer``) against asyncio's StreamReader.

The input is a sequence of operations -- feed bytes, feed EOF, read(n),
readexactly(n), readline(), readuntil(separator) with fuzzed separators and limits
-- applied to coroloop's sans-I/O ``ReadBuffer`` and to stdlib asyncio's
``StreamReader`` (driven without a loop: a method that would wait yields, which we
treat as "needs data").  Both must give the same answer or the same exception,
and the buffer must never hold more than was fed.  A difference, or any other
exception, is a crash for the fuzzer.

    python tests/stress/fuzz/fuzz_streams.py -max_total_time=60 WORKDIR \
        tests/stress/fuzz/corpus/streams
"""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "unit", "net"))
from fuzzinput import Input, main  # noqa: E402
from net_helpers import PENDING, ReadBufferByHand, StreamReaderByHand  # noqa: E402

HAS_MULTI_SEPARATOR = sys.version_info >= (3, 13)


def _separator(inp):
    if HAS_MULTI_SEPARATOR and inp.choice(4) == 0:
        return tuple(inp.bytes(6) or b"\n" for _ in range(1 + inp.choice(3)))
    sep = inp.bytes(8)
    return sep if inp.choice(8) else b""  # an empty separator now and then


def test_one_input(data: bytes) -> None:
    inp = Input(data)
    limit = 1 + inp.number(12)
    ref, ours = StreamReaderByHand(limit), ReadBufferByHand(limit)
    fed = 0
    eof = False
    for _ in range(200):
        if not inp:
            break
        if ref.coro is None:
            kind = inp.choice(5)
            if kind == 0:
                args = ("read", inp.number(12) - 2048 if inp.choice(2) else inp.number(8))
                if args[1] == -1 and not eof:
                    args = ("read", 1)  # read(-1) differs by design before EOF (buffers.py)
            elif kind == 1:
                args = ("readexactly", inp.number(8) - (inp.choice(16) == 0))
            elif kind == 2:
                args = ("readline",)
            else:
                args = ("readuntil", _separator(inp))
            theirs, mine = ref.start(*args), ours.start(*args)
        else:
            if not eof and inp.choice(6):
                chunk = inp.bytes(200)
                ref.reader.feed_data(chunk)
                ours.buf.feed(chunk)
                fed += len(chunk)
            else:
                if not eof:
                    ref.reader.feed_eof()
                    ours.buf.feed_eof()
                    eof = True
            theirs, mine = ref.poll(), ours.poll()
            if theirs is PENDING and mine is PENDING and eof:
                raise AssertionError("pending after EOF")
        if mine != theirs:
            raise AssertionError(f"coroloop {mine!r} != asyncio {theirs!r} (args {args!r})")
        if len(ours.buf) > fed:
            raise AssertionError("the buffer holds more than was fed")
    if ref.coro is not None:
        ref.coro.close()


if __name__ == "__main__":
    main(test_one_input)

"""Decode a fuzzer's bytes into operations, the same way with or without atheris.

Both harnesses read their input through :class:`Input`, so a corpus file means
the same operations whether atheris runs it (coverage-guided, ``make stress``) or
the plain replay in ``tests/stress/test_fuzz_corpus.py`` does (``make test``,
where atheris need not be installed).
"""

from __future__ import annotations


class Input:
    """Bytes consumed from the front; exhausted input reads as zeros/empty."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def __bool__(self) -> bool:
        return self._pos < len(self._data)

    def byte(self) -> int:
        if self._pos >= len(self._data):
            return 0
        value = self._data[self._pos]
        self._pos += 1
        return value

    def choice(self, n: int) -> int:
        return self.byte() % n

    def number(self, bits: int = 16) -> int:
        value = 0
        for _ in range((bits + 7) // 8):
            value = value << 8 | self.byte()
        return value & ((1 << bits) - 1)

    def bytes(self, max_len: int = 64) -> bytes:
        n = min(self.number(16) % (max_len + 1), len(self._data) - self._pos)
        chunk = self._data[self._pos:self._pos + n]
        self._pos += n
        return chunk


def main(test_one_input) -> None:
    """Run *test_one_input* under atheris (``python fuzz_X.py [libFuzzer flags] DIRS``)."""
    import sys

    import atheris
    # Coverage for everything imported so far: coroloop's modules (and the ssl and
    # asyncio Python code they call), so the fuzzer learns which inputs go deeper.
    atheris.instrument_all()
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()

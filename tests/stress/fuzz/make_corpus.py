"""Write the seed corpus (a few hand-made inputs) for the fuzz targets.

The seeds walk the interesting paths once -- a full TLS handshake with data both
ways and a clean shutdown, a TLS 1.2 one, stream reads of every kind -- so the
fuzzer starts from deep states.  ``make stress`` fuzzes from these into a scratch
directory; the corpus kept in the repo stays these small files.
"""

from __future__ import annotations

import pathlib

HERE = pathlib.Path(__file__).parent


def op(n, side):  # fuzz_tls: operation n (0-5) for side 0 (client) or 1 (server)
    return bytes([n * 2 + side])


def blob(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


HANDSHAKE = (op(0, 0) + op(1, 0) + b"\0" + op(0, 1) + op(1, 1) + b"\0"
             + op(0, 0) + op(1, 0) + b"\0" + op(0, 1) + op(1, 1) + b"\0" + op(0, 0))
DATA = (op(2, 0) + blob(b"hello server") + op(1, 0) + b"\0" + op(3, 1) + b"\x10\x00"
        + op(2, 1) + blob(b"hello client" * 50) + op(1, 1) + b"\0" + op(3, 0) + b"\x10\x00")
PIECES = (op(2, 1) + blob(b"in pieces" * 80) + op(1, 1) + b"\5" + b"\0\x07" * 200
          + op(3, 0) + b"\x10\x00")
SHUTDOWN = (op(4, 0) + op(1, 0) + b"\0" + op(3, 1) + b"\x10\x00" + op(4, 1) + op(1, 1) + b"\0"
            + op(3, 0) + b"\x10\x00")
TLS = {
    "handshake_data_shutdown": b"\0" + HANDSHAKE + DATA + SHUTDOWN,
    "tls12_handshake_data": b"\1" + HANDSHAKE + DATA,
    "records_in_pieces": b"\0" + HANDSHAKE + PIECES,
    "ragged_eof": b"\0" + HANDSHAKE + DATA + op(5, 0) + op(3, 0) + b"\x10\x00",
    "flipped_record": b"\0" + HANDSHAKE + op(2, 0) + blob(b"x" * 100) + op(1, 0) + b"\1\0\x20\x55"
                      + op(3, 1) + b"\x10\x00",
}

STREAMS = {
    # limit 16; readline, feed "ab\ncd", readuntil "cd", read 3 after EOF, ...
    "lines": b"\x00\x10" + b"\x02" + b"\x01" + blob(b"ab\ncd\n") + b"\x03" + blob(b"cd")
             + b"\x01" + blob(b"xxcdyy") + b"\x00\x01\x03" + b"\x01\x00",
    "over_limit": b"\x00\x04" + b"\x02" + b"\x01" + blob(b"abcdefgh\n") + b"\x01" + blob(b"z"),
    "exactly_eof": b"\x00\x40" + b"\x01\x08" + b"\x01" + blob(b"abc") + b"\x00",
}


def write():
    for name, corpus in (("tls", TLS), ("streams", STREAMS)):
        folder = HERE / "corpus" / name
        folder.mkdir(parents=True, exist_ok=True)
        for seed, data in corpus.items():
            (folder / seed).write_bytes(data)


if __name__ == "__main__":
    write()

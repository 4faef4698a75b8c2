"""Fuzz target: the sans-I/O TLS engine, a client and a server over a fuzzed link.

The input is a sequence of operations on a real client/server pair of
``TLSEngine`` objects: handshake steps, moving ciphertext either way (intact, cut
into pieces, truncated, with a byte flipped, dropped, or replaced by fuzzed bytes),
sending and reading plaintext, shutdowns and TCP EOFs.  Allowed outcomes are the
ones a transport handles: ``ssl.SSLError``, ``ConnectionResetError`` and the
engine's ``TLSStateError`` for an operation its state refuses.  Anything else --
another exception, an impossible state transition ("this is a bug in coroloop"),
plaintext that was never sent, buffers growing past what was fed -- is a crash.

    python tests/stress/fuzz/fuzz_tls.py -max_total_time=60 WORKDIR tests/stress/fuzz/corpus/tls
"""

from __future__ import annotations

import os
import pathlib
import ssl
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fuzzinput import Input, main  # noqa: E402

from coroloop._net.tls import NEED_DATA, TLSEngine, TLSStateError  # noqa: E402

CERTS = pathlib.Path(__file__).resolve().parents[2] / "unit" / "net" / "certs"
_SERVER_CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
_SERVER_CTX.load_cert_chain(str(CERTS / "server.pem"), str(CERTS / "server.key"))
_CLIENT_CTX = ssl.create_default_context(cafile=str(CERTS / "ca.pem"))
_TLS12_CLIENT_CTX = ssl.create_default_context(cafile=str(CERTS / "ca.pem"))
_TLS12_CLIENT_CTX.maximum_version = ssl.TLSVersion.TLSv1_2
_ALLOWED = (ssl.SSLError, ConnectionResetError)


_REFUSED = object()


def _attempt(action):
    """action()'s result, or _REFUSED for an error a transport expects."""
    try:
        return action()
    except _ALLOWED:
        return _REFUSED
    except TLSStateError as exc:
        if "this is a bug in coroloop" in str(exc):
            raise
        return _REFUSED


def _mangle(inp, data: bytes) -> list[bytes]:
    mode = inp.choice(8)
    if mode == 1 and data:  # one byte flipped
        pos = inp.number(16) % len(data)
        return [data[:pos] + bytes([data[pos] ^ (1 + inp.byte() % 255)]) + data[pos + 1:]]
    if mode == 2:  # truncated
        return [data[:inp.number(16) % (len(data) + 1)]]
    if mode == 3:  # dropped
        return []
    if mode == 4:  # replaced by the fuzzer's bytes
        return [inp.bytes(512)]
    if mode == 5 and data:  # cut into pieces
        pieces, pos = [], 0
        while pos < len(data):
            n = 1 + inp.number(12) % 2048
            pieces.append(data[pos:pos + n])
            pos += n
        return pieces
    return [data]  # intact


def test_one_input(data: bytes) -> None:
    inp = Input(data)
    client_ctx = _TLS12_CLIENT_CTX if inp.choice(2) else _CLIENT_CTX
    client = TLSEngine(client_ctx, server_hostname="localhost")
    server = TLSEngine(_SERVER_CTX, server_side=True)
    sent = {client: bytearray(), server: bytearray()}      # plaintext each side sent
    received = {client: bytearray(), server: bytearray()}  # and each side read
    fed = {client: 0, server: 0}
    for _ in range(64):
        if not inp:
            break
        op = inp.choice(12)
        side, other = (client, server) if op % 2 == 0 else (server, client)
        op //= 2
        if op == 0:
            _attempt(side.do_handshake)
        elif op == 1:  # move side's ciphertext to the other side
            for piece in _mangle(inp, side.outgoing()):
                _attempt(lambda: other.feed_incoming(piece))
                fed[other] += len(piece)
        elif op == 2:
            payload = inp.bytes(3000)
            if _attempt(lambda: side.send_plaintext(payload)) is not _REFUSED:
                sent[side] += payload
        elif op == 3:
            chunk = _attempt(lambda: side.read_plaintext(1 + inp.number(16)))
            if chunk is not _REFUSED and chunk is not NEED_DATA:
                received[side] += chunk
        elif op == 4:
            _attempt(side.start_shutdown)
        else:
            _attempt(side.feed_eof)
        for engine in (client, server):
            # What one side reads is a prefix of what the other sent: TLS never
            # delivers tampered or invented plaintext.
            peer = server if engine is client else client
            if not bytes(sent[peer]).startswith(bytes(received[engine])):
                raise AssertionError("plaintext that was never sent came out")
            if engine.outgoing_size > 4 * (fed[peer] + len(sent[engine])) + 65536:
                raise AssertionError("outgoing ciphertext grows without bound")
            if engine.pending_plaintext_size > len(sent[engine]):
                raise AssertionError("more plaintext pending than was sent")
    # For the corpus replay test: how far this input got.
    LAST_RUN.update(states=(client.state, server.state),
                    received=(len(received[client]), len(received[server])))


#: What the last test_one_input() reached (states, plaintext bytes read per side).
LAST_RUN: dict = {}


if __name__ == "__main__":
    main(test_one_input)

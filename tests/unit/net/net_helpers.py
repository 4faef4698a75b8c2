"""Test helpers for the sans-I/O networking objects: a fake link between TLS engines,
and asyncio's StreamReader and coroloop's ReadBuffer driven side by side by hand
(used by test_buffers.py and by the stream fuzzer, tests/stress/fuzz/fuzz_streams.py)."""

from __future__ import annotations

import asyncio
import pathlib
import ssl

from coroloop._net.buffers import ReadBuffer
from coroloop._net.tls import NEED_DATA, TLSEngine, TLSState

CERTS = pathlib.Path(__file__).parent / "certs"
CA = str(CERTS / "ca.pem")
SERVER_CERT = str(CERTS / "server.pem")
SERVER_KEY = str(CERTS / "server.key")
CLIENT_CERT = str(CERTS / "client.pem")
CLIENT_KEY = str(CERTS / "client.key")


def server_context(**versions: ssl.TLSVersion) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(SERVER_CERT, SERVER_KEY)
    for name, value in versions.items():
        setattr(ctx, name, value)
    return ctx


def client_context(**versions: ssl.TLSVersion) -> ssl.SSLContext:
    # The real default client context, trusting only the test CA.
    ctx = ssl.create_default_context(cafile=CA)
    for name, value in versions.items():
        setattr(ctx, name, value)
    return ctx


class TLSPair:
    """A client and a server engine joined by a fake link (h11's ConnectionPair idea).

    Ciphertext moves only when the test says so (``transfer``/``pump``), optionally cut
    into chunks by a ``chunker(data) -> iterable of bytes``, so tests control exactly
    which records arrive together.  Received plaintext and EOFs are collected per side.
    """

    def __init__(self, client: TLSEngine | None = None, server: TLSEngine | None = None):
        self.client = client or TLSEngine(client_context(), server_hostname="localhost")
        self.server = server or TLSEngine(server_context(), server_side=True)
        self.received = {self.client: bytearray(), self.server: bytearray()}
        self.eof = {self.client: False, self.server: False}

    def other(self, engine: TLSEngine) -> TLSEngine:
        return self.server if engine is self.client else self.client

    def drive(self, engine: TLSEngine) -> None:
        """What a transport does after feeding data: advance handshake, read plaintext."""
        if engine.state is TLSState.HANDSHAKING:
            if not engine.do_handshake():
                return
        while True:
            chunk = engine.read_plaintext()
            if chunk is NEED_DATA:
                return
            if chunk == b"":
                self.eof[engine] = True
                return
            self.received[engine] += chunk

    def transfer(self, sender: TLSEngine, chunker=None) -> int:
        """Move the sender's pending ciphertext to its peer and drive the peer."""
        data = sender.outgoing()
        receiver = self.other(sender)
        pieces = chunker(data) if chunker else ([data] if data else [])
        for piece in pieces:
            receiver.feed_incoming(piece)
            self.drive(receiver)
        return len(data)

    def pump(self, chunker=None) -> None:
        """Move bytes both ways until the link is quiet."""
        for _ in range(1000):
            moved = self.transfer(self.client, chunker) + self.transfer(self.server, chunker)
            if not moved:
                return
        raise AssertionError("the link never went quiet")

    def handshake(self, chunker=None) -> None:
        self.client.do_handshake()
        self.server.do_handshake()
        self.pump(chunker)
        assert self.client.state is TLSState.WRAPPED
        assert self.server.state is TLSState.WRAPPED


def run(loop, coro, timeout=10):
    """Run *coro* on *loop*, failing after *timeout* seconds rather than hanging."""
    async def bounded():
        async with asyncio.timeout(timeout):
            return await coro
    return loop.run_until_complete(bounded())


# -- asyncio's StreamReader and our ReadBuffer, stepped by hand ----------------------------

class _HandLoop:
    """Just enough of a loop for StreamReader and its futures; nothing runs by itself."""

    def get_debug(self):
        return False

    def call_soon(self, callback, *args, context=None):
        pass  # nobody awaits through a Task: the caller resumes the coroutine by hand

    def create_future(self):
        return asyncio.Future(loop=self)


#: What start()/poll() return while the operation waits for more data.
PENDING = object()


def read_outcome(fn):
    """fn()'s result, or its stream exception, as a comparable tuple."""
    try:
        return ("ok", fn())
    except asyncio.IncompleteReadError as e:
        return ("IncompleteReadError", e.partial, e.expected)
    except asyncio.LimitOverrunError as e:
        return ("LimitOverrunError", e.args[0], e.consumed)
    except ValueError as e:
        return ("ValueError", str(e))


class StreamReaderByHand:
    """asyncio.StreamReader, its coroutines stepped by hand: start(name, *args) an
    operation, poll() it after feeding ``reader``; PENDING until it finishes."""

    def __init__(self, limit):
        self.reader = asyncio.StreamReader(limit=limit, loop=_HandLoop())
        self.coro = self.waiter = None

    def start(self, name, *args):
        self.coro = getattr(self.reader, name)(*args)
        return self._step()

    def poll(self):
        if not self.waiter.done():
            return PENDING
        return self._step()

    def _step(self):
        def run():
            try:
                self.waiter = self.coro.send(None)
            except StopIteration as e:
                return e.value
            return PENDING

        result = read_outcome(run)
        if result == ("ok", PENDING):
            return PENDING
        self.coro = None
        return result


class ReadBufferByHand:
    """The same interface over coroloop's ReadBuffer (``buf``)."""

    def __init__(self, limit):
        self.buf = ReadBuffer(limit)
        self.op = None

    def start(self, name, *args):
        self.op = lambda: getattr(self.buf, name)(*args)
        return self.poll()

    def poll(self):
        result = read_outcome(self.op)
        if result == ("ok", NEED_DATA):
            return PENDING
        self.op = None
        return result

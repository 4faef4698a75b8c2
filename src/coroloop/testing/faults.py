"""Faults: a seeded hostile network for coroloop's own TCP and Unix stream transports.

In ``simulate(main, seed=..., faults=Faults(short_io=0.2, reset=0.01))`` every
stream transport the program opens (client or server side) reads and writes
through a ``FaultySocket``: a proxy of the real, connected socket that, by the
simulation's seed,

* delivers a ``recv`` in a random short chunk (the rest stays in the kernel and
  arrives on a later read: the poller still reports the socket readable);
* accepts a ``send``/``sendmsg`` only in part (the transport buffers the rest and
  sends it when the socket is writable, as after a real short write);
* resets the connection: the socket gets ``SO_LINGER`` 0, so closing it sends a
  real RST to the peer, and the call raises ``ConnectionResetError``;

and ``loop.sock_connect`` (what ``create_connection`` and ``create_unix_connection``
use) waits a random *virtual* delay first.  Everything stays on the loopback
socket; nothing sleeps in real time.  Datagram, pipe and subprocess transports are
not affected.

Every draw comes from one ``random.Random`` seeded from the simulation's seed, in
the order the transports make their calls, so a seed replays the same faults.
"""

from __future__ import annotations

import dataclasses
import errno
import random
import socket
import struct

__all__ = ["Faults", "FaultySocket"]


@dataclasses.dataclass
class Faults:
    """Probabilities (0..1) of each fault per call, and the connect delay bound."""

    #: A recv returns fewer bytes than asked / a send accepts fewer than given.
    short_io: float = 0.0
    #: The connection is reset at a recv or send.
    reset: float = 0.0
    #: A connect waits up to this many seconds of (virtual) loop time first.
    connect_delay: float = 0.0

    def __post_init__(self) -> None:
        for name in ("short_io", "reset"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Faults({name}={value!r}): a probability between 0 and 1")
        if not self.connect_delay >= 0:
            raise ValueError(f"Faults(connect_delay={self.connect_delay!r}): seconds >= 0")

    def plan(self, seed: int) -> "FaultPlan":
        """The faults of one run, drawn from *seed*."""
        return FaultPlan(self, random.Random(f"coroloop.faults:{seed}"))


@dataclasses.dataclass
class FaultCounts:
    short_reads: int = 0
    short_writes: int = 0
    resets: int = 0
    delayed_connects: int = 0


class FaultPlan:
    """One simulation's faults: the ``stream_faults`` of the loop's TransportHost."""

    def __init__(self, faults: Faults, rng: random.Random) -> None:
        self.faults = faults
        self.random = rng
        self.counts = FaultCounts()

    def wrap(self, sock):
        return FaultySocket(sock, self)

    def install(self, loop) -> None:
        loop._io.stream_faults = self
        if self.faults.connect_delay:
            loop.sock_connect = self._delayed(loop.sock_connect)

    def _delayed(self, sock_connect):
        import asyncio

        async def delayed_sock_connect(sock, address):
            delay = self.random.uniform(0, self.faults.connect_delay)
            self.counts.delayed_connects += 1
            await asyncio.sleep(delay)
            return await sock_connect(sock, address)

        return delayed_sock_connect

    def _short(self, size: int) -> int:
        """How many of *size* bytes this call moves."""
        if size > 1 and self.faults.short_io and self.random.random() < self.faults.short_io:
            return self.random.randint(1, size - 1)
        return size

    def _maybe_reset(self, sock) -> None:
        if self.faults.reset and self.random.random() < self.faults.reset:
            self.counts.resets += 1
            try:  # closing now sends an RST, not a FIN: the peer sees a reset too
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            raise ConnectionResetError(errno.ECONNRESET,
                                       "Connection reset by peer (injected by coroloop.testing.Faults)")


class FaultySocket:
    """A connected socket whose reads and writes go through a ``FaultPlan``;
    everything else is the real socket's."""

    def __init__(self, sock, plan: FaultPlan) -> None:
        self._real = sock
        self._plan = plan

    def __getattr__(self, name):
        return getattr(self._real, name)

    def __repr__(self) -> str:
        return f"<FaultySocket {self._real!r}>"

    def recv(self, size, *flags):
        plan = self._plan
        plan._maybe_reset(self._real)
        short = plan._short(size)
        if short < size:
            plan.counts.short_reads += 1
        return self._real.recv(short, *flags)

    def recv_into(self, buffer, nbytes=0, *flags):
        plan = self._plan
        plan._maybe_reset(self._real)
        size = nbytes or len(buffer)
        short = plan._short(size)
        if short < size:
            plan.counts.short_reads += 1
        return self._real.recv_into(buffer, short, *flags)

    def send(self, data, *flags):
        plan = self._plan
        plan._maybe_reset(self._real)
        view = memoryview(data).cast("B")
        short = plan._short(len(view))
        if short < len(view):
            plan.counts.short_writes += 1
        return self._real.send(view[:short], *flags)

    def sendmsg(self, buffers, *args):
        # One buffer at a time, cut short like send(): a partial sendmsg is legal.
        buffers = list(buffers)
        if not buffers:
            return self._real.sendmsg(buffers, *args)
        return self.send(b"".join(buffers))

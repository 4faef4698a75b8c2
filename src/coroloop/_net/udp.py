"""Datagram endpoints: ``loop.create_datagram_endpoint`` (UDP, and Unix datagram sockets)."""

from __future__ import annotations

import socket
from asyncio.log import logger

from .. import _bridge
from .dns import resolve
from .tcp import set_reuse_port
from .transports import DatagramSocketTransport
from .unix import remove_stale_socket_file

__all__ = ["create_datagram_endpoint"]

_AF_UNIX = getattr(socket, "AF_UNIX", None)


async def create_datagram_endpoint(
        loop, protocol_factory, local_addr=None, remote_addr=None, *, family=0, proto=0,
        flags=0, reuse_port=None, allow_broadcast=None, sock=None):
    # (No reuse_address: asyncio removed the parameter in 3.11.)
    """Create a UDP endpoint (bound to *local_addr*, connected to
    *remote_addr*, or over *sock*); return ``(transport, protocol)``."""
    remote = None
    if sock is not None:
        if sock.type != socket.SOCK_DGRAM:
            raise ValueError(f"{_bridge.DATAGRAM_SOCKET_EXPECTED}, got {sock!r}")
        options = dict(local_addr=local_addr, remote_addr=remote_addr, family=family,
                       proto=proto, flags=flags, reuse_port=reuse_port,
                       allow_broadcast=allow_broadcast)
        problems = ", ".join(f"{k}={v}" for k, v in options.items() if v)
        if problems:
            raise ValueError("socket modifier keyword arguments can not be used "
                             f"when sock is specified. ({problems})")
        sock.setblocking(False)
    else:
        candidates = await _datagram_candidates(loop, local_addr, remote_addr,
                                                family, proto, flags)
        sock, remote = await _open_datagram_socket(
            loop, candidates, local_addr, remote_addr, reuse_port, allow_broadcast)

    protocol = protocol_factory()
    waiter = loop.create_future()
    transport = DatagramSocketTransport(loop, sock, protocol, remote, waiter)
    if loop.get_debug():
        logger.info("Datagram endpoint local_addr=%r remote_addr=%r created: (%r, %r)",
                    local_addr, remote_addr, transport, protocol)
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    return transport, protocol


async def _datagram_candidates(loop, local_addr, remote_addr, family, proto, flags):
    """``[((family, proto), (local, remote)), ...]``: the socket kinds to try, with
    resolved addresses for both ends."""
    if not (local_addr or remote_addr):
        if family == 0:
            raise ValueError("unexpected address family")
        return [((family, proto), (None, None))]
    if _AF_UNIX is not None and family == _AF_UNIX:
        for addr in (local_addr, remote_addr):
            if addr is not None and not isinstance(addr, str):
                raise TypeError("string is expected")
        if local_addr:
            remove_stale_socket_file(local_addr)
        return [((family, proto), (local_addr, remote_addr))]
    # Pair the two ends by (family, proto), keeping getaddrinfo's order.
    pairs = {}
    for index, addr in ((0, local_addr), (1, remote_addr)):
        if addr is None:
            continue
        if not (isinstance(addr, tuple) and len(addr) == 2):
            raise TypeError("2-tuple is expected")
        infos = await resolve(loop, addr, family=family, type=socket.SOCK_DGRAM,
                              proto=proto, flags=flags)
        for fam, _, pro, _, address in infos:
            pairs.setdefault((fam, pro), [None, None])[index] = address
    candidates = [(key, pair) for key, pair in pairs.items()
                  if not ((local_addr and pair[0] is None)
                          or (remote_addr and pair[1] is None))]
    if not candidates:
        raise ValueError("can not get address information")
    return candidates


async def _open_datagram_socket(loop, candidates, local_addr, remote_addr,
                                reuse_port, allow_broadcast):
    errors = []
    for (family, proto), (local, remote) in candidates:
        sock = None
        try:
            sock = socket.socket(family=family, type=socket.SOCK_DGRAM, proto=proto)
            if reuse_port:
                set_reuse_port(sock)
            if allow_broadcast:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.setblocking(False)
            if local_addr:
                sock.bind(local)
            if remote_addr:
                # A broadcast endpoint stays unconnected: replies come from
                # other addresses than the one we send to.
                if not allow_broadcast:
                    await loop.sock_connect(sock, remote)
                return sock, remote
            return sock, None
        except OSError as exc:
            if sock is not None:
                sock.close()
            errors.append(exc)
        except BaseException:
            if sock is not None:
                sock.close()
            raise
    try:
        raise errors[0]
    finally:
        errors = None

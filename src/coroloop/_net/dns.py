"""Name resolution: getaddrinfo/getnameinfo in the default executor.

``socket.getaddrinfo`` blocks (it may query DNS), so it runs in the loop's default
executor.  Most addresses a program connects to or binds are already numeric
(``127.0.0.1``, ``::1``), and a thread round trip for them is pure overhead: for a
numeric host with a known socket type, :func:`numeric_addrinfo` builds the one
answer getaddrinfo would give, on the loop thread, without a system call beyond
``inet_pton``.
"""

from __future__ import annotations

import socket
import time

from asyncio.log import logger

__all__ = ["getaddrinfo", "getnameinfo", "numeric_addrinfo", "resolve"]

_HAS_IPV6 = socket.has_ipv6
# The protocol each socket type implies; other types are left to getaddrinfo.
_TYPE_PROTO = {socket.SOCK_STREAM: socket.IPPROTO_TCP, socket.SOCK_DGRAM: socket.IPPROTO_UDP}


def _numeric_port(port):
    """The port as an int, or None when it is a service name getaddrinfo must look up."""
    if port is None or port == b"" or port == "":
        return 0
    if isinstance(port, int):
        return port
    try:
        return int(port)
    except (TypeError, ValueError):
        return None


def numeric_addrinfo(host, port, family=0, type=0, proto=0, flags=0, flowinfo=0, scope_id=0):
    """The getaddrinfo entry for a numeric *host*, or None when a real lookup is needed.

    None for: a hostname, an unknown socket type or protocol, a service name as port,
    ``AI_CANONNAME`` (it asks for a name), an IPv6 scope (``fe80::1%eth0``).
    """
    if host is None or flags & socket.AI_CANONNAME:
        return None
    implied = _TYPE_PROTO.get(type)
    if implied is None or proto not in (0, implied):
        return None
    port = _numeric_port(port)
    if port is None:
        return None
    if isinstance(host, (bytes, bytearray)):
        try:
            host = bytes(host).decode("idna")
        except UnicodeError:
            return None
    if not isinstance(host, str) or "%" in host:
        return None
    if family == socket.AF_UNSPEC:
        families = (socket.AF_INET, socket.AF_INET6) if _HAS_IPV6 else (socket.AF_INET,)
    elif family == socket.AF_INET or (family == socket.AF_INET6 and _HAS_IPV6):
        families = (family,)
    else:
        return None
    for fam in families:
        try:
            packed = socket.inet_pton(fam, host)
        except OSError:
            continue
        if fam == socket.AF_INET6:
            # getaddrinfo answers with the canonical spelling ("::0001" -> "::1").
            return (fam, type, implied, "",
                    (socket.inet_ntop(fam, packed), port, flowinfo, scope_id))
        return fam, type, implied, "", (host, port)
    return None


async def resolve(loop, address, *, family=0, type=socket.SOCK_STREAM, proto=0, flags=0):
    """getaddrinfo for an ``(host, port, ...)`` address, skipping the executor for
    numeric hosts.  Raises OSError when the lookup answers nothing."""
    host, port = address[:2]
    info = numeric_addrinfo(host, port, family, type, proto, flags, *address[2:])
    if info is not None:
        return [info]
    infos = await loop.getaddrinfo(host, port, family=family, type=type,
                                   proto=proto, flags=flags)
    if not infos:
        raise OSError(f"getaddrinfo({host!r}) returned empty list")
    return infos


def _lookup_logged(host, port, family, type, proto, flags):
    # Debug mode: say how long the lookup took, it is often why a connect is slow.
    started = time.monotonic()
    try:
        result = socket.getaddrinfo(host, port, family, type, proto, flags)
    except OSError as exc:
        logger.debug("getaddrinfo(%r, %r) failed in %.3f ms: %r",
                     host, port, (time.monotonic() - started) * 1e3, exc)
        raise
    took = time.monotonic() - started
    log = logger.info if took >= 0.1 else logger.debug
    log("getaddrinfo(%r, %r) took %.3f ms: %r", host, port, took * 1e3, result)
    return result


async def getaddrinfo(loop, host, port, *, family=0, type=0, proto=0, flags=0):
    """``loop.getaddrinfo()``: at once for a numeric host, else in the default executor."""
    info = numeric_addrinfo(host, port, family, type, proto, flags)
    if info is not None:
        return [info]
    lookup = _lookup_logged if loop.get_debug() else socket.getaddrinfo
    return await loop.run_in_executor(None, lookup, host, port, family, type, proto, flags)


async def getnameinfo(loop, sockaddr, flags=0):
    """``loop.getnameinfo()``, in the default executor."""
    return await loop.run_in_executor(None, socket.getnameinfo, sockaddr, flags)

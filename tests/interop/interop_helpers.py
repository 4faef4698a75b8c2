"""Helpers shared by the interop test modules (imported as ``interop_helpers``)."""

from __future__ import annotations

import asyncio


async def raw_http_request(host: str, port: int, request: bytes) -> bytes:
    """Send a raw HTTP/1.1 request over asyncio streams (on whatever loop is running) and
    return the whole response; the request should carry ``Connection: close``."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()


def split_http_response(response: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, lower-cased headers, body) of a raw HTTP/1.1 response (no chunking)."""
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body

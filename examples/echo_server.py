"""A line echo server and a client talking to it over TCP, with streams.

    python examples/echo_server.py

* ``start_server()`` calls ``handle_client(reader, writer)`` in a new task for every
  connection.  The handler reads lines until EOF and writes each one back in upper case.
* ``writer.drain()`` after each write is the flow control: it waits while the
  transport's buffer is above its high-water mark, so a client that stops reading cannot
  make the server buffer without limit.
* The client sends a few lines, then ``write_eof()`` (a TCP half-close): the server's
  ``readline()`` returns ``b''``, its loop ends and it closes the connection; the
  client's ``read()`` then returns ``b''`` too.
* ``async with server`` closes the listening socket at the end; ``wait_closed()`` waits
  for the connection handlers to finish.

Everything stays on 127.0.0.1 with a port picked by the kernel, and the output is the
same on every run.  Swap the import for ``import asyncio`` to run it on the standard
library.
"""

import coroloop as asyncio


async def handle_client(reader, writer):
    peer = writer.get_extra_info("peername")
    count = 0
    while line := await reader.readline():
        writer.write(line.upper())
        await writer.drain()
        count += 1
    print(f"server: client sent {count} lines, then EOF; closing")
    writer.close()
    await writer.wait_closed()
    assert peer[0] == "127.0.0.1"


async def main():
    server = await asyncio.start_server(handle_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for text in ["hello", "coroloop streams", "goodbye"]:
            writer.write(text.encode() + b"\n")
            await writer.drain()
            reply = await reader.readline()
            print(f"client: sent {text!r}, got {reply.decode().rstrip()!r}")
        writer.write_eof()
        assert await reader.read() == b""  # the server closed its side
        print("client: server closed the connection")
        writer.close()
        await writer.wait_closed()
    await server.wait_closed()
    print("done")


if __name__ == "__main__":
    asyncio.run(main())

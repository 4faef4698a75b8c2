"""TLS with streams: a verified connection, a rejected one, and a STARTTLS upgrade.

    python examples/tls_client_server.py

It uses the test certificates of the repository (tests/unit/net/certs: a private CA
and a certificate for ``localhost`` signed by it), so nothing leaves 127.0.0.1.

1. A TLS server (``start_server(ssl=server_context)``) and a client that trusts only
   the test CA.  The client's context is ``ssl.create_default_context()``: the
   certificate chain *and* the host name are verified, exactly as with ``ssl=True``.
2. The same client asking for another host name: the handshake fails and
   ``open_connection`` raises ``ssl.SSLCertVerificationError``.
3. A plain-text connection upgraded in place with ``writer.start_tls()`` after a
   ``STARTTLS`` line, as SMTP or IMAP do.

Swap the import for ``import asyncio`` to run it on the standard library.
"""

import pathlib
import ssl

import coroloop as asyncio

CERTS = pathlib.Path(__file__).resolve().parent.parent / "tests" / "unit" / "net" / "certs"


def server_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(CERTS / "server.pem", CERTS / "server.key")
    return ctx


def client_context():
    # The standard secure defaults, trusting our test CA instead of the system's.
    return ssl.create_default_context(cafile=str(CERTS / "ca.pem"))


async def echo(reader, writer):
    while line := await reader.readline():
        writer.write(b"echo: " + line)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def starttls_server(reader, writer):
    # Plain text until the client asks for TLS, then the same connection, encrypted.
    assert await reader.readline() == b"STARTTLS\n"
    writer.write(b"READY\n")
    await writer.drain()
    await writer.start_tls(server_context())
    await echo(reader, writer)


def describe(writer):
    subject = dict(item[0] for item in writer.get_extra_info("peercert")["subject"])
    version = writer.get_extra_info("ssl_object").version()
    return f"{version}, server certificate for {subject['commonName']!r}"


async def main():
    tls_server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_context())
    tls_port = tls_server.sockets[0].getsockname()[1]
    plain_server = await asyncio.start_server(starttls_server, "127.0.0.1", 0)
    plain_port = plain_server.sockets[0].getsockname()[1]
    async with tls_server, plain_server:
        # 1. Verified TLS connection.
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", tls_port, ssl=client_context(), server_hostname="localhost")
        print("1. connected:", describe(writer))
        writer.write(b"secret message\n")
        print("   got", (await reader.readline()).decode().rstrip())
        writer.close()  # sends close_notify
        await writer.wait_closed()

        # 2. Wrong host name: refused during the handshake.
        try:
            await asyncio.open_connection(
                "127.0.0.1", tls_port, ssl=client_context(), server_hostname="example.com")
        except ssl.SSLCertVerificationError as exc:
            print("2. refused:", exc.verify_message)

        # 3. STARTTLS.
        reader, writer = await asyncio.open_connection("127.0.0.1", plain_port)
        writer.write(b"STARTTLS\n")
        print("3. server says", (await reader.readline()).decode().rstrip())
        await writer.start_tls(client_context(), server_hostname="localhost")
        print("   upgraded:", describe(writer))
        writer.write(b"now encrypted\n")
        print("   got", (await reader.readline()).decode().rstrip())
        writer.close()
        await writer.wait_closed()
    print("done")


if __name__ == "__main__":
    asyncio.run(main())

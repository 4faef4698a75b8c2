"""Networking: transports, TLS, streams.

The modules here that parse or transform bytes (``buffers``, ``writebuf``, ``tls``) are
sans-I/O (DESIGN.md principle 9): plain objects that never touch a socket, a loop or a
clock, tested through fake links.  The transports built on the event loop drive them.
"""

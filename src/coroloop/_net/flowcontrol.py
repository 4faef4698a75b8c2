"""How a transport tells its protocol to pause or resume writing.

Every transport here (socket, datagram, write pipe, TLS, the subprocess stdin)
calls ``protocol.pause_writing()`` / ``protocol.resume_writing()`` through
:func:`tell_protocol`, so they share one policy, asyncio's: the call happens
inside the transport's own bookkeeping (a write, a flush), so an exception from
the protocol must not escape into it.  Any exception is reported to the loop's
exception handler as ``"protocol.pause_writing() failed"`` (with the transport and
protocol), except SystemExit and KeyboardInterrupt, which propagate.
"""

from __future__ import annotations

__all__ = ["tell_protocol"]


def tell_protocol(loop, protocol, method: str, transport) -> None:
    """Call ``protocol.<method>()`` (``"pause_writing"`` or ``"resume_writing"``)."""
    try:
        getattr(protocol, method)()
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        loop.call_exception_handler({
            "message": f"protocol.{method}() failed",
            "exception": exc,
            "transport": transport,
            "protocol": protocol,
        })

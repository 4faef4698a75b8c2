"""The loop methods for pipes, subprocesses and signals, as a mixin.

``ProcessMixin`` adds ``connect_read_pipe``, ``connect_write_pipe``,
``subprocess_exec``, ``subprocess_shell``, ``add_signal_handler`` and
``remove_signal_handler`` to a loop built on the core's public API (``add_reader``,
``call_soon``, ``create_future``, ...), and extends ``close()`` to remove signal
handlers and hand still-running children to a reaper.  Its state is created on
first use, so the mixin needs no ``__init__`` and can sit anywhere in the bases.
"""

from __future__ import annotations

import subprocess
from asyncio.log import logger

from . import pipes, process
from .signals import SignalHandlers, check_signal

__all__ = ["ProcessMixin"]


def _check_popen_options(universal_newlines, bufsize, encoding, errors, text) -> None:
    # The transport moves bytes; text decoding belongs to whoever reads them.
    if universal_newlines:
        raise ValueError("universal_newlines must be False: subprocess pipes carry bytes "
                         "(decode what you read instead)")
    if bufsize != 0:
        raise ValueError(f"bufsize must be 0, got {bufsize!r}: the transport buffers itself")
    if text:
        raise ValueError("text must be False: subprocess pipes carry bytes")
    if encoding is not None:
        raise ValueError(f"encoding must be None, got {encoding!r}: pipes carry bytes")
    if errors is not None:
        raise ValueError(f"errors must be None, got {errors!r}: pipes carry bytes")


def _describe_stdio(stdin, stdout, stderr) -> str:
    names = {subprocess.PIPE: "PIPE", subprocess.STDOUT: "STDOUT",
             subprocess.DEVNULL: "DEVNULL"}
    parts = []
    for label, value in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr)):
        if value is not None:
            parts.append(f"{label}={names.get(value, value)!s}" if isinstance(value, int)
                         else f"{label}={value!r}")
    return " ".join(parts)


class ProcessMixin:
    """Pipes, subprocesses and Unix signals for coroloop's event loop."""

    # Created on first use (see module docstring); None until then.
    _signals: SignalHandlers | None = None
    _children: process.ChildRegistry | None = None

    def _child_registry(self) -> process.ChildRegistry:
        if self._children is None:
            self._children = process.ChildRegistry()
        return self._children

    # -- pipes -----------------------------------------------------------------------
    async def connect_read_pipe(self, protocol_factory, pipe):
        """Read *pipe* (a file object on a pipe, socket or tty) into a new protocol."""
        return await pipes.connect_read_pipe(self, protocol_factory, pipe)

    async def connect_write_pipe(self, protocol_factory, pipe):
        """A write transport on *pipe* (a pipe, socket or tty) for a new protocol."""
        return await pipes.connect_write_pipe(self, protocol_factory, pipe)

    # -- subprocesses ----------------------------------------------------------------
    async def subprocess_exec(self, protocol_factory, program, *args,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=False,
                              shell=False, bufsize=0, encoding=None, errors=None,
                              text=None, **kwargs):
        if shell:
            raise ValueError("shell must be False for subprocess_exec(); "
                             "use subprocess_shell() to run a shell command")
        _check_popen_options(universal_newlines, bufsize, encoding, errors, text)
        return await self._start_subprocess(protocol_factory, (program,) + args, False,
                                            stdin, stdout, stderr, bufsize, kwargs,
                                            f"execute program {program!r}")

    async def subprocess_shell(self, protocol_factory, cmd, *,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, universal_newlines=False,
                               shell=True, bufsize=0, encoding=None, errors=None,
                               text=None, **kwargs):
        if not isinstance(cmd, (bytes, str)):
            raise ValueError(f"cmd must be a string, got {type(cmd).__name__}: "
                             "use subprocess_exec() to run a list of arguments")
        if not shell:
            raise ValueError("shell must be True for subprocess_shell(); "
                             "use subprocess_exec() to run a program directly")
        _check_popen_options(universal_newlines, bufsize, encoding, errors, text)
        return await self._start_subprocess(protocol_factory, cmd, True, stdin, stdout,
                                            stderr, bufsize, kwargs,
                                            f"run shell command {cmd!r}")

    async def _start_subprocess(self, protocol_factory, args, shell, stdin, stdout,
                                stderr, bufsize, kwargs, what):
        protocol = protocol_factory()
        if self.get_debug():
            # The program (or command), never exec's arguments: they may hold secrets.
            logger.debug("%s %s", what, _describe_stdio(stdin, stdout, stderr))
        transport = await process.start_subprocess(
            self, protocol, args, shell=shell, stdin=stdin, stdout=stdout, stderr=stderr,
            bufsize=bufsize, registry=self._child_registry(), **kwargs)
        if self.get_debug():
            logger.info("%s: %r", what, transport)
        return transport, protocol

    # -- signals ---------------------------------------------------------------------
    def add_signal_handler(self, sig, callback, *args) -> None:
        """Run ``callback(*args)`` on this loop each time signal *sig* arrives.

        Main thread only (RuntimeError otherwise); TypeError for a coroutine
        function; ValueError for an invalid signal number, RuntimeError for one
        that cannot be caught (SIGKILL, SIGSTOP).
        """
        if self._signals is None:
            self._signals = SignalHandlers(self)
        self._signals.add(sig, callback, *args)

    def remove_signal_handler(self, sig) -> bool:
        """Restore *sig*'s default disposition; False if no handler was installed."""
        if self._signals is None:
            check_signal(sig)
            return False
        return self._signals.remove(sig)

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        super().close()
        if self._signals is not None:
            self._signals.close()
        if self._children is not None:
            self._children.close()

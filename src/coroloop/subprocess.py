"""Subprocesses with streams: ``create_subprocess_exec``, ``create_subprocess_shell``.

The same API as ``asyncio.subprocess``.  A :class:`Process` wraps the loop's
subprocess transport (``loop.subprocess_exec``/``subprocess_shell``) and exposes
the child's pipes as coroloop streams: ``stdin`` is a :class:`StreamWriter`,
``stdout`` and ``stderr`` are :class:`StreamReader`\\ s.

:meth:`Process.communicate` feeds stdin and reads stdout and stderr *at the same
time*, each in its own task, so a child that fills one pipe while we are busy
with another cannot deadlock it; reading pauses the pipe only while a reader's
buffer is above its limit, and that reader is being drained concurrently.

Differences from asyncio
------------------------
* ``communicate()`` closes the child's stdin even when called without input, on
  every Python version (3.12+ behaviour; 3.11 left it open, so a child reading
  stdin to EOF never finished).
* If ``communicate()`` is cancelled, its helper tasks are cancelled with it; the
  child keeps running (as in asyncio) until you ``kill()`` and ``wait()`` it.
"""

from __future__ import annotations

import subprocess
from asyncio import SubprocessProtocol, get_running_loop
from asyncio.log import logger
from typing import IO, TYPE_CHECKING, Any

from . import _bridge
from ._net.buffers import DEFAULT_LIMIT
from .streams import FlowControlMixin, StreamReader, StreamWriter

if TYPE_CHECKING:
    from asyncio import AbstractEventLoop
    from typing import TypeAlias

    from ._core.typed import StrOrBytesPath

    # What each of stdin/stdout/stderr may be: PIPE, DEVNULL, STDOUT, a descriptor,
    # a file object, or None (inherit).
    _File: TypeAlias = int | IO[Any] | None

__all__ = ["create_subprocess_exec", "create_subprocess_shell", "Process",
           "SubprocessStreamProtocol", "PIPE", "STDOUT", "DEVNULL"]

PIPE = subprocess.PIPE
STDOUT = subprocess.STDOUT
DEVNULL = subprocess.DEVNULL

_STDIN, _STDOUT, _STDERR = 0, 1, 2


class SubprocessStreamProtocol(FlowControlMixin, SubprocessProtocol):
    """Connects a subprocess transport's pipes to stream readers and a writer."""

    def __init__(self, limit: int, loop: AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self._limit = limit
        self.stdin: StreamWriter | None = None
        self.stdout: StreamReader | None = None
        self.stderr: StreamReader | None = None
        self._transport: Any = None
        self._process_exited = False
        #: The read pipes (1, 2) still open; the transport is closed once none is
        #: left and the process has exited.
        self._open_read_pipes: set[int] = set()
        #: Resolved when the child's stdin pipe is closed (StreamWriter.wait_closed).
        self._stdin_closed = self._loop.create_future()

    def __repr__(self) -> str:
        info = [type(self).__name__]
        for name in ("stdin", "stdout", "stderr"):
            stream = getattr(self, name)
            if stream is not None:
                info.append(f"{name}={stream!r}")
        return "<{}>".format(" ".join(info))

    def connection_made(self, transport: Any) -> None:  # a SubprocessTransport
        """Make a StreamReader per read pipe and a StreamWriter for stdin."""
        self._transport = transport
        for fd, name in ((_STDOUT, "stdout"), (_STDERR, "stderr")):
            pipe = transport.get_pipe_transport(fd)
            if pipe is not None:
                reader = StreamReader(limit=self._limit, loop=self._loop)
                reader.set_transport(pipe)
                setattr(self, name, reader)
                self._open_read_pipes.add(fd)
        stdin = transport.get_pipe_transport(_STDIN)
        if stdin is not None:
            self.stdin = StreamWriter(stdin, protocol=self, reader=None, loop=self._loop)

    def _reader(self, fd: int) -> StreamReader | None:
        if fd == _STDOUT:
            return self.stdout
        if fd == _STDERR:
            return self.stderr
        return None

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        """Feed output of pipe *fd* (1: stdout, 2: stderr) to its reader."""
        reader = self._reader(fd)
        if reader is not None:
            reader.feed_data(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        """Pipe *fd* closed: end its reader (or, for stdin, the writer and drain())."""
        if fd == _STDIN:
            if self.stdin is not None:
                self.stdin.close()
            # Wakes drain() (with exc, e.g. BrokenPipeError) and makes it fail from now on.
            self.connection_lost(exc)
            if exc is None:
                self._stdin_closed.set_result(None)
            else:
                self._stdin_closed.set_exception(exc)
                # Awaiting wait_closed() is optional: don't log an unretrieved error.
                self._stdin_closed.exception()
            return
        reader = self._reader(fd)
        if reader is not None:
            if exc is None:
                reader.feed_eof()
            else:
                reader.set_exception(exc)
        self._open_read_pipes.discard(fd)
        self._maybe_close_transport()

    def process_exited(self) -> None:
        """The child exited: close the transport once its output pipes are closed too."""
        self._process_exited = True
        self._maybe_close_transport()

    def _maybe_close_transport(self) -> None:
        if self._process_exited and not self._open_read_pipes and self._transport is not None:
            self._transport.close()
            self._transport = None

    def _get_close_waiter(self, stream: StreamWriter) -> Any:
        if stream is self.stdin:
            return self._stdin_closed
        return None


async def _run_together(loop, *coros):
    """Run *coros* as concurrent tasks and return their results in order.

    The first failure (or our own cancellation) cancels the tasks still running,
    so nothing is left reading a pipe behind the caller's back.
    """
    tasks = [loop.create_task(coro) for coro in coros]
    try:
        return [await task for task in tasks]
    except BaseException:
        for task in tasks:
            task.cancel()
        raise


class Process:
    """A child process started by create_subprocess_exec()/create_subprocess_shell()."""

    def __init__(self, transport: Any, protocol: SubprocessStreamProtocol,
                 loop: AbstractEventLoop) -> None:
        self._transport = transport
        self._protocol = protocol
        self._loop = loop
        self.stdin: StreamWriter | None = protocol.stdin
        self.stdout: StreamReader | None = protocol.stdout
        self.stderr: StreamReader | None = protocol.stderr
        self.pid: int = transport.get_pid()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.pid}>"

    @property
    def returncode(self) -> int | None:
        """None while running; the exit status, or ``-N`` if killed by signal N."""
        return self._transport.get_returncode()

    async def wait(self) -> int:
        """Wait for the child to exit; return its returncode.

        With ``stdout=PIPE``/``stderr=PIPE``, read the pipes too (or use
        communicate()): a child blocked writing to a full pipe never exits.
        """
        return await _bridge.subprocess_transport_wait(self._transport)

    def send_signal(self, signal: int) -> None:
        """Send *signal* to the child (ProcessLookupError once it has been reaped)."""
        self._transport.send_signal(signal)

    def terminate(self) -> None:
        """Ask the child to stop: SIGTERM."""
        self._transport.terminate()

    def kill(self) -> None:
        """Stop the child at once: SIGKILL."""
        self._transport.kill()

    # asyncio's type: (bytes, bytes), although a pipe not requested gives None.
    async def communicate(self, input: bytes | None = None) -> tuple[bytes, bytes]:
        """Send *input* to stdin (then close it), read stdout and stderr to EOF, wait
        for the exit; return ``(stdout_data, stderr_data)`` (None for a pipe not
        requested).  A child that stops reading stdin early is not an error."""
        if input is not None and self.stdin is None:
            if _bridge.COMMUNICATE_INPUT_NEEDS_STDIN_PIPE:
                # asyncio 3.11 fails writing to the missing pipe: its words first.
                raise AttributeError(f"'NoneType' object has no attribute 'write': {self!r}: "
                                     "communicate(input=...) needs stdin=PIPE")
            input = None  # 3.12+: the input is ignored
        _, stdout, stderr = await _run_together(
            self._loop, self._feed_stdin(input), self._read_all(_STDOUT),
            self._read_all(_STDERR))
        await self.wait()
        return stdout, stderr

    async def _feed_stdin(self, input: bytes | None) -> None:
        stdin = self.stdin
        if stdin is None:
            return
        debug = self._loop.get_debug()
        try:
            if input:
                stdin.write(input)
                if debug:
                    logger.debug("%r communicate: feed stdin (%s bytes)", self, len(input))
            await stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            # The child exited or closed stdin without reading everything: that is
            # its business, and its output is still worth collecting.
            if debug:
                logger.debug("%r communicate: stdin got %r", self, exc)
        if debug:
            logger.debug("%r communicate: close stdin", self)
        stdin.close()

    async def _read_all(self, fd: int) -> bytes | None:
        stream = self.stdout if fd == _STDOUT else self.stderr
        if stream is None:
            return None
        output = await stream.read()
        pipe = self._transport.get_pipe_transport(fd)
        if pipe is not None:
            pipe.close()
        return output


def _protocol_factory(limit, loop):
    return lambda: SubprocessStreamProtocol(limit=limit, loop=loop)


async def create_subprocess_shell(cmd: str | bytes, stdin: _File = None,
                                  stdout: _File = None, stderr: _File = None,
                                  limit: int = DEFAULT_LIMIT, **kwds: Any) -> Process:
    """Run *cmd* through the shell; pass PIPE for the streams you want."""
    loop = get_running_loop()
    transport, protocol = await loop.subprocess_shell(
        _protocol_factory(limit, loop), cmd, stdin=stdin, stdout=stdout, stderr=stderr,
        **kwds)
    return Process(transport, protocol, loop)


async def create_subprocess_exec(program: StrOrBytesPath, *args: StrOrBytesPath,
                                 stdin: _File = None, stdout: _File = None,
                                 stderr: _File = None, limit: int = DEFAULT_LIMIT,
                                 **kwds: Any) -> Process:
    """Run *program* with *args* (no shell); pass PIPE for the streams you want."""
    loop = get_running_loop()
    transport, protocol = await loop.subprocess_exec(
        _protocol_factory(limit, loop), program, *args, stdin=stdin, stdout=stdout,
        stderr=stderr, **kwds)
    return Process(transport, protocol, loop)

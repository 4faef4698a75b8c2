"""Subprocess transports: a child process, its three pipes and its exit status.

The child is started with :class:`subprocess.Popen` (all of its options work), its
pipes are connected with the loop's own ``connect_read_pipe`` /
``connect_write_pipe``, and its exit is noticed without blocking the loop:

* **pidfd** (Linux >= 5.3): ``os.pidfd_open(pid)`` gives a descriptor that becomes
  readable when the child exits; it is watched with ``add_reader`` like a socket.
  Signals go through ``signal.pidfd_send_signal`` on it, so a signal can never hit
  an unrelated process that was given a recycled pid.
* **thread** (elsewhere, or when pidfds are refused, e.g. by a seccomp filter): a
  daemon thread blocks in ``os.waitpid(pid, 0)`` and hands the status to the loop
  with ``call_soon_threadsafe``.

Either way only *this* child is waited for (never ``waitpid(-1)``), so children
started by other code are left alone.

Protocol calls follow asyncio: ``connection_made`` once every pipe is connected
(calls that happen before that are queued and delivered after it), then
``pipe_data_received`` / ``pipe_connection_lost`` per pipe and ``process_exited``
in whatever order the events happen, and ``connection_lost`` last — only after the
process has exited *and* every pipe has been closed.  ``close()`` kills a child
that is still running (asyncio does the same).

When the loop is closed with children still unreaped, they are handed over to a
background reaper so that none is left a zombie.

States
------
A transport's state (``_SubprocessState``) and each pipe end's
(``_PipeEndState``) change only through their ``_set_state``, along the tables
``_TRANSITIONS`` and ``_PIPE_END_TRANSITIONS``; any other change is a bug and
fails loudly::

    CONNECTING ──pipes connected──> CONNECTED ──exited, every pipe lost──> FINISHED
    CONNECTING ──connecting a pipe failed──> ABANDONED ──exited, pipes lost──> FINISHED

    pipe end:  PENDING ──connection_made──> CONNECTED ──connection_lost──> LOST
               PENDING ──start-up failed (abandon)──> LOST

The protocol hears from the transport only in CONNECTED: calls made while
CONNECTING are queued and delivered after ``connection_made``; in ABANDONED it
never saw ``connection_made`` and hears nothing.  ``connection_lost`` is scheduled
on entering FINISHED from CONNECTED; ``wait()`` returns on entering FINISHED.
"""

from __future__ import annotations

import asyncio
import enum
import os
import signal
import subprocess
import threading
import warnings
from typing import Any
from asyncio.log import logger

from .. import _bridge
from .._core.futures import set_result_if_pending
from .statemachine import check_transition

__all__ = ["subprocess_exec", "subprocess_shell", "SubprocessTransport", "ChildRegistry",
           "start_subprocess", "pidfd_supported"]

#: Use pidfds when the platform has them (tests turn this off to cover the threads).
USE_PIDFD = hasattr(os, "pidfd_open")
_HAVE_PIDFD_SEND = hasattr(signal, "pidfd_send_signal")


def pidfd_supported() -> bool:
    """Can this process open a pidfd (the kernel and any sandbox allow it)?"""
    if not USE_PIDFD:
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return False
    return True


# -- reaping -----------------------------------------------------------------------

def _reap(popen: subprocess.Popen, *, block: bool):
    """Collect the child's exit status: its returncode, or None if still running.

    The status is stored in ``popen.returncode`` too, so that Popen neither warns
    that the child "is still running" nor tries to wait for it again.
    """
    if popen.returncode is not None:
        return popen.returncode  # Popen.wait()/poll() got it first
    try:
        pid, status = os.waitpid(popen.pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        # Reaped by someone else: Popen (then it records the status) or a
        # waitpid(-1) elsewhere in the program (then the status is lost).  Popen may
        # be between its waitpid() and storing the status, in another thread: its
        # lock (when it has one) covers both, so holding it we see the final value.
        lock = _bridge.popen_waitpid_lock(popen)
        if lock is not None and popen.returncode is None:
            with lock:
                pass
        if popen.returncode is not None:
            return popen.returncode
        logger.warning("Unknown child process pid %d, will report returncode 255",
                       popen.pid)
        returncode = 255
    else:
        if pid == 0:
            return None
        returncode = os.waitstatus_to_exitcode(status)
    popen.returncode = returncode
    return returncode


def _is_running(popen: subprocess.Popen) -> bool:
    """Has the child not exited yet?  Looks without reaping it."""
    if popen.returncode is not None:
        return False
    try:
        return os.waitid(os.P_PID, popen.pid,
                         os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
    except ChildProcessError:
        return False


def _reap_in_background(popen: subprocess.Popen) -> None:
    thread = threading.Thread(target=_reap, args=(popen,), kwargs={"block": True},
                              name=f"coroloop-reaper-{popen.pid}", daemon=True)
    thread.start()


class _ExitWatch:
    """Tells the loop, once, that one child has exited (and reaps it)."""

    kind = "?"

    def __init__(self, loop, popen: subprocess.Popen, on_exit) -> None:
        self._loop = loop
        self._popen = popen
        #: Called on the loop with the returncode; None once called or detached.
        self._on_exit = on_exit

    def __repr__(self) -> str:
        return f"<{type(self).__name__} pid={self._popen.pid}>"

    def send_signal(self, sig: int) -> None:
        if self._popen.returncode is not None:
            return  # reaped: the pid may already belong to another process
        try:
            os.kill(self._popen.pid, sig)
        except ProcessLookupError:
            pass  # exited, not reaped yet

    def _deliver(self, returncode) -> None:
        on_exit, self._on_exit = self._on_exit, None
        if on_exit is not None:
            on_exit(returncode)

    def detach(self) -> None:
        """The loop is closing: stop reporting, but make sure the child is reaped."""
        raise NotImplementedError


class _PidfdWatch(_ExitWatch):
    kind = "pidfd"

    def __init__(self, loop, popen, on_exit) -> None:
        super().__init__(loop, popen, on_exit)
        self._pidfd = os.pidfd_open(popen.pid)  # OSError if refused: caller falls back
        loop.add_reader(self._pidfd, self._on_ready)

    def _on_ready(self) -> None:
        returncode = _reap(self._popen, block=False)
        if returncode is None:
            return  # spurious wakeup
        self._release()
        self._deliver(returncode)

    def _release(self) -> None:
        if self._pidfd >= 0:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = -1

    def send_signal(self, sig: int) -> None:
        if self._pidfd < 0 or not _HAVE_PIDFD_SEND:
            super().send_signal(sig)
            return
        try:
            signal.pidfd_send_signal(self._pidfd, sig)
        except ProcessLookupError:
            pass

    def detach(self) -> None:
        self._on_exit = None
        if self._pidfd < 0:
            return
        self._release()
        if _reap(self._popen, block=False) is None:
            _reap_in_background(self._popen)


class _ThreadWatch(_ExitWatch):
    kind = "thread"

    def __init__(self, loop, popen, on_exit) -> None:
        super().__init__(loop, popen, on_exit)
        self._thread = threading.Thread(target=self._wait, daemon=True,
                                        name=f"coroloop-waitpid-{popen.pid}")
        self._thread.start()

    def _wait(self) -> None:
        returncode = _reap(self._popen, block=True)
        try:
            self._loop.call_soon_threadsafe(self._deliver, returncode)
        except RuntimeError:
            pass  # the loop is closed: the child is reaped, nobody is listening

    def detach(self) -> None:
        self._on_exit = None  # the thread goes on and reaps the child


def _watch_exit(loop, popen, on_exit) -> _ExitWatch:
    if USE_PIDFD:
        try:
            return _PidfdWatch(loop, popen, on_exit)
        except OSError:
            pass  # ENOSYS, EPERM (sandbox), ESRCH (already reaped): use a thread
    return _ThreadWatch(loop, popen, on_exit)


class ChildRegistry:
    """A loop's unfinished children, so that closing the loop does not leak zombies."""

    def __init__(self) -> None:
        self._watches: set[_ExitWatch] = set()

    def __len__(self) -> int:
        return len(self._watches)

    def add(self, watch: _ExitWatch) -> None:
        self._watches.add(watch)

    def discard(self, watch: _ExitWatch) -> None:
        self._watches.discard(watch)

    def close(self) -> None:
        watches, self._watches = self._watches, set()
        for watch in watches:
            watch.detach()


# -- pipes -------------------------------------------------------------------------

class _PipeEndState(enum.Enum):
    #: Popen made the pipe; it is not connected to the loop yet.
    PENDING = "pending"
    #: A pipe transport drives it.
    CONNECTED = "connected"
    #: Closed: pipe_connection_lost went to the transport (or, after a failed
    #: start-up, never will).
    LOST = "lost"


_E = _PipeEndState

_PIPE_END_TRANSITIONS: dict[_PipeEndState, frozenset[_PipeEndState]] = {
    _E.PENDING: frozenset({_E.CONNECTED, _E.LOST}),
    _E.CONNECTED: frozenset({_E.LOST}),
    _E.LOST: frozenset(),
}


class _PipeEnd(asyncio.Protocol):
    """The protocol of one of the child's pipes: forwards to the subprocess transport."""

    def __init__(self, owner: SubprocessTransport, fd: int, file) -> None:
        self.owner = owner
        self.fd = fd
        self.file = file           # Popen's file object, owned by the transport below
        self.transport = None
        #: Changed only by _set_state, along _PIPE_END_TRANSITIONS.
        self.state = _PipeEndState.PENDING

    def __repr__(self) -> str:
        return f"<_PipeEnd fd={self.fd} {self.state.value} pipe={self.transport!r}>"

    def _set_state(self, new: _PipeEndState) -> None:
        check_transition(_PIPE_END_TRANSITIONS, self, self.state, new)
        self.state = new

    def connection_made(self, transport) -> None:
        self.transport = transport
        # (After a failed start-up the pipe being connected may still get here.)
        if self.state is _PipeEndState.PENDING:
            self._set_state(_PipeEndState.CONNECTED)

    def data_received(self, data) -> None:
        self.owner._pipe_data(self.fd, data)

    def connection_lost(self, exc) -> None:
        if self.state is _PipeEndState.LOST:
            return  # abandoned, then its transport closed too
        self._set_state(_PipeEndState.LOST)
        self.owner._pipe_lost(self.fd, exc)

    def abandon(self) -> None:
        """Never connected (start-up failed): close the file, count it as lost."""
        self._set_state(_PipeEndState.LOST)
        self.file.close()

    # The child's stdin pipe applies back-pressure to the subprocess protocol.
    def pause_writing(self) -> None:
        self.owner._protocol.pause_writing()

    def resume_writing(self) -> None:
        self.owner._protocol.resume_writing()


# -- the transport -----------------------------------------------------------------

class _SubprocessState(enum.Enum):
    #: The pipes are being connected; protocol calls are queued.
    CONNECTING = "connecting"
    #: connection_made is scheduled; protocol calls go out as they happen.
    CONNECTED = "connected"
    #: Start-up failed: the protocol is never called.
    ABANDONED = "abandoned"
    #: Exited and every pipe closed: connection_lost scheduled (if CONNECTED), the
    #: wait() futures resolved.  Nothing happens any more.
    FINISHED = "finished"


_S = _SubprocessState

_TRANSITIONS: dict[_SubprocessState, frozenset[_SubprocessState]] = {
    _S.CONNECTING: frozenset({_S.CONNECTED, _S.ABANDONED}),
    _S.CONNECTED: frozenset({_S.FINISHED}),
    _S.ABANDONED: frozenset({_S.FINISHED}),
    _S.FINISHED: frozenset(),
}


class SubprocessTransport(asyncio.SubprocessTransport):
    """A running child process as an ``asyncio.SubprocessTransport``."""

    _extra: dict[str, Any]  # (set by asyncio's BaseTransport.__init__)

    def __init__(self, loop, protocol, popen: subprocess.Popen, registry: ChildRegistry,
                 extra=None) -> None:
        super().__init__(extra)
        self._loop = loop
        self._protocol = protocol
        #: None once FINISHED: from then on signals raise ProcessLookupError.
        self._popen: Any = popen
        self._pid = popen.pid
        self._extra["subprocess"] = popen
        #: None while the child runs; its exit status after (negative: killed by a signal).
        self._returncode: int | None = None
        #: Changed only by _set_state, along _TRANSITIONS.
        self._state = _SubprocessState.CONNECTING
        #: close() was called (is_closing()); independent of the phase.
        self._closed = False
        #: Protocol calls made while CONNECTING, delivered after connection_made.
        self._queued: list[tuple] = []
        #: Futures of wait() calls made before the exit was seen.
        self._exit_waiters: list = []
        self._ends: dict[int, _PipeEnd] = {}
        for fd, file in ((0, popen.stdin), (1, popen.stdout), (2, popen.stderr)):
            if file is not None:
                self._ends[fd] = _PipeEnd(self, fd, file)
        self._registry = registry
        self._watch = _watch_exit(loop, popen, self._process_exited)
        registry.add(self._watch)

    def _set_state(self, new: _SubprocessState) -> None:
        check_transition(_TRANSITIONS, self, self._state, new)
        self._state = new

    def __repr__(self) -> str:
        info = [type(self).__name__]
        if self._closed:
            info.append("closed")
        info.append(f"pid={self._pid}")
        if self._returncode is not None:
            info.append(f"returncode={self._returncode}")
        else:
            info.append("running")
        for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
            end = self._ends.get(fd)
            if end is not None and end.transport is not None:
                info.append(f"{name}={end.transport!r}")
        return "<{}>".format(" ".join(info))

    # -- start-up --------------------------------------------------------------------
    async def _connect_pipes(self) -> None:
        loop = self._loop
        try:
            for end in self._ends.values():
                connect = loop.connect_write_pipe if end.fd == 0 else loop.connect_read_pipe
                await connect(lambda end=end: end, end.file)
        except BaseException:
            # The in-flight pipe's transport (if it got made) was closed by connect;
            # the rest never will be: close their files ourselves.
            self._set_state(_SubprocessState.ABANDONED)
            self._queued.clear()
            for end in self._ends.values():
                if end.state is _PipeEndState.PENDING:
                    end.abandon()
            self._maybe_finish()
            raise
        self._set_state(_SubprocessState.CONNECTED)
        loop.call_soon(self._protocol.connection_made, self)
        for callback, args in self._queued:
            loop.call_soon(callback, *args)
        self._queued.clear()
        self._maybe_finish()  # the child may have exited while we were connecting

    # -- events from the pipes and the exit watch -------------------------------------
    def _call(self, callback, *args) -> None:
        if self._state is _SubprocessState.CONNECTING:
            self._queued.append((callback, args))
        elif self._state is _SubprocessState.CONNECTED:
            self._loop.call_soon(callback, *args)
        # ABANDONED: the protocol never saw connection_made, so it hears nothing.

    def _pipe_data(self, fd: int, data: bytes) -> None:
        self._call(self._protocol.pipe_data_received, fd, data)

    def _pipe_lost(self, fd: int, exc) -> None:
        self._call(self._protocol.pipe_connection_lost, fd, exc)
        self._maybe_finish()

    def _process_exited(self, returncode: int) -> None:
        self._registry.discard(self._watch)
        if self._loop.get_debug():
            logger.info("%r exited with return code %r", self, returncode)
        self._returncode = returncode
        self._call(self._protocol.process_exited)
        self._maybe_finish()
        if _bridge.PROCESS_WAIT_RETURNS_AT_EXIT:
            # wait() is about the child: a grandchild that inherited the pipes may
            # keep them open for ever (gh-119710).
            self._wake_exit_waiters()

    def _maybe_finish(self) -> None:
        state = self._state
        if self._returncode is None or state in (_S.CONNECTING, _S.FINISHED):
            return
        if any(end.state is not _PipeEndState.LOST for end in self._ends.values()):
            return
        self._set_state(_SubprocessState.FINISHED)
        if state is _SubprocessState.CONNECTED:
            self._loop.call_soon(self._deliver_connection_lost)
        else:
            self._release_waiters()

    def _deliver_connection_lost(self) -> None:
        try:
            self._protocol.connection_lost(None)
        finally:
            self._release_waiters()
            self._protocol = None

    def _release_waiters(self) -> None:
        self._wake_exit_waiters()
        self._popen = None

    def _wake_exit_waiters(self) -> None:
        waiters, self._exit_waiters = self._exit_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(self._returncode)

    # -- the SubprocessTransport interface --------------------------------------------
    def get_protocol(self):
        return self._protocol

    def set_protocol(self, protocol) -> None:
        self._protocol = protocol

    def is_closing(self) -> bool:
        return self._closed

    def get_pid(self) -> int:
        return self._pid

    def get_returncode(self):
        return self._returncode

    def get_pipe_transport(self, fd: int):
        end = self._ends.get(fd)
        return None if end is None else end.transport

    def _running_popen(self) -> subprocess.Popen:
        if self._popen is None:
            raise ProcessLookupError(
                f"process {self._pid} has exited and {self!r} is finished: "
                "it can no longer be signalled")
        return self._popen

    def send_signal(self, signal: int) -> None:
        self._running_popen()
        self._watch.send_signal(signal)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def close(self) -> None:
        """Close the pipes and kill the child if it is still running."""
        if self._closed:
            return
        self._closed = True
        for end in self._ends.values():
            if end.transport is not None:
                end.transport.close()
        popen = self._popen
        if popen is not None and self._returncode is None and _is_running(popen):
            if self._loop.get_debug():
                logger.warning("Close running child process: kill %r", self)
            try:
                popen.kill()
            except (ProcessLookupError, PermissionError):
                pass  # exited meanwhile, or setuid

    async def wait(self) -> int:
        """Wait for the child to exit (up to 3.13, as asyncio, also for its pipes to
        close); return its returncode."""
        if self._returncode is not None:
            return self._returncode
        waiter = self._loop.create_future()
        self._exit_waiters.append(waiter)
        return await waiter

    # asyncio's name: some libraries (and CPython's tests) call transport._wait().
    _wait = wait

    def __del__(self, _warn=warnings.warn):
        if not self._closed:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self.close()


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


async def subprocess_exec(loop, protocol_factory, program, *args,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=False,
                          shell=False, bufsize=0, encoding=None, errors=None,
                          text=None, **kwargs):
    """``loop.subprocess_exec()``: run *program* with *args*; (transport, protocol)."""
    if shell:
        raise ValueError("shell must be False for subprocess_exec(); "
                         "use subprocess_shell() to run a shell command")
    _check_popen_options(universal_newlines, bufsize, encoding, errors, text)
    return await _start(loop, protocol_factory, (program,) + args, False, stdin, stdout,
                        stderr, bufsize, kwargs, f"execute program {program!r}")


async def subprocess_shell(loop, protocol_factory, cmd, *,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=False,
                           shell=True, bufsize=0, encoding=None, errors=None,
                           text=None, **kwargs):
    """``loop.subprocess_shell()``: run *cmd* in the shell; (transport, protocol)."""
    if not isinstance(cmd, (bytes, str)):
        raise ValueError(f"cmd must be a string, got {type(cmd).__name__}: "
                         "use subprocess_exec() to run a list of arguments")
    if not shell:
        raise ValueError("shell must be True for subprocess_shell(); "
                         "use subprocess_exec() to run a program directly")
    _check_popen_options(universal_newlines, bufsize, encoding, errors, text)
    return await _start(loop, protocol_factory, cmd, True, stdin, stdout, stderr,
                        bufsize, kwargs, f"run shell command {cmd!r}")


async def _start(loop, protocol_factory, args, shell, stdin, stdout, stderr, bufsize,
                 kwargs, what):
    protocol = protocol_factory()
    if loop.get_debug():
        # The program (or command), never exec's arguments: they may hold secrets.
        logger.debug("%s %s", what, _describe_stdio(stdin, stdout, stderr))
    transport = await start_subprocess(
        loop, protocol, args, shell=shell, stdin=stdin, stdout=stdout, stderr=stderr,
        bufsize=bufsize, registry=loop._io.children, **kwargs)
    if loop.get_debug():
        logger.info("%s: %r", what, transport)
    return transport, protocol


async def start_subprocess(loop, protocol, args, *, shell: bool, stdin, stdout, stderr,
                           bufsize: int, registry: ChildRegistry, extra=None, **kwargs):
    """Start the child, connect its pipes; kill and reap it if that fails."""
    popen = subprocess.Popen(args, shell=shell, stdin=stdin, stdout=stdout, stderr=stderr,
                             universal_newlines=False, bufsize=bufsize, **kwargs)
    transport = SubprocessTransport(loop, protocol, popen, registry, extra)
    try:
        await transport._connect_pipes()
        # Return only once the protocol's connection_made() has run.
        made = loop.create_future()
        loop.call_soon(set_result_if_pending, made, None)
        await made
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException:
        transport.close()
        await transport.wait()
        raise
    return transport

"""Unix signal handlers that run as loop callbacks (``loop.add_signal_handler``).

How a signal reaches the loop: Python's C-level signal handler only sets a flag
and, if ``signal.set_wakeup_fd()`` names a descriptor, writes the signal number
to it as one byte.  We give it the write end of a non-blocking socket pair and
watch the read end with ``add_reader``; each byte read is one delivery, turned
into a ``call_soon`` of the user's callback.  The Python-level handler we install
with ``signal.signal()`` does nothing: it exists only so that Python does not
apply the default action (or raise KeyboardInterrupt) — the real work happens on
the loop, between callbacks, where it is safe to touch any state.

Only the main thread may install signal handlers or the wakeup fd (CPython's
rule), so a loop running in another thread gets a RuntimeError, as in asyncio.
"""

from __future__ import annotations

import contextvars
import errno
import signal
import socket
import sys
import warnings
from typing import Any
from asyncio.log import logger

from .._core.coroutines import is_coroutine_function, iscoroutine

__all__ = ["SignalHandlers", "check_signal"]

# Signals whose disposition the kernel will not let anyone change.
_UNCATCHABLE = frozenset(s for s in (getattr(signal, "SIGKILL", None),
                                     getattr(signal, "SIGSTOP", None)) if s is not None)


def _ignore_signal(signum, frame) -> None:
    """The Python-level handler: the wakeup fd carries the signal to the loop."""


def check_signal(sig) -> None:
    """asyncio's validation: TypeError for a non-int, ValueError for an unknown number."""
    if not isinstance(sig, int):
        raise TypeError(f"sig must be an int, not {sig!r}")
    if sig not in signal.valid_signals():
        raise ValueError(f"invalid signal number {sig}")


def _default_disposition(sig):
    # SIGINT's default in Python is the handler raising KeyboardInterrupt.
    return signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL


class SignalHandlers:
    """One loop's signal handlers and the wakeup socket pair that feeds them.

    The socket pair exists while at least one handler is installed; the wakeup fd
    points at it exactly then.
    """

    def __init__(self, loop) -> None:
        self._loop = loop
        #: signal number -> (callback, args, context captured when it was added)
        self._handlers: dict[int, tuple] = {}
        #: (read end, write end) while handlers are installed, else None.
        self._pair: Any = None  # (reader, writer): a socket pair, while in use

    def __contains__(self, sig) -> bool:
        return sig in self._handlers

    def __len__(self) -> int:
        return len(self._handlers)

    def add(self, sig, callback, *args) -> None:
        if iscoroutine(callback) or is_coroutine_function(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler(): "
                            "pass a plain function that schedules one with create_task()")
        check_signal(sig)
        if self._loop.is_closed():
            raise RuntimeError("Event loop is closed")
        if sig in _UNCATCHABLE:
            raise RuntimeError(f"sig {sig} cannot be caught ({signal.Signals(sig).name}: "
                               "the kernel never lets a process handle it)")
        fresh_pair = self._pair is None
        if fresh_pair:
            self._open_pair()
        try:
            # Fails with ValueError outside the main thread: check before anything else
            # changes, so a loop in another thread cannot take signals over.
            signal.set_wakeup_fd(self._pair[1].fileno())
        except (ValueError, OSError) as exc:
            if fresh_pair:
                self._close_pair()
            raise RuntimeError(f"{exc} (add_signal_handler(): signal handlers can only "
                               "be added by a loop running in the main thread)") from None
        if fresh_pair:
            self._loop.add_reader(self._pair[0].fileno(), self._on_wakeup)
        self._handlers[sig] = (callback, args, contextvars.copy_context())
        try:
            signal.signal(sig, _ignore_signal)
            # Restart interrupted system calls instead of failing them with EINTR.
            signal.siginterrupt(sig, False)
        except OSError as exc:
            del self._handlers[sig]
            if not self._handlers:
                self._release_wakeup_fd()
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught") from None
            raise

    def remove(self, sig) -> bool:
        check_signal(sig)
        if self._handlers.pop(sig, None) is None:
            return False
        try:
            signal.signal(sig, _default_disposition(sig))
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught") from None
            raise
        finally:
            if not self._handlers:
                self._release_wakeup_fd()
        return True

    def close(self) -> None:
        """Remove every handler (loop.close())."""
        if sys.is_finalizing():
            # Too late to call signal.signal() safely: just forget them.
            if self._handlers:
                warnings.warn(f"Closing the loop {self._loop!r} on interpreter shutdown "
                              "stage, skipping signal handlers removal",
                              ResourceWarning, source=self._loop)
            self._handlers.clear()
            return
        for sig in list(self._handlers):
            self.remove(sig)
        self._release_wakeup_fd()

    # -- the wakeup socket pair ------------------------------------------------------
    def _open_pair(self) -> None:
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        self._pair = (reader, writer)

    def _close_pair(self) -> None:
        if self._pair is None:
            return
        reader, writer = self._pair
        self._pair = None
        self._loop.remove_reader(reader.fileno())
        reader.close()
        writer.close()

    def _release_wakeup_fd(self) -> None:
        if self._pair is None:
            return
        ours = self._pair[1].fileno()
        try:
            previous = signal.set_wakeup_fd(-1)
            if previous != ours and previous != -1:
                # Somebody (another loop) took the wakeup fd after us: leave theirs.
                signal.set_wakeup_fd(previous)
        except (ValueError, OSError) as exc:
            logger.info("set_wakeup_fd(-1) failed: %s", exc)
        self._close_pair()

    def _on_wakeup(self) -> None:
        reader = self._pair[0]
        while True:
            try:
                data = reader.recv(4096)
            except (BlockingIOError, InterruptedError):
                return
            if not data:
                return
            for signum in data:
                entry = self._handlers.get(signum)
                if entry is None:
                    continue  # removed after it was raised: nothing to run
                callback, args, context = entry
                self._loop.call_soon(callback, *args, context=context)

"""Drive a command through a pseudo-terminal, as a person at a terminal would.

The child gets the pty as its controlling terminal (``pty.fork``), so Ctrl-C
(``\\x03``) and Ctrl-D (``\\x04``) typed into it become SIGINT and end-of-file through
the terminal's line discipline, exactly as from a keyboard.
"""

from __future__ import annotations

import os
import platform
import pty
import select
import signal
import time

# System calls a process blocked waiting for terminal input is in (read, poll, select,
# pselect6, ppoll), by architecture: /proc/PID/syscall names the call by number.
_INPUT_WAITS = {
    "x86_64": {0, 7, 23, 270, 271},
    "aarch64": {63, 72, 73},
}


class PtySession:
    """A child process on a pty; ``expect()`` reads its output until a text appears."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str | None = None):
        pid, fd = pty.fork()
        if pid == 0:  # the child: exec at once (nothing else is safe after fork)
            try:
                if cwd:
                    os.chdir(cwd)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.pid = pid
        self.fd = fd
        self.output = ""       # everything read so far
        self._seen = 0         # offset in output up to which expect() has consumed
        self.status: int | None = None

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def sendline(self, line: str) -> None:
        self.send(line + "\r")

    def enter(self, *lines: str, prompt: str = ">>> ") -> str:
        """Type *lines* (a blank line after a block), then read up to the next prompt;
        what the console printed meanwhile, the echoed input included."""
        for line in lines:
            self.sendline(line)
        if len(lines) > 1 or lines[0].rstrip().endswith(":"):
            self.sendline("")
        return self.expect(prompt)

    def wait_until_reading(self, timeout: float = 20.0) -> None:
        """Return once the child's main thread is blocked waiting for terminal input.

        Python checks for a pending SIGINT only when that wait is interrupted: a Ctrl-C
        that arrives while readline is still setting up the prompt is seen only with
        the next keystroke (in Python's own REPL too).  A test that presses Ctrl-C at
        the prompt waits for this first, so it tests the console, not that race.
        """
        waits = _INPUT_WAITS.get(platform.machine())
        assert waits, f"no system call table for {platform.machine()}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(f"/proc/{self.pid}/syscall") as f:
                call = f.read().split()[0]
            if call.isdigit() and int(call) in waits:
                return
            self._read(0.01)
        raise AssertionError("the child never waited for input; it printed:\n" + self.output)

    def expect(self, text: str, timeout: float = 20.0) -> str:
        """Read until *text* appears after the previous match; return what came before it."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.output.find(text, self._seen)
            if found >= 0:
                before = self.output[self._seen:found]
                self._seen = found + len(text)
                return before
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                raise AssertionError(f"{text!r} did not appear; the session printed:\n"
                                     f"{self.output[self._seen:]!r}\n(all of it:\n{self.output})")

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        if not data:
            return False
        self.output += data.decode(errors="replace").replace("\r\n", "\n")
        return True

    def wait(self, timeout: float = 20.0) -> int:
        """Wait for the child to exit (reading its output meanwhile); its exit status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while self._read(0.05):
                    pass
                self.status = os.waitstatus_to_exitcode(status)
                return self.status
            self._read(0.05)
        raise AssertionError(f"the child did not exit; it printed:\n{self.output}")

    def close(self) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(self.fd)

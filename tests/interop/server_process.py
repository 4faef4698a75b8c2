"""A server under test in its own process: start it, read its output, signal it.

The server runs in a new session (its own process group), so ``interrupt()`` can
send SIGINT to the whole group as Ctrl-C in a terminal does, while ``terminate()``
sends SIGTERM to the one process a process manager would signal.  Its stdout and
stderr are merged and read line by line by a thread; ``expect()`` waits for a line
matching a pattern, so the test waits on what the server says, not on time.
"""

from __future__ import annotations

import http.client
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time


class ServerProcess:
    def __init__(self, argv: list[str], env: dict[str, str], cwd=None):
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._consumed = 0

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def expect(self, pattern: str, timeout: float = 30.0) -> re.Match:
        """The first line after the previous match that matches *pattern*."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            while self._consumed < len(self.lines):
                line = self.lines[self._consumed]
                self._consumed += 1
                match = regex.search(line)
                if match:
                    return match
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
                self._queue.put(None)
            if line is None:
                raise AssertionError(f"no line matched {pattern!r}; the server said:\n"
                                     + "\n".join(self.lines))
            self.lines.append(line)

    def terminate(self) -> None:
        """SIGTERM to the server process, as a process manager stops a service."""
        self.proc.send_signal(signal.SIGTERM)

    def interrupt(self) -> None:
        """SIGINT to the server's whole process group, as Ctrl-C in its terminal."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def wait(self, timeout: float = 30.0) -> int:
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("the server did not exit; it said:\n" + "\n".join(self.lines))
        self._reader.join(5)
        while not self._queue.empty():
            line = self._queue.get()
            if line is not None:
                self.lines.append(line)
        return status

    def output(self) -> str:
        return "\n".join(self.lines)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc.stdout.close()


def http_get(port: int, path: str, timeout: float = 30.0) -> tuple[int, str]:
    """A blocking GET on 127.0.0.1:port; (status, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def wait_until_refused(port: int, timeout: float = 30.0) -> None:
    """Return once 127.0.0.1:port refuses connections (the server closed its listener)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except ConnectionRefusedError:
            return
        except (ConnectionResetError, TimeoutError):
            pass  # queued as the listener closed, then reset: look again
        time.sleep(0.01)
    raise AssertionError(f"127.0.0.1:{port} still accepts connections")

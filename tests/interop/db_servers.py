"""Private PostgreSQL and Redis servers for the database interop tests.

Each server runs from a fresh temporary directory, listens on 127.0.0.1 on a free
port, and is stopped (and its directory removed) when the test session ends.  The
binaries are Debian's (``make test`` installs ``postgresql`` and ``redis-server``
when they are missing).  A missing binary fails the test that needs it: these tests
never skip.

PostgreSQL refuses to run as root, and CI runs as root: the cluster then belongs to
the ``postgres`` system user (created by Debian's package) and its processes run as
that user.  Run as anyone else, it belongs to the caller.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

INSTALL_HINT = "(make test installs Debian's postgresql and redis-server when missing)"


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now (bind port 0, read it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with status {proc.returncode} while starting")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


def _stop(proc: subprocess.Popen, sig: int, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _serving(server_class):
    """A fixture body: start a server, hand it to the tests, stop it afterwards."""
    server = server_class()
    try:
        yield server
    finally:
        server.stop()


# --- PostgreSQL -----------------------------------------------------------------------------
def postgres_bindir() -> str:
    """The directory of Debian's newest installed PostgreSQL server binaries."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if candidates:
        return os.path.dirname(candidates[-1])
    found = shutil.which("postgres")
    if found:
        return os.path.dirname(os.path.realpath(found))
    pytest.fail(f"no PostgreSQL server binary (postgres) found {INSTALL_HINT}")


class PostgresServer:
    """A throwaway cluster: ``dsn`` connects as superuser ``coroloop`` to db ``postgres``."""

    def __init__(self) -> None:
        bindir = postgres_bindir()
        self.port = free_port()
        self.root = tempfile.mkdtemp(prefix="coroloop-pg-")
        data = os.path.join(self.root, "data")
        run_as = {}
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail(f"running as root but there is no 'postgres' user {INSTALL_HINT}")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            run_as = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
        os.chmod(self.root, 0o700)
        subprocess.run([os.path.join(bindir, "initdb"), "-D", data, "-U", "coroloop",
                        "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions"],
                       check=True, capture_output=True, cwd=self.root, **run_as)
        self.log = open(os.path.join(self.root, "postgres.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(bindir, "postgres"), "-D", data, "-h", "127.0.0.1",
             "-p", str(self.port), "-k", self.root, "-c", "fsync=off",
             "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=100"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.root, **run_as)
        try:
            _wait_for_port(self.port, self.proc, "postgres")
            # Listening is not ready: until recovery ends, connections get "the database
            # system is starting up".  pg_isready says when it accepts them.
            self._wait_until_ready(os.path.join(bindir, "pg_isready"))
        except BaseException:
            self.stop()
            raise
        self.dsn = f"postgresql://coroloop@127.0.0.1:{self.port}/postgres"

    def _wait_until_ready(self, pg_isready: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"postgres exited with status {self.proc.returncode} while starting")
            ready = subprocess.run([pg_isready, "-q", "-h", "127.0.0.1", "-p", str(self.port),
                                    "-U", "coroloop", "-d", "postgres"], timeout=30)
            if ready.returncode == 0:
                return
            time.sleep(0.05)
        pytest.fail(f"postgres on 127.0.0.1:{self.port} did not accept connections "
                    f"within {timeout}s")

    def stop(self) -> None:
        _stop(self.proc, signal.SIGINT)  # "fast shutdown": roll back, disconnect, exit
        self.log.close()
        if self.proc.returncode not in (0, None):
            with open(self.log.name) as log:
                print(f"postgres exited with status {self.proc.returncode}:\n{log.read()}")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres():
    """The session's PostgreSQL server (started on first use)."""
    yield from _serving(PostgresServer)


# --- Redis ----------------------------------------------------------------------------------
def redis_server_binary() -> str:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)
    if found is None:
        pytest.fail(f"no redis-server binary found {INSTALL_HINT}")
    return found


class RedisServer:
    """A Redis server without persistence; ``url`` connects to it.  ``kill()`` and
    ``start()`` take it down hard and bring it back on the same port."""

    def __init__(self) -> None:
        self.binary = redis_server_binary()
        self.port = free_port()
        self.root = tempfile.mkdtemp(prefix="coroloop-redis-")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", self.root, "--protected-mode", "no",
             "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.root)
        _wait_for_port(self.port, self.proc, "redis-server")

    def kill(self) -> None:
        """SIGKILL: the server dies mid-whatever, its connections reset."""
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        _stop(self.proc, signal.SIGTERM)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server():
    """The session's Redis server (started on first use)."""
    yield from _serving(RedisServer)


@pytest.fixture
def private_redis_server():
    """A Redis server of the test's own, which the test may kill and restart."""
    yield from _serving(RedisServer)

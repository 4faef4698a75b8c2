"""Subprocesses: loop.subprocess_exec/_shell, the transport, and coroloop.subprocess.

Behavioural tests run on coroloop's loop twice — exit detection through a pidfd
and through a waitpid thread — and on the standard library's loop, whose
behaviour is the specification.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import coroloop
import coroloop.subprocess as csp
from coroloop._net import process as process_mod

PY = sys.executable
CAT = [PY, "-c", "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read())"]
BLOCKED = [PY, "-c", "import time; time.sleep(3600)"]


def new_coroloop_loop():
    return coroloop.new_event_loop()


IMPLEMENTATIONS = ["pidfd", "thread", "asyncio"]
if not process_mod.pidfd_supported():
    IMPLEMENTATIONS.remove("pidfd")


@pytest.fixture(params=IMPLEMENTATIONS)
def loop(request, monkeypatch):
    if request.param == "asyncio":
        the_loop = asyncio.new_event_loop()
    else:
        monkeypatch.setattr(process_mod, "USE_PIDFD", request.param == "pidfd")
        the_loop = new_coroloop_loop()
    the_loop.kind = request.param
    yield the_loop
    pending = [t for t in asyncio.all_tasks(the_loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        the_loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    the_loop.close()
    asyncio.set_event_loop(None)
    assert not pending, f"test left tasks pending: {pending}"


@pytest.fixture
def coroloop_only(loop):
    if loop.kind == "asyncio":
        pytest.skip("coroloop-specific behaviour")
    return loop


def run(loop, coro, timeout=30):
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


def open_fds() -> set[int]:
    return set(int(n) for n in os.listdir("/proc/self/fd"))


def assert_reaped(pid: int) -> None:
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


# -- the stream API (coroloop.subprocess) --------------------------------------------------
def test_communicate_with_input(loop):
    async def main():
        proc = await csp.create_subprocess_exec(*CAT, stdin=csp.PIPE, stdout=csp.PIPE)
        assert proc.returncode is None
        assert isinstance(proc.pid, int) and repr(proc) == f"<Process {proc.pid}>"
        out, err = await proc.communicate(b"some data")
        assert (out, err) == (b"some data", None)
        assert proc.returncode == 0
        # wait() after the exit answers at once, as often as asked.
        assert await asyncio.gather(*[proc.wait() for _ in range(5)]) == [0] * 5
        assert_reaped(proc.pid)

    run(loop, main())


def test_communicate_without_input_closes_stdin(loop):
    async def main():
        proc = await csp.create_subprocess_exec(*CAT, stdin=csp.PIPE, stdout=csp.PIPE)
        out, _ = await proc.communicate()
        return out, proc.returncode

    if loop.kind == "asyncio" and sys.version_info < (3, 12):
        pytest.skip("asyncio 3.11 leaves stdin open (fixed in 3.12)")
    assert run(loop, main()) == (b"", 0)


def test_megabytes_on_stdout_and_stderr_while_reading_stdin_do_not_deadlock(loop):
    # The child writes 4 MiB to stdout *and* stderr for every chunk it reads:
    # all three pipes are full at some point; only concurrent service gets through.
    code = (
        "import sys\n"
        "while True:\n"
        "    chunk = sys.stdin.buffer.read(65536)\n"
        "    if not chunk: break\n"
        "    sys.stdout.buffer.write(chunk * 64)\n"
        "    sys.stderr.buffer.write(chunk.upper() * 64)\n"
    )
    data = b"ab" * (1 << 19)  # 1 MiB in, 64 MiB out on each of stdout and stderr

    async def main():
        proc = await csp.create_subprocess_exec(
            PY, "-c", code, stdin=csp.PIPE, stdout=csp.PIPE, stderr=csp.PIPE)
        out, err = await proc.communicate(data)
        assert proc.returncode == 0
        assert len(out) == len(err) == 64 * len(data)
        assert out[:4] == b"abab" and err[-4:] == b"ABAB"

    run(loop, main(), timeout=50)


def test_small_limit_still_reads_everything(loop):
    async def main():
        proc = await csp.create_subprocess_exec(
            PY, "-c", "import sys; sys.stdout.write('x' * 100000)", stdout=csp.PIPE,
            limit=10)
        out, _ = await proc.communicate()
        assert out == b"x" * 100000

    run(loop, main())


def test_stdin_stdout_streams(loop):
    async def main():
        proc = await csp.create_subprocess_exec(
            PY, "-u", "-c",
            "import sys\nfor line in sys.stdin: print(line.strip().upper(), flush=True)",
            stdin=csp.PIPE, stdout=csp.PIPE)
        proc.stdin.write(b"one\n")
        await proc.stdin.drain()
        assert await proc.stdout.readline() == b"ONE\n"
        proc.stdin.write(b"two\n")
        proc.stdin.close()
        await proc.stdin.wait_closed()
        assert await proc.stdout.read() == b"TWO\n"
        assert await proc.wait() == 0

    run(loop, main())


def test_stderr_to_stdout_and_devnull(loop):
    async def main():
        proc = await csp.create_subprocess_exec(
            PY, "-c", "import sys; sys.stdout.write('out'); sys.stdout.flush(); "
                      "sys.stderr.write('err')",
            stdin=csp.DEVNULL, stdout=csp.PIPE, stderr=csp.STDOUT)
        assert proc.stdin is None and proc.stderr is None
        out, err = await proc.communicate()
        assert (out, err) == (b"outerr", None)

    run(loop, main())


def test_shell_exit_status_and_environment(loop):
    async def main():
        proc = await csp.create_subprocess_shell("exit 7")
        assert await proc.wait() == 7
        env = dict(os.environ, COROLOOP_TEST="bar")
        proc = await csp.create_subprocess_shell(
            'printf %s "$COROLOOP_TEST"', stdout=csp.PIPE, env=env)
        out, _ = await proc.communicate()
        assert out == b"bar" and proc.returncode == 0

    run(loop, main())


@pytest.mark.parametrize("method, signum", [("kill", signal.SIGKILL),
                                            ("terminate", signal.SIGTERM)])
def test_kill_and_terminate_give_negative_returncodes(loop, method, signum):
    async def main():
        proc = await csp.create_subprocess_exec(*BLOCKED)
        getattr(proc, method)()
        assert await proc.wait() == -signum
        assert proc.returncode == -signum

    run(loop, main())


def test_send_signal(loop):
    async def main():
        proc = await csp.create_subprocess_exec(
            PY, "-c", "import signal, sys, time; signal.signal(signal.SIGHUP, signal.SIG_DFL);"
                      " print('ready', flush=True); time.sleep(3600)",
            stdout=csp.PIPE)
        assert await proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGHUP)
        assert await proc.wait() == -signal.SIGHUP

    run(loop, main())


def test_signal_after_exit_is_harmless(coroloop_only):
    # cpython#87744: signalling a child that exited must not steal its status.  Not on
    # asyncio: there Popen.send_signal() polls the child, racing the child watcher's
    # waitpid(), which then reports returncode 255 ("Unknown child process") at times.
    loop = coroloop_only

    async def main():
        for _ in range(3):
            proc = await csp.create_subprocess_exec(PY, "-c", "pass")
            while proc.returncode is None and not _has_exited(proc.pid):
                await asyncio.sleep(0.005)
            try:
                proc.send_signal(signal.SIGUSR1)
            except ProcessLookupError:
                pass
            assert await proc.wait() == 0

    run(loop, main())


def _has_exited(pid: int) -> bool:
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def test_communicate_ignores_broken_pipe(loop):
    async def main():
        loop.set_exception_handler(lambda *args: None)
        proc = await csp.create_subprocess_exec(PY, "-c", "pass", stdin=csp.PIPE)
        await proc.communicate(b"x" * (4 << 20))
        assert proc.returncode == 0

    run(loop, main())


def test_drain_raises_when_the_child_stops_reading(loop):
    rfd, wfd = os.pipe()

    async def main():
        # The child exits as soon as we tell it to, with our data still unread.
        proc = await csp.create_subprocess_exec(
            PY, "-c", f"import os; os.read({rfd}, 1)", stdin=csp.PIPE, pass_fds=(rfd,))
        proc.stdin.write(b"x" * (4 << 20))
        os.write(wfd, b"go")
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            await proc.stdin.drain()
        assert await proc.wait() == 0

    try:
        loop.set_exception_handler(lambda *args: None)
        run(loop, main())
    finally:
        os.close(rfd)
        os.close(wfd)


def test_cancelled_communicate_leaves_no_zombie_and_no_fd(loop):
    before = open_fds()

    async def main():
        proc = await csp.create_subprocess_exec(
            PY, "-c", "import sys, time; print('started', flush=True); time.sleep(3600)",
            stdin=csp.PIPE, stdout=csp.PIPE, stderr=csp.PIPE)
        task = asyncio.ensure_future(proc.communicate(b"input"))
        for _ in range(20):  # communicate() is now feeding stdin and reading
            await asyncio.sleep(0)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert proc.returncode is None  # cancelling does not kill the child
        proc.kill()
        assert await proc.wait() == -signal.SIGKILL
        for _ in range(5):  # let the pipes' connection_lost callbacks run
            await asyncio.sleep(0)
        return proc.pid

    pid = run(loop, main())
    assert_reaped(pid)
    assert open_fds() <= before


def test_cancelled_wait_then_kill(loop):
    async def main():
        proc = await csp.create_subprocess_exec(*BLOCKED)
        task = asyncio.ensure_future(proc.wait())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        proc.kill()
        assert await proc.wait() == -signal.SIGKILL

    run(loop, main())


def test_cancelled_creation_kills_and_reaps_the_child(loop):
    started = []
    real_popen = subprocess.Popen

    def spy(*args, **kwargs):
        popen = real_popen(*args, **kwargs)
        started.append(popen.pid)
        return popen

    async def main():
        task = asyncio.ensure_future(csp.create_subprocess_exec(*BLOCKED, stdout=csp.PIPE))
        while not started:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with mockpatch(subprocess, "Popen", spy):
        run(loop, main())
    assert len(started) == 1
    assert_reaped(started[0])


@contextlib.contextmanager
def mockpatch(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def test_popen_failure_propagates(loop):
    async def main():
        with pytest.raises(FileNotFoundError):
            await csp.create_subprocess_exec("/nonexistent/coroloop-no-such-program",
                                             stdin=csp.PIPE, stdout=csp.PIPE)

    run(loop, main())


@pytest.mark.parametrize("kwargs", [dict(universal_newlines=True), dict(bufsize=4096),
                                    dict(text=True), dict(encoding="utf-8"),
                                    dict(errors="strict"), dict(shell=True)])
def test_exec_rejects_text_mode_and_shell(loop, kwargs):
    async def main():
        with pytest.raises(ValueError):
            await loop.subprocess_exec(asyncio.SubprocessProtocol, PY, "-c", "pass",
                                       **kwargs)

    run(loop, main())


@pytest.mark.parametrize("cmd, kwargs", [(["ls"], {}), ("exit 0", dict(shell=False)),
                                         ("exit 0", dict(text=True))])
def test_shell_rejects_bad_arguments(loop, cmd, kwargs):
    async def main():
        with pytest.raises(ValueError):
            await loop.subprocess_shell(asyncio.SubprocessProtocol, cmd, **kwargs)

    run(loop, main())


# -- the transport and the protocol ----------------------------------------------------------
class EventProtocol(asyncio.SubprocessProtocol):
    def __init__(self, loop):
        self.events = []
        self.data = {1: bytearray(), 2: bytearray()}
        self.done = loop.create_future()

    def connection_made(self, transport):
        self.events.append("made")

    def pipe_data_received(self, fd, data):
        self.data[fd] += data
        self.events.append(("data", fd))

    def pipe_connection_lost(self, fd, exc):
        self.events.append(("pipe_lost", fd))

    def process_exited(self):
        self.events.append("exited")

    def connection_lost(self, exc):
        self.events.append("lost")
        self.done.set_result(exc)


def test_protocol_events_order(loop):
    async def main():
        proto = EventProtocol(loop)
        code = "import sys; sys.stdout.write('stdout'); sys.stderr.write('stderr')"
        transport, p = await loop.subprocess_exec(lambda: proto, PY, "-c", code, stdin=None)
        assert p is proto
        assert transport.get_pipe_transport(0) is None
        assert transport.get_pipe_transport(1) is not None
        assert await proto.done is None
        ev = proto.events
        assert ev[0] == "made" and ev[-1] == "lost"
        assert "exited" in ev and ev.count("lost") == 1
        for fd in (1, 2):
            per_fd = [e[0] for e in ev if isinstance(e, tuple) and e[1] == fd]
            assert per_fd[-1] == "pipe_lost" and set(per_fd[:-1]) == {"data"}
        assert bytes(proto.data[1]) == b"stdout" and bytes(proto.data[2]) == b"stderr"
        assert transport.get_returncode() == 0
        assert not transport.is_closing()
        # Finished: signals are refused, close() is harmless.
        with pytest.raises(ProcessLookupError):
            transport.send_signal(signal.SIGTERM)
        with pytest.raises(ProcessLookupError):
            transport.kill()
        transport.close()
        assert transport.is_closing()

    run(loop, main())


def test_connection_lost_waits_for_pipes_still_held_by_a_grandchild(loop):
    # The child exits at once, but a grandchild keeps stdout open for a moment:
    # connection_lost (and asyncio's wait()) come only when the pipe closes.
    code = ("import subprocess, sys; subprocess.Popen([sys.executable, '-c', "
            "'import sys, time; time.sleep(0.3); sys.stdout.write(\"late\")'])")

    async def main():
        proto = EventProtocol(loop)
        transport, _ = await loop.subprocess_exec(lambda: proto, PY, "-c", code,
                                                  stdin=None, stderr=None)
        while "exited" not in proto.events:
            await asyncio.sleep(0.01)
        assert transport.get_returncode() == 0
        assert "lost" not in proto.events
        await proto.done
        assert bytes(proto.data[1]) == b"late"
        assert proto.events.index("exited") < proto.events.index("lost")
        transport.close()

    run(loop, main())


def test_close_kills_a_running_child(loop):
    async def main():
        proto = EventProtocol(loop)
        transport, _ = await loop.subprocess_exec(lambda: proto, *BLOCKED)
        assert transport.get_returncode() is None
        assert f"pid={transport.get_pid()}" in repr(transport)
        transport.close()
        await proto.done
        assert transport.get_returncode() == -signal.SIGKILL

    run(loop, main())


def test_close_does_not_kill_a_child_that_already_exited(coroloop_only):
    loop = coroloop_only

    async def main():
        proto = EventProtocol(loop)
        transport, _ = await loop.subprocess_exec(lambda: proto, PY, "-c", "pass",
                                                  stdin=None, stdout=None, stderr=None)
        popen = transport.get_extra_info("subprocess")
        popen.wait()  # reaped behind the loop's back: Popen keeps the status
        kills = []
        popen.kill = lambda: kills.append(True)
        transport.close()
        await proto.done
        assert kills == []
        assert transport.get_returncode() == 0

    run(loop, main())


def test_stdin_pipe_flow_control_reaches_the_protocol(loop):
    class Proto(EventProtocol):
        def pause_writing(self):
            self.events.append("pause")

        def resume_writing(self):
            self.events.append("resume")

    async def main():
        proto = Proto(loop)
        transport, _ = await loop.subprocess_exec(lambda: proto, *CAT, stdout=subprocess.DEVNULL,
                                                  stderr=None)
        stdin = transport.get_pipe_transport(0)
        stdin.write(b"q" * (4 << 20))
        assert "pause" in proto.events
        stdin.close()
        await proto.done
        assert "resume" in proto.events
        assert transport.get_returncode() == 0
        transport.close()

    run(loop, main())


# -- exit detection --------------------------------------------------------------------------
def _waitpid_threads(pid):
    return [t for t in threading.enumerate() if t.name == f"coroloop-waitpid-{pid}"]


def test_exit_detection_mechanism(coroloop_only):
    loop = coroloop_only

    async def main():
        proc = await csp.create_subprocess_exec(*BLOCKED)
        threads = _waitpid_threads(proc.pid)
        assert len(threads) == (1 if loop.kind == "thread" else 0)
        proc.kill()
        assert await proc.wait() == -signal.SIGKILL
        for thread in threads:
            thread.join(5)
            assert not thread.is_alive()

    run(loop, main())


def test_loop_close_hands_unfinished_children_to_a_reaper(coroloop_only):
    loop = coroloop_only

    async def main():
        transport, _ = await loop.subprocess_exec(asyncio.SubprocessProtocol, *BLOCKED,
                                                  stdin=None, stdout=None, stderr=None)
        transport.close()  # kills; the exit is not seen before the loop closes
        return transport.get_pid()

    pid = loop.run_until_complete(main())
    loop.close()
    deadline = time.monotonic() + 10
    while not _reaped(pid):
        assert time.monotonic() < deadline, f"child {pid} left a zombie"
        time.sleep(0.01)


def _reaped(pid: int) -> bool:
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return False


def test_runs_under_asyncio_run_with_coroloop_loop_factory():
    async def main():
        proc = await csp.create_subprocess_exec(*CAT, stdin=csp.PIPE, stdout=csp.PIPE)
        return await proc.communicate(b"via asyncio.run")

    if sys.version_info >= (3, 12):
        out = asyncio.run(main(), loop_factory=new_coroloop_loop)
    else:
        with asyncio.Runner(loop_factory=new_coroloop_loop) as runner:
            out = runner.run(main())
    assert out == (b"via asyncio.run", None)


def test_wait_and_pipes_held_by_a_grandchild_as_asyncio(loop):
    # gh-119710: 3.14's Process.wait() returns once the child exits even though a
    # grandchild keeps its stdout open; up to 3.13 it also waits for the pipes.  (The
    # "asyncio" parametrization checks the expectation against the stdlib.)
    code = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "'import sys; sys.stdout.write(\"ready\"); sys.stdout.flush(); sys.stdin.read()'])")

    async def main():
        proc = await asyncio.create_subprocess_exec(
            PY, "-c", code, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert await proc.stdout.readexactly(5) == b"ready"  # the grandchild holds both
        waiting = asyncio.ensure_future(proc.wait())
        proc.kill()
        if coroloop._bridge.PROCESS_WAIT_RETURNS_AT_EXIT:
            assert await waiting == -signal.SIGKILL
            proc.stdin.close()  # now let the grandchild go
        else:
            await asyncio.sleep(0.3)
            assert not waiting.done()  # it can only end once the pipes close
            proc.stdin.close()
            assert await waiting == -signal.SIGKILL
        await proc.stdout.read()

    run(loop, main())

"""The monitor endpoint: a running program answers ``ps``/``pstree``/``top``/``dump``/``cancel``.

``serve()`` listens on a Unix socket and answers requests from its own thread, so it
answers while the loop is blocked too::

    coroloop.debug.serve()               # in the program (or COROLOOP_MONITOR=1, or
                                         # python -m coroloop run --monitor SCRIPT)
    $ python -m coroloop ps PID          # from a shell, as the same user (or root)

Four rules, which explain most of this module:

1. **Only the owner gets in.** The socket lives in a per-user directory of mode 0700
   (``$XDG_RUNTIME_DIR/coroloop/``, else ``coroloop-UID`` under the temp directory),
   is itself 0600 and named after the PID; every connection's peer uid is read with
   ``SO_PEERCRED`` and anything but the owner's uid (or root) is refused and logged
   on the ``coroloop.debug`` logger.
2. **Nothing runs code.** The commands are a fixed table; requests are JSON data,
   never evaluated.  ``cancel`` is the only command that changes the program and it
   answers "not allowed" unless the endpoint was made with ``allow_cancel=True``.
3. **The program never notices.** Work on the loop happens in one callback posted
   with ``call_soon_threadsafe`` (the snapshot, a cancel); everything else -- JSON,
   the socket, bad input -- happens on the endpoint's threads, and every error there
   becomes an error reply.  A request gets its answer or an error, never a hang: if
   the loop does not run the callback within the request's ``timeout`` it is
   *blocked*, and the reply says for how long and shows the loop thread's stack.
4. **Nothing is left behind.** The socket is removed by ``close()`` and at exit; a
   stale socket of an earlier process with the same PID is replaced.

The protocol (version 1)
------------------------
One JSON object per line (UTF-8, ``\\n``-terminated, at most ``MAX_REQUEST`` bytes)
each way; a connection may carry any number of requests, answered in order::

    -> {"command": "snapshot", "id": 7}
    <- {"id": 7, "ok": true, "result": {...}}
    <- {"id": 7, "ok": false, "error": {"code": "bad_request", "message": "..."}}

``id`` is optional and echoed back.  Commands and their results:

``hello``     ``{"protocol": 1, "pid", "uid", "coroloop", "python", "allow_cancel",
              "commands": [...], "loops": [{"index", "running", "closed"}]}``
``snapshot``  optional ``"timeout"`` (seconds the loop may take to answer, default
              ``BLOCKED_AFTER``), optional ``"loop"`` (an index from ``hello``,
              default: the running loop), optional ``"created_at"`` and ``"stack"``
              (send only each task's innermost N frames of those: ps needs one
              creation frame and no stack), optional ``"rows": true`` (the
              compact form: ``task_fields``, ``wait_fields`` and ``task_rows``,
              one list per task, instead of ``tasks``; ``expand_rows()`` turns
              it back; ``MonitorClient`` asks for it and expands it), optional
              ``"frame_table": true`` with it (every frame once, in ``frames``,
              the rows' frame lists holding indices into it).  ``{"state": "ok", "snapshot":
              Snapshot.to_dict(), "loop": LOOP}``, or ``{"state": "blocked",
              "blocked_ms", "stack": [[file, line, function, source], ...], "loop":
              LOOP}`` (the loop thread's stack, innermost last), or ``{"state":
              "not_running", "loop": LOOP}`` (the loop exists but nothing runs it).
              LOOP is ``{"index", "iterations", "lag_ms", "time"}``: iterations
              so far, how long the request waited for the loop, the loop's time;
              with ``"state": "ok"`` also ``"stall_ms"``, how long the snapshot
              held the loop (the rest of the work is done off it).
``cancel``    ``"task"`` (a task id from the snapshot), optional ``"msg"``.
              ``{"task", "name", "cancelled"}`` (``cancelled`` as ``task.cancel()``
              returned it).  Only with ``allow_cancel=True``.

Error codes: ``bad_request`` (not one JSON object, unknown fields' types),
``too_large``, ``unknown_command``, ``not_allowed``, ``no_such_task``, ``no_loop``,
``forbidden`` (the peer's uid; the connection is then closed), ``busy`` (too many
connections), ``internal`` (a bug here, logged with its traceback).
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import logging
import os
import platform
import selectors
import socket
import stat
import struct
import sys
import tempfile
import threading
import time
import traceback
import weakref
from typing import Any

import coroloop

from ._tool import gc_paused
from .snapshot import Snapshot, TaskInfo, snapshot
from .taskmonitor import TaskMonitor
from .waits import WaitReason

__all__ = ["BLOCKED_AFTER", "Endpoint", "MAX_REQUEST", "MonitorClient", "MonitorError",
           "PROTOCOL_VERSION", "find_socket", "serve", "socket_directory"]

PROTOCOL_VERSION = 1
#: The longest request line accepted, in bytes (the reply is ``too_large``).
MAX_REQUEST = 64 * 1024
#: Seconds the loop may take to run the endpoint's callback before it counts as blocked.
BLOCKED_AFTER = 1.0  # generous: a loaded machine is slow, not blocked
#: Seconds the work of one request may take on the loop once it started (a bound,
#: not a budget: a snapshot of 10,000 tasks takes a fraction of a second).
_WORK_LIMIT = 60.0
#: Connections served at once; more are answered ``busy`` and closed.
MAX_CONNECTIONS = 16
#: A connection silent this long (seconds) is closed.
IDLE_TIMEOUT = 60.0

logger = logging.getLogger("coroloop.debug")
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class MonitorError(Exception):
    """An error reply (``code``, ``message``), or a failure to reach the endpoint."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message


# -- where sockets live -------------------------------------------------------------

def socket_directory(uid: int | None = None) -> str:
    """The directory holding the sockets of *uid*'s processes (default: ours):
    ``$XDG_RUNTIME_DIR/coroloop`` when that runtime directory is ours, else
    ``coroloop-UID`` under the temp directory.  Not created here."""
    if uid is None:
        uid = os.geteuid()
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and uid == os.geteuid():
        try:
            info = os.stat(runtime)
        except OSError:
            info = None
        if info is not None and stat.S_ISDIR(info.st_mode) and info.st_uid == uid:
            return os.path.join(runtime, "coroloop")
    return os.path.join(tempfile.gettempdir(), f"coroloop-{uid}")


def _candidate_paths(pid: int) -> list[str]:
    """Where process *pid*'s socket may be: its owner's directories first."""
    names = []
    try:
        owner = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        owner = None
    if owner is not None:
        names.append(os.path.join(socket_directory(owner), f"{pid}.sock"))
        names.append(os.path.join(f"/run/user/{owner}", "coroloop", f"{pid}.sock"))
    names.append(os.path.join(socket_directory(), f"{pid}.sock"))
    return list(dict.fromkeys(names))


def find_socket(pid: int) -> str:
    """The socket of process *pid*'s endpoint; ``MonitorError("no_endpoint")`` naming
    the places looked at and how to start one if there is none."""
    if not os.path.exists(f"/proc/{pid}") and sys.platform.startswith("linux"):
        raise MonitorError("no_process", f"there is no process {pid}")
    candidates = _candidate_paths(pid)
    for path in candidates:
        if os.path.exists(path):
            return path
    raise MonitorError(
        "no_endpoint",
        f"process {pid} has no coroloop monitor socket (looked for {', '.join(candidates)}); "
        "start the program with COROLOOP_MONITOR=1, with python -m coroloop run --monitor, "
        "or call coroloop.debug.serve() in it")


def _make_private_directory(path: str) -> None:
    """Create *path* with mode 0700, or check that an existing one is ours and private."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise PermissionError(f"monitor directory {path!r} is not a directory (a symlink or "
                              "a file is in the way): remove it or pass serve(path=...)")
    if info.st_uid != os.geteuid():
        raise PermissionError(f"monitor directory {path!r} belongs to uid {info.st_uid}, not "
                              f"to us (uid {os.geteuid()}): remove it or pass serve(path=...)")
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)  # ours, but left open by someone: close it


def _remove_stale_socket(path: str) -> None:
    """Unlink *path* if it is a socket nobody listens on (an earlier process's)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(info.st_mode):
        raise FileExistsError(f"{path!r} exists and is not a socket: remove it or pass "
                              "another serve(path=...)")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody answers: stale
        return
    finally:
        probe.close()
    raise FileExistsError(f"another monitor endpoint already listens on {path!r}: close it "
                          "or pass serve(path=...)")


# -- the loop side ------------------------------------------------------------------

class _LoopWatch:
    """How long a served loop has been stuck, seen from the endpoint's threads, with
    no hook on the loop: the loop thread pays nothing for it.

    The loop counts its iterations (``loop.iterations()``: it does while the
    ``TaskMonitor`` of ``_Served`` watches it); the endpoint samples that count as it
    posts a request and again when the loop did not take the request in time.  The
    loop has been in the same iteration at least since the count was first seen
    with its current value: that is "blocked for N ms" (a lower bound, at least the
    request's timeout; an earlier request that saw the same iteration makes it
    longer).  The loop thread's id is ``loop.thread_id``.  (An instrument hook per
    iteration gave the iteration's exact start, at one Python call per iteration:
    15-20% on call_soon and sleep0.)  One tuple, replaced whole: threads read it
    without a lock.
    """

    def __init__(self, loop) -> None:
        self._loop_ref = weakref.ref(loop)
        self._seen: tuple = (None, time.monotonic())  # (iteration, first seen at)

    def sample(self) -> float:
        """Monotonic time since which the loop has been seen in its current iteration."""
        loop = self._loop_ref()
        iteration = loop.iterations() if loop is not None else None
        seen = self._seen
        if seen[0] != iteration or iteration is None:
            seen = self._seen = (iteration, time.monotonic())
        return seen[1]

    @property
    def thread_id(self) -> int | None:
        """The thread running the loop (None when it does not run)."""
        loop = self._loop_ref()
        return loop.thread_id if loop is not None else None


class _Served:
    """One loop an endpoint serves: its watch, and the ``TaskMonitor`` that fills the
    snapshot's per-task counters (steps, run time, wait starts, creation sites) --
    the program's own if it installed one, else ours, uninstalled on close."""

    def __init__(self, loop) -> None:
        self.loop_ref = weakref.ref(loop)
        self.own_monitor = TaskMonitor.of(loop) is None
        self.monitor = TaskMonitor.install(loop)  # the loop counts iterations for it
        self.watch = _LoopWatch(loop)

    def loop(self):
        return self.loop_ref()

    def release(self) -> None:
        loop = self.loop()
        if loop is None:
            return
        if self.own_monitor:
            self.monitor.stop()


class _Posted:
    """A callback posted to the loop thread and the endpoint thread waiting for it.

    The two threads agree under ``lock`` whether it started: an abandoned callback
    (the loop was blocked past the timeout) does nothing when it finally runs, and one
    that started is waited for, however long it takes, so a slow snapshot is never
    mistaken for a blocked loop.
    """

    def __init__(self, work) -> None:
        self.work = work
        self.lock = threading.Lock()
        self.started = False
        self.abandoned = False
        self.finished = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.posted = time.monotonic()
        self.lag = 0.0    # how long the loop took to start it (seconds)
        self.stall = 0.0  # how long it ran on the loop's thread

    def __call__(self) -> None:
        with self.lock:
            if self.abandoned:
                return
            self.started = True
        began = time.monotonic()
        self.lag = began - self.posted
        try:
            self.result = self.work()
        except BaseException as exc:  # reported to the client, never to the program
            self.error = exc
        finally:
            self.stall = time.monotonic() - began
            self.finished.set()

    def wait(self, timeout: float) -> bool:
        """True once the work ran; False if the loop did not start it in *timeout*."""
        if self.finished.wait(timeout):
            return True
        with self.lock:
            if not self.started:
                self.abandoned = True
                return False
        if not self.finished.wait(_WORK_LIMIT):
            raise MonitorError("internal", f"the loop started the request but did not "
                               f"finish it in {_WORK_LIMIT:.0f} s")
        return True


# -- the endpoint -------------------------------------------------------------------

_endpoints: dict[str, "Endpoint"] = {}
_endpoints_lock = threading.Lock()


class Endpoint:
    """A listening monitor socket and its thread; made by ``serve()``.

    ``path`` is the socket; ``allow_cancel`` whether ``cancel`` is honoured;
    ``add_loop(loop)`` serves one more loop; ``close()`` (or leaving a ``with``
    block, or the interpreter exiting) stops the thread and removes the socket.
    """

    def __init__(self, path: str, *, allow_cancel: bool = False) -> None:
        self.path = path
        self.allow_cancel = allow_cancel
        self._served: list[_Served] = []
        self._lock = threading.Lock()
        self._connections = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._closed = False
        # Requests being answered: close() lets them finish (a cancel that ends the
        # program still gets its reply out before the process exits).
        self._answering = 0
        self._answered = threading.Condition(self._lock)
        self._watching_new_loops = False
        _remove_stale_socket(path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            # The directory (0700) keeps others out until this chmod narrows the socket.
            os.chmod(path, 0o600)
            listener.listen(16)
            listener.setblocking(False)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self._inode = os.stat(path).st_ino
        self._waker_r, self._waker_w = socket.socketpair()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True,
                                        name=f"coroloop-monitor {os.path.basename(path)}")
        self._thread.start()
        atexit.register(self.close)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._served)} loop(s)"
        return f"<coroloop.debug.Endpoint {self.path!r} {state}>"

    def __enter__(self) -> "Endpoint":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once close() has run (the socket is gone)."""
        return self._closed

    # -- loops --------------------------------------------------------------------
    def add_loop(self, loop) -> None:
        """Serve *loop* too (a coroloop loop; its instrument hooks count iterations)."""
        _check_loop(loop)
        with self._lock:
            self._served = [s for s in self._served if s.loop() is not None]
            if not any(s.loop() is loop for s in self._served):
                self._served.append(_Served(loop))

    def watch_new_loops(self) -> None:
        """Serve every coroloop loop created from now on in this process."""
        if not self._watching_new_loops:
            coroloop.add_loop_watcher(self.add_loop)
            self._watching_new_loops = True

    def _loops(self) -> list[tuple[int, _Served, Any]]:
        with self._lock:
            entries = [(index, served, served.loop()) for index, served in enumerate(self._served)]
        return [(index, served, loop) for index, served, loop in entries if loop is not None]

    def _pick(self, index) -> tuple[int, _Served, Any]:
        loops = self._loops()
        if index is not None:
            for entry in loops:
                if entry[0] == index:
                    return entry
            raise MonitorError("no_loop", f"no loop {index} (hello lists the loops)")
        live = [entry for entry in loops if not entry[2].is_closed()]
        for entry in live:
            if entry[2].is_running():
                return entry
        if live:
            return live[-1]
        raise MonitorError("no_loop", "no coroloop loop is open in this process yet")

    # -- lifecycle ----------------------------------------------------------------
    def close(self) -> None:
        """Stop answering and remove the socket (idempotent; also run at exit)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._answered.wait_for(lambda: self._answering == 0, timeout=2.0)
        if self._watching_new_loops:
            try:
                coroloop.remove_loop_watcher(self.add_loop)
            except ValueError:
                pass
        for _, served, _ in self._loops():
            served.release()
        try:
            self._waker_w.send(b"x")
        except OSError:
            pass
        if threading.current_thread() is not self._thread:
            self._thread.join(5.0)
        self._listener.close()
        self._waker_r.close()
        self._waker_w.close()
        try:  # only our socket: not one a later endpoint put at the same path
            if os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)
        except OSError:
            pass
        with _endpoints_lock:
            if _endpoints.get(self.path) is self:
                del _endpoints[self.path]
        atexit.unregister(self.close)

    # -- the endpoint thread ------------------------------------------------------
    def _accept_loop(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ)
        selector.register(self._waker_r, selectors.EVENT_READ)
        try:
            while not self._closed:
                for key, _ in selector.select():
                    if key.fileobj is self._waker_r:
                        return
                    try:
                        conn, _ = self._listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        if self._closed:
                            return
                        continue
                    self._start_connection(conn)
        except Exception:  # never let the endpoint thread die silently
            logger.exception("coroloop monitor endpoint %s stopped", self.path)
        finally:
            selector.close()

    def _start_connection(self, conn: socket.socket) -> None:
        conn.setblocking(True)
        if not self._connections.acquire(blocking=False):
            _send_quietly(conn, _error_reply(None, "busy", f"more than {MAX_CONNECTIONS} "
                                             "monitor connections at once; try again"))
            conn.close()
            return
        thread = threading.Thread(target=self._serve_connection, args=(conn,), daemon=True,
                                  name="coroloop-monitor connection")
        try:
            thread.start()
        except RuntimeError:
            self._connections.release()
            conn.close()

    def _serve_connection(self, conn: socket.socket) -> None:
        try:
            if not self._peer_allowed(conn):
                return
            conn.settimeout(IDLE_TIMEOUT)
            reader = _LineReader(conn)
            while not self._closed:
                line = reader.next_line()
                if line is None:
                    return
                if line is _TOO_LARGE:
                    conn.sendall(_error_reply(None, "too_large",
                                              f"a request is at most {MAX_REQUEST} bytes"))
                    return  # the rest of that line cannot be told from the next request
                with self._lock:
                    self._answering += 1
                try:
                    conn.sendall(self._answer(line))
                finally:
                    with self._lock:
                        self._answering -= 1
                        self._answered.notify_all()
        except (OSError, ValueError):
            pass  # the client went away or stalled: nothing to tell anyone
        except Exception:
            logger.exception("coroloop monitor: a connection failed")
        finally:
            conn.close()
            self._connections.release()

    def _peer_allowed(self, conn: socket.socket) -> bool:
        pid, uid, _ = _PEERCRED.unpack(
            conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size))
        owner = os.geteuid()
        if uid == owner or uid == 0:
            return True
        logger.warning("coroloop monitor %s: refused a connection from uid %d (pid %d): "
                       "only uid %d and root may connect", self.path, uid, pid, owner)
        _send_quietly(conn, _error_reply(None, "forbidden",
                                         f"uid {uid} may not monitor this process "
                                         f"(owner uid {owner})"))
        return False

    def _answer(self, line: bytes) -> bytes:
        request_id = None
        try:
            try:
                request = json.loads(line)
            except (ValueError, UnicodeDecodeError) as exc:
                raise MonitorError("bad_request", f"not JSON: {exc}") from None
            if not isinstance(request, dict):
                raise MonitorError("bad_request", "a request is one JSON object, e.g. "
                                   '{"command": "snapshot"}')
            request_id = request.get("id")
            if not isinstance(request_id, (int, str, type(None))) or isinstance(request_id, bool):
                request_id = None
                raise MonitorError("bad_request", '"id" must be a number or a string')
            command = request.get("command")
            handler = _COMMANDS.get(command) if isinstance(command, str) else None
            if handler is None:
                raise MonitorError("unknown_command", f"unknown command {command!r}; the "
                                   f"commands are {', '.join(_COMMANDS)}")
            result = handler(self, request)
            return _encode({"id": request_id, "ok": True, "result": result})
        except MonitorError as exc:
            return _error_reply(request_id, exc.code, exc.message)
        except Exception as exc:
            logger.exception("coroloop monitor: request %r failed", line[:200])
            return _error_reply(request_id, "internal", f"{type(exc).__name__}: {exc}")

    # -- commands -----------------------------------------------------------------
    def _hello(self, request) -> dict:
        return {"protocol": PROTOCOL_VERSION, "pid": os.getpid(), "uid": os.geteuid(),
                "coroloop": coroloop.__version__, "python": platform.python_version(),
                "allow_cancel": self.allow_cancel, "commands": list(_COMMANDS),
                "loops": [{"index": index, "running": loop.is_running(),
                           "closed": loop.is_closed()}
                          for index, _, loop in self._loops()]}

    def _snapshot(self, request) -> dict:
        timeout = _timeout_field(request)
        frame_limits = {name: _frames_field(request, name) for name in ("created_at", "stack")}
        index, served, loop = self._pick(_loop_field(request))
        # Only the snapshot is taken on the loop's thread; it is plain data from then
        # on, so trimming and to_dict() happen here, off the loop.
        served.watch.sample()  # the iteration the loop is in as we ask
        posted = self._on_loop(loop, lambda: snapshot(loop), timeout)
        facts: dict[str, Any] = {"index": index, "iterations": served.monitor.iterations,
                                 "time": None, "lag_ms": None}
        if posted is None:
            return {"state": "not_running", "loop": facts}
        if not posted.wait(timeout):
            watch = served.watch
            since = watch.sample()
            if TaskMonitor.of(loop) is None:  # the program stopped the monitor we
                since = posted.posted        # shared: iterations are not counted
            blocked = time.monotonic() - since
            return {"state": "blocked", "blocked_ms": round(blocked * 1000, 1),
                    "stack": _thread_stack(watch.thread_id), "loop": facts}
        if posted.error is not None:
            raise posted.error
        taken = posted.result
        # From here on, off the loop: the TaskInfo objects are made from the facts
        # the loop captured (Snapshot.tasks), then trimmed and laid out.
        with gc_paused():
            for info in taken.tasks:
                for name, limit in frame_limits.items():
                    if limit is not None:
                        frames = getattr(info, name)
                        setattr(info, name, frames[len(frames) - limit:] if limit else [])
            if _rows_field(request):
                data = _as_rows(taken, table=_flag_field(request, "frame_table"))
            else:
                data = taken.to_dict()
        facts.update(time=data["time"], iterations=data["iterations"],
                     lag_ms=round(posted.lag * 1000, 3),
                     stall_ms=round(posted.stall * 1000, 3))
        return {"state": "ok", "snapshot": data, "loop": facts}

    def _cancel(self, request) -> dict:
        if not self.allow_cancel:
            raise MonitorError("not_allowed", "this endpoint is read-only: cancel needs "
                               "coroloop.debug.serve(allow_cancel=True) (or "
                               "COROLOOP_MONITOR=cancel)")
        task_id = request.get("task")
        if not isinstance(task_id, int) or isinstance(task_id, bool):
            raise MonitorError("bad_request", '"task" must be a task id (a number from the '
                               "snapshot)")
        msg = request.get("msg")
        if msg is not None and not isinstance(msg, str):
            raise MonitorError("bad_request", '"msg" must be a string')
        timeout = _timeout_field(request)
        _, _, loop = self._pick(_loop_field(request))

        def cancel():
            # A TaskInfo's id is id(task): only a live task of this loop matches.
            task = next((task for task in coroloop.all_tasks(loop) if id(task) == task_id),
                        None)
            if task is None:
                return None
            return {"task": task_id, "name": task.get_name(),
                    "cancelled": task.cancel(msg) if msg is not None else task.cancel()}

        posted = self._on_loop(loop, cancel, timeout)
        if posted is None:
            raise MonitorError("no_loop", "the loop is not running")
        if not posted.wait(timeout):
            raise MonitorError("blocked", f"the loop did not answer within {timeout} s "
                               "(blocked): nothing was cancelled")
        if posted.error is not None:
            raise posted.error
        if posted.result is None:
            raise MonitorError("no_such_task", f"no pending task has id {task_id}")
        return posted.result

    @staticmethod
    def _on_loop(loop, work, timeout) -> _Posted | None:
        """Post *work* to *loop*'s thread; None if the loop is not running."""
        if not loop.is_running():
            return None
        posted = _Posted(work)
        try:
            loop.call_soon_threadsafe(posted)
        except RuntimeError:  # closed meanwhile
            return None
        return posted


def _check_loop(loop) -> None:
    if not callable(getattr(loop, "add_instrument", None)):
        raise TypeError(f"coroloop.debug.serve() needs a coroloop loop, got {loop!r}: "
                        "run the program on coroloop (coroloop.run, or coroloop.install())")


_COMMANDS = {"hello": Endpoint._hello, "snapshot": Endpoint._snapshot,
             "cancel": Endpoint._cancel}


def _timeout_field(request) -> float:
    timeout = request.get("timeout", BLOCKED_AFTER)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) \
            or not 0.001 <= timeout <= 60:
        raise MonitorError("bad_request", '"timeout" must be a number of seconds '
                           "from 0.001 to 60")
    return float(timeout)


def _rows_field(request) -> bool:
    return _flag_field(request, "rows")


def _flag_field(request, name: str) -> bool:
    value = request.get(name, False)
    if not isinstance(value, bool):
        raise MonitorError("bad_request", f'"{name}" must be true or false')
    return value


# The compact form of a snapshot ("rows": true): the fields of Snapshot, TaskInfo and
# WaitReason, read from the classes themselves, so it follows them.
_FACT_FIELDS = Snapshot.FACTS
_TASK_FIELDS = tuple(f.name for f in dataclasses.fields(TaskInfo) if f.name != "task")
_WAIT_FIELDS = tuple(f.name for f in dataclasses.fields(WaitReason))
_WAIT_COLUMN = _TASK_FIELDS.index("wait")
# Frame lists may be lazy sequences (formatted when read): sent as lists.
_FRAME_COLUMNS = tuple(_TASK_FIELDS.index(name) for name in ("created_at", "stack"))


def _as_rows(taken, *, table: bool = False) -> dict:
    """*taken* as ``to_dict()``'s facts plus ``task_fields``, ``wait_fields`` and
    ``task_rows`` (one list per task, ``wait`` a list too): no key repeated per task.
    With *table* (``"frame_table": true``) each frame is sent once, in ``frames``
    (``[filename, lineno, function]``), and the rows' frame lists hold its index:
    ten thousand tasks are created and wait at a few lines."""
    rows: list = []
    append = rows.append
    wait_fields = _WAIT_FIELDS
    index: dict = {}
    for info in taken.tasks:
        wait = info.wait
        row = [info.id, info.name, info.state, info.coro, info.created_at,
               info.spawned_by, info.awaited_by,
               None if wait is None else [getattr(wait, name) for name in wait_fields],
               info.stack, info.steps, info.run_time, info.cancel_requests]
        for column in _FRAME_COLUMNS:
            frames = row[column]
            if not table:
                row[column] = [list(entry) for entry in frames]
                continue
            numbers = []
            for entry in frames:
                number = index.get(entry)
                if number is None:
                    number = index[entry] = len(index)
                numbers.append(number)
            row[column] = numbers
        append(row)
    data = {name: getattr(taken, name) for name in _FACT_FIELDS}
    data.update(task_fields=_TASK_FIELDS, wait_fields=_WAIT_FIELDS, task_rows=rows)
    if table:
        data["frames"] = list(index)
    return data


# _as_rows lists TaskInfo's fields in this order (checked at import).
assert _TASK_FIELDS == ("id", "name", "state", "coro", "created_at", "spawned_by",
                        "awaited_by", "wait", "stack", "steps", "run_time",
                        "cancel_requests"), _TASK_FIELDS


def expand_rows(data: dict) -> dict:
    """A compact snapshot (``"rows": true``, with or without ``"frame_table"``) back
    in ``Snapshot.to_dict()``'s shape (*data* itself, changed; its rows are not)."""
    if "task_rows" not in data:
        return data
    task_fields, wait_fields = data.pop("task_fields"), data.pop("wait_fields")
    wait_column = task_fields.index("wait")
    table = data.pop("frames", None)
    frame_columns = [task_fields.index(name) for name in ("created_at", "stack")]
    tasks: list = []
    append = tasks.append
    with gc_paused():
        for row in data.pop("task_rows"):
            row = list(row)  # the caller's rows stay as they were
            wait = row[wait_column]
            if wait is not None:
                row[wait_column] = dict(zip(wait_fields, wait))
            if table is not None:
                for column in frame_columns:
                    row[column] = [table[number] for number in row[column]]
            append(dict(zip(task_fields, row)))
    data["tasks"] = tasks
    return data


def _frames_field(request, name: str):
    limit = request.get(name)
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                              or limit < 0):
        raise MonitorError("bad_request", f'"{name}" must be how many innermost frames '
                           "to send (0 or more)")
    return limit


def _loop_field(request):
    index = request.get("loop")
    if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
        raise MonitorError("bad_request", '"loop" must be a loop index from hello')
    return index


def _thread_stack(thread_id) -> list:
    frame = sys._current_frames().get(thread_id) if thread_id is not None else None
    if frame is None:
        return []
    return [[entry.filename, entry.lineno, entry.name, entry.line or ""]
            for entry in traceback.extract_stack(frame)]


def _encode(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":"), default=str).encode() + b"\n"


def _error_reply(request_id, code: str, message: str) -> bytes:
    return _encode({"id": request_id, "ok": False, "error": {"code": code, "message": message}})


def _send_quietly(conn: socket.socket, data: bytes) -> None:
    try:
        conn.sendall(data)
    except OSError:
        pass


_TOO_LARGE = object()


class _LineReader:
    """Lines of at most ``MAX_REQUEST`` bytes from a socket."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self._buffer = b""

    def next_line(self):
        """The next line (without its newline), None at end of input, or _TOO_LARGE."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line, self._buffer = self._buffer[:end], self._buffer[end + 1:]
                if len(line) > MAX_REQUEST:
                    return _TOO_LARGE
                if line.strip():
                    return line
                continue
            if len(self._buffer) > MAX_REQUEST:
                return _TOO_LARGE
            data = self._conn.recv(65536)
            if not data:
                return None
            self._buffer += data


# -- serve() ------------------------------------------------------------------------

def serve(loop=None, *, path: str | None = None, allow_cancel: bool = False) -> Endpoint:
    """Answer monitor requests (``python -m coroloop ps PID``...) for *loop*.

    *loop* defaults to the running loop; with none running, every coroloop loop
    created from now on in this process is served (what ``COROLOOP_MONITOR=1`` and
    ``python -m coroloop run --monitor`` do).  *path* defaults to ``PID.sock`` in
    ``socket_directory()`` (created 0700).  ``allow_cancel=True`` honours ``cancel
    TASK``; nothing else changes the program.  Serving the same path again adds the
    loop to the endpoint already there.  Returns the ``Endpoint`` (``close()`` it, or
    use it as a context manager; the socket is removed at exit anyway).
    """
    if path is None:
        directory = socket_directory()
        _make_private_directory(directory)
        path = os.path.join(directory, f"{os.getpid()}.sock")
    path = os.path.abspath(path)
    if loop is None:
        try:
            loop = coroloop.get_running_loop()
        except RuntimeError:  # none running: serve every loop from now on
            pass
    if loop is not None:
        _check_loop(loop)
    with _endpoints_lock:
        endpoint = _endpoints.get(path)
        if endpoint is None:
            endpoint = Endpoint(path, allow_cancel=allow_cancel)
            _endpoints[path] = endpoint
        elif allow_cancel:
            endpoint.allow_cancel = True
    if loop is None:
        endpoint.watch_new_loops()
    else:
        endpoint.add_loop(loop)
    return endpoint


def serve_from_environment(value: str) -> Endpoint | None:
    """``COROLOOP_MONITOR=1`` (any value but ``0``) serves every loop read-only;
    ``COROLOOP_MONITOR=cancel`` also honours ``cancel``.  A failure to serve is
    logged and the program goes on without an endpoint."""
    try:
        return serve(allow_cancel=value.strip().lower() == "cancel")
    except (OSError, RuntimeError) as exc:
        logger.warning("COROLOOP_MONITOR=%s: no monitor endpoint: %s", value, exc)
        return None


# -- the client ---------------------------------------------------------------------

class MonitorClient:
    """A connection to a monitor endpoint: ``request(command, **fields)`` returns the
    result or raises ``MonitorError`` with the reply's code and message."""

    def __init__(self, pid: int | None = None, *, path: str | None = None,
                 timeout: float = 30.0) -> None:
        if path is None:
            if pid is None:
                raise TypeError("MonitorClient needs a pid or a path")
            path = find_socket(pid)
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(path)
        except PermissionError:
            self._sock.close()
            raise MonitorError("forbidden", f"permission denied connecting to {path}: run "
                               "as the program's user (or root)") from None
        except OSError as exc:
            self._sock.close()
            raise MonitorError("no_endpoint", f"cannot connect to {path}: {exc.strerror} "
                               "(has the program exited?)") from None
        self._file = self._sock.makefile("rb")
        self._ids = iter(range(1, 1 << 62))

    def request(self, command: str, *, expand: bool = True, **fields):
        """Send one request; its result (a snapshot's tasks as dicts, or with
        ``expand=False`` as the compact rows, which ``format_ps`` takes as they are)."""
        if command == "snapshot":
            fields.setdefault("rows", True)
            fields.setdefault("frame_table", fields["rows"])
        request_id = next(self._ids)
        self._sock.sendall(_encode({"command": command, "id": request_id, **fields}))
        line = self._file.readline()
        if not line:
            raise MonitorError("closed", f"the endpoint at {self.path} closed the connection")
        with gc_paused():  # a reply of 10,000 tasks is that many lists and strings
            reply = json.loads(line)
        if not reply.get("ok"):
            error = reply.get("error") or {}
            raise MonitorError(error.get("code", "error"), error.get("message", repr(reply)))
        result = reply["result"]
        if command == "snapshot" and result.get("state") == "ok" and expand:
            result["snapshot"] = expand_rows(result["snapshot"])
        return result

    def close(self) -> None:
        """Close the connection to the monitored process."""
        self._file.close()
        self._sock.close()

    def __enter__(self) -> "MonitorClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

"""Every CPython test the conformance run does not run, with the reason.

An excluded test is not run and is counted as "excluded", never as a pass.  Only two
kinds of reasons are honest here:

* the test asserts CPython internals rather than asyncio's documented behaviour
  (private attributes, the exact C/Python implementation, the stdlib's own classes or
  call stacks); or
* the test exercises a feature outside coroloop's scope (for now: networking).

"coroloop fails this" is never a reason: such a test stays in and shows up as a failure.

Each entry is ``X(pattern, reason, python=None)``.  ``pattern`` is an fnmatch pattern
over the test id ``module.Class.test_name`` (class names are the ones ``suite.py``
creates, e.g. ``TaskTests_TargetLoop``, or CPython's for classes run as-is).
``python`` limits the entry to some versions: ``">=3.12"``, ``"<3.13"``, ``"==3.11"``.
Exclusions are the same for every target (coroloop, and asyncio when validating).
"""

from __future__ import annotations

import fnmatch
import sys
from typing import NamedTuple


class X(NamedTuple):
    pattern: str
    reason: str
    python: str | None = None

    def applies(self, version=sys.version_info[:2]) -> bool:
        if self.python is None:
            return True
        for op in (">=", "<=", "==", "<", ">"):
            if self.python.startswith(op):
                want = tuple(int(p) for p in self.python[len(op):].split("."))
                have = tuple(version[:len(want)])
                return {
                    ">=": have >= want, "<=": have <= want, "==": have == want,
                    "<": have < want, ">": have > want,
                }[op]
        raise ValueError(f"bad python constraint {self.python!r} in {self.pattern}")


EXCLUSIONS: list[X] = [
    # -- stdlib internals ---------------------------------------------------------------
    X("test_tasks.Task*Tests_TargetLoop.test_log_destroyed_pending_task",
      "calls loop._run_once(), a private method of the stdlib BaseEventLoop; the test "
      "runs in the *_TestLoop variants"),

    X("test_tasks.Task*Tests_TargetLoop.test_error_in_call_soon",
      "replaces loop.call_soon on the loop instance and expects Task() to go through it; "
      "on its own loop a coroloop Task queues its reusable step handle directly (the "
      "core's fast path, docs/architecture.md), so the patch is not observed. The test "
      "runs, and passes, in the *_TestLoop variants (coroloop's Task on a stdlib loop)"),

    X("test_futures2.FutureReprTests.test_recursive_repr_for_pending_tasks",
      "checks for the '...' that asyncio's recursion guard prints when a task's repr "
      "recurses through its waiter's callbacks; coroloop's reprs do not recurse (a "
      "waiting task is shown as Task._step()), so the marker never appears; the "
      "test's intent, no RecursionError, holds", python="==3.11"),

    # -- deliberate behaviour differences (documented) -----------------------------
    *[X(f"test_taskgroups.TestTaskGroup.{name}",
        "3.11/3.12 leave a coroutine that a finished, unentered or failed TaskGroup "
        "refuses unclosed, and the test awaits it afterwards; coroloop closes it (3.13's "
        "behaviour, on every version, as its issue asks: no 'never awaited' warning), "
        "docs/guide/tasks.md", python="<3.13")
      for name in ("test_taskgroup_finished", "test_taskgroup_not_entered",
                   "test_taskgroup_without_parent_task",
                   "test_taskgroup_no_create_task_after_failure")],

    X("test_tasks.CoroutineGatherTests.test_issue46672",
      "patches asyncio.base_events.BaseEventLoop.call_exception_handler, a method of the "
      "stdlib loop class, and asserts on it through a loop that is not that class"),

    X("test_runners.RunTests*.test_loop_factory_default_event_loop",
      "asserts that asyncio.EventLoop is the stdlib SelectorEventLoop on Unix (the "
      "stdlib's class hierarchy); the view maps asyncio.EventLoop to the target's loop",
      python=">=3.13"),
    X("test_runners.RunTests*.test_asyncio_run_debug",
      "patches asyncio.coroutines._is_debug_mode, a stdlib private function, to change "
      "the default debug mode of new loops (coroloop's loops read PYTHONASYNCIODEBUG and "
      "dev mode themselves); both variants get coroloop's loop, RunTests through "
      "asyncio.DefaultEventLoopPolicy, which coroloop exports as its own policy"),

    # -- stdlib internals: networking (issue 4) ------------------------------------------
    X("test_unix_events.UnixReadPipeTransportTests.*",
      "instantiates unix_events._UnixReadPipeTransport, the stdlib's private pipe "
      "transport class, and asserts on the loop's private _add_reader/_remove_reader "
      "calls (coroloop's pipe transports run in test_events' pipe tests)"),
    X("test_unix_events.UnixWritePipeTransportTests.*",
      "instantiates unix_events._UnixWritePipeTransport, the stdlib's private pipe "
      "transport class, and asserts on the loop's private _add_reader/_add_writer "
      "calls (coroloop's pipe transports run in test_events' pipe tests)"),
    X("test_unix_events.SelectorEventLoopSignalTests.*",
      "drives asyncio.SelectorEventLoop's private signal machinery (_check_signal, "
      "_handle_signal, _signal_handlers, a mocked asyncio.unix_events.signal module) on "
      "a stdlib loop; coroloop's add/remove_signal_handler run in test_events"),
    X("test_unix_events.*ChildWatcher*Tests.*",
      "tests asyncio's child watchers (SafeChildWatcher, FastChildWatcher, "
      "AbstractChildWatcher: stdlib classes, deprecated in 3.12, removed in 3.14); "
      "coroloop's loop reaps its own children and has no watcher"),
    X("test_unix_events.PolicyTests.*",
      "tests the stdlib policy's child-watcher management (policy._watcher, "
      "get_child_watcher/set_child_watcher), asyncio machinery coroloop does not use"),
    X("test_unix_events.SelectorEventLoopUnixSockSendfileTests.*",
      "calls the stdlib loop's private sendfile methods (_sock_sendfile_native, "
      "_sock_sendfile_native_impl) and reads loop._selector; coroloop's public "
      "sock_sendfile runs in test_sendfile"),
    X("test_subprocess.SubprocessTransportTests.*",
      "subclasses base_subprocess.BaseSubprocessTransport, the stdlib's private "
      "subprocess transport, and tests that class"),
    X("test_subprocess.GenericWatcherTests.*",
      "tests that asyncio's subprocess functions consult the policy's child watcher "
      "(a mocked AbstractChildWatcher, PidfdChildWatcher); coroloop's loop reaps its "
      "own children and has no watcher"),
    X("test_subprocess.MultiLoopChildWatcherTests.*",
      "tests that the stdlib's MultiLoopChildWatcher is deprecated"),
    X("test_sslproto.SslProtoHandshakeTests.*",
      "instantiates sslproto.SSLProtocol, the stdlib's private TLS protocol, and "
      "asserts on its private state (_app_transport, _sslobj, _handshake_timeout_handle); "
      "coroloop's TLS runs in test_ssl, test_sslproto's StartTLS tests and test_events"),

    X("test_events.EventLoopTests_TargetLoop.test_create_server_multiple_hosts_ipv*",
      "patches asyncio.base_events.socket (the stdlib loop module's socket import) and "
      "the loop's private _start_serving/_stop_serving, so the sockets it binds are mocks"),
    X("test_events.EventLoopTests_TargetLoop.test_prompt_cancellation",
      "ends by calling loop._stop_serving(sock), a private method of the stdlib "
      "selector loop"),
    X("test_events.EventLoopTests_TargetLoop.test_timeout_rounding",
      "replaces loop._run_once, the stdlib BaseEventLoop's private iteration method, "
      "to count iterations"),
    X("test_sendfile.SendfileTests_TargetLoop.test_sendfile_force_unsupported_native",
      "replaces loop._sendfile_native with base_events.BaseEventLoop._sendfile_native, "
      "a private method of the stdlib loop class"),
    X("test_sendfile.SendfileTests_TargetLoop.test_sendfile_no_fallback_for_fallback_transport",
      "passes a mock transport whose _sendfile_compatible is constants._SendfileMode."
      "FALLBACK: the stdlib's private protocol between its loop and its transports"),
    X("test_unix_events.UnixSocketTests_TargetLoop.test_create_unix_server_bind_error",
      "patches asyncio.unix_events.socket (the stdlib loop module's socket import) so "
      "that bind() fails on a mock"),
    X("test_ssl.TestSSL.test_flush_before_shutdown",
      "reads writer.transport._ssl_protocol and calls its private _shutdown_timeout "
      "state: the stdlib SSLProtocol's internals"),
    X("test_ssl.TestSSL.test_remote_shutdown_receives_trailing_data",
      "calls transport._test__append_write_backlog and reads the private "
      "_ssl_protocol of the stdlib SSL transport"),

    X("test_server.StartServerTests_TargetLoop.test_start_*server_1",
      "asserts that srv._sockets and srv._waiters are None after close(): private "
      "attributes of the stdlib Server (the public srv.sockets is checked too)"),

    X("test_server.TestServer2.test_wait_closed_*",
      "counts connections through srv._attach()/srv._detach(), private methods of the "
      "stdlib Server (their signature differs between 3.12 and 3.13); coroloop's "
      "wait_closed() is covered by test_server's and test_streams' public tests"),

    # -- stdlib internals: 3.14+ -----------------------------------------------------------
    X("test_futures.*Tests_*.test_future_cancel_message_setter",
      "3.14's version asserts that `del fut._cancel_message` raises AttributeError for "
      "every future but asyncio's pure-Python one (the C Future's attribute has no "
      "deleter): how CPython implements a private attribute. Setting and reading "
      "_cancel_message, what libraries do, runs in the 3.11-3.13 version of the test",
      python=">=3.14"),
    X("test_sslproto.StartTLSTests_TargetLoop.test_create_connection_ssl_failed_certificate_no_cycles",
      "patches asyncio.sslproto.SSLProtocol.connection_made, the stdlib's private TLS "
      "protocol, to catch the transports it makes; coroloop's TLS protocol is its own, so "
      "the test sees none. Its point (gh-159049: a failed handshake leaves no cycle) is "
      "checked by test_start_tls_failed_certificate_no_cycles and by coroloop's unit "
      "test test_failed_tls_handshake_leaves_no_cycle (create_connection too)",
      python=">=3.14"),
    X("test_ssl.TestSSL.test_remote_shutdown_receives_trailing_data_on_slow_socket",
      "like test_remote_shutdown_receives_trailing_data: calls transport."
      "_test__append_write_backlog and reads the stdlib SSL transport's private "
      "_ssl_protocol._transport, then swaps that transport's _sock and patches its "
      "write() (stdlib SelectorSocketTransport internals)", python=">=3.14"),

    # -- removed features ----------------------------------------------------------------
    X("test_tasks.*.test_cancel_gather_1",
      "passes a bare generator (def ...: yield from fut) where a coroutine is expected: "
      "3.11's Task still accepted generator-based coroutines, a leftover of "
      "@asyncio.coroutine (removed in 3.11; the check was tightened in 3.12). coroloop "
      "requires real coroutines, as asyncio does from 3.12",
      python="==3.11"),
]


def exclusion_for(test_id: str) -> str | None:
    """The reason *test_id* is excluded on this Python, or None."""
    for x in EXCLUSIONS:
        if x.applies() and fnmatch.fnmatchcase(test_id, x.pattern):
            return x.reason
    return None

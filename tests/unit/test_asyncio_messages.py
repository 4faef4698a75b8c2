"""asyncio's error messages: each misuse, provoked on stdlib asyncio and on coroloop.

Users' tests match asyncio's messages, so coroloop's message for the same mistake
starts with asyncio's, verbatim (extra detail may follow), with the same exception
type (or a subclass).  Each case below runs twice, once with ``aio = asyncio`` on a
stdlib loop and once with ``aio = coroloop`` on coroloop's loop; the expected text
is whatever the running Python's asyncio says, so the same table checks 3.11, 3.12
and 3.13 (``make test`` runs it on each).  When asyncio raises nothing, coroloop
must not either.

Object reprs (``<...>``) and addresses are replaced by ``<…>`` before comparing:
they name each implementation's own classes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import os
import re
import signal
import socket
import ssl
import sys
import tempfile
import threading
import types
import warnings

import pytest

import coroloop

PY312 = sys.version_info >= (3, 12)
PY313 = sys.version_info >= (3, 13)

CASES = {}
WATCHDOG = 5.0   # seconds a case may run: a hang fails it instead of the whole run


def misuse(fn):
    """Register a case: fn(side) provokes one misuse through side.aio / side.loop."""
    CASES[fn.__name__] = fn
    return fn


class Side:
    """One implementation: its module, a fresh loop, and what to clean up."""

    def __init__(self, aio, new_loop, stack):
        self.aio = aio
        self.loop = new_loop()
        self.stack = stack
        stack.callback(self._close_loop)

    def _close_loop(self):
        loop = self.loop
        if loop.is_running():
            return
        if not loop.is_closed():
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
        asyncio.set_event_loop(None)

    def run(self, coro, loop=None):
        """Run *coro* on our loop (or *loop*); a hang ends as "Event loop stopped"."""
        loop = self.loop if loop is None else loop
        watchdog = loop.call_later(WATCHDOG, loop.stop)
        try:
            return loop.run_until_complete(coro)
        finally:
            watchdog.cancel()

    def inside_a_task(self, call):
        """call(a fresh coroutine) inside a task on our loop; the coroutine is closed
        after (the misuse refuses it, so it never runs)."""
        async def main():
            coro = self.aio.sleep(0)
            try:
                call(coro)
            finally:
                coro.close()
        self.run(main())

    def other_loop(self):
        """A second loop of the same implementation, closed at the end."""
        other = type(self.loop)()
        self.later(other.close)
        return other

    def socket(self, kind=socket.SOCK_STREAM, family=socket.AF_INET, blocking=False):
        sock = self.stack.enter_context(socket.socket(family, kind))
        sock.setblocking(blocking)
        return sock

    def listener(self):
        sock = self.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        return sock

    def tmp(self):
        return self.stack.enter_context(tempfile.TemporaryDirectory())

    def later(self, fn, *args):
        self.stack.callback(fn, *args)


def _normalize(text: str) -> str:
    previous = None
    while previous != text:    # innermost <...> first, so nested reprs collapse too
        previous = text
        text = re.sub(r"<[^<>]*>", "\x00", text)
    text = text.replace("\x00", "<…>")
    text = re.sub(r"'127\.0\.0\.1', \d+", "'127.0.0.1', PORT", text)
    return re.sub(r"0x[0-9a-f]+", "0x…", text)


def outcome(name, aio, new_loop):
    with warnings.catch_warnings():
        # Some misuses leak a socket on asyncio too (create_server(ssl=1) binds first):
        # this test is about the messages.
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            with contextlib.ExitStack() as stack:
                side = Side(aio, new_loop, stack)
                try:
                    CASES[name](side)
                except BaseException as exc:   # noqa: BLE001 - the misuse's error is the result
                    return type(exc), str(exc)
            return None, None
        finally:
            gc.collect()


# ===================================================================================
# the event loop
# ===================================================================================
@misuse
def run_forever_closed(s):
    s.loop.close()
    s.loop.run_forever()


@misuse
def run_until_complete_closed(s):
    s.loop.close()
    coro = s.aio.sleep(0)
    s.later(coro.close)
    s.loop.run_until_complete(coro)


@misuse
def run_until_complete_while_running(s):
    s.inside_a_task(s.loop.run_until_complete)


@misuse
def run_other_loop_while_running(s):
    s.inside_a_task(s.other_loop().run_until_complete)


@misuse
def loop_stopped_before_future(s):
    fut = s.loop.create_future()
    s.loop.call_soon(s.loop.stop)
    s.loop.run_until_complete(fut)


@misuse
def close_running_loop(s):
    async def main():
        s.loop.close()
    s.run(main())


@misuse
def run_until_complete_not_awaitable(s):
    s.loop.run_until_complete(1)


@misuse
def call_soon_closed(s):
    s.loop.close()
    s.loop.call_soon(print)


@misuse
def call_later_closed(s):
    s.loop.close()
    s.loop.call_later(1, print)


@misuse
def call_at_closed(s):
    s.loop.close()
    s.loop.call_at(1, print)


@misuse
def call_soon_threadsafe_closed(s):
    s.loop.close()
    s.loop.call_soon_threadsafe(print)


@misuse
def call_later_none_delay(s):
    s.loop.call_later(None, print)


@misuse
def call_at_none_when(s):
    s.loop.call_at(None, print)


@misuse
def call_soon_not_callable_debug(s):
    s.loop.set_debug(True)
    s.loop.call_soon(1)


@misuse
def call_soon_coroutine_function_debug(s):
    async def coro_fn():
        pass
    s.loop.set_debug(True)
    s.loop.call_soon(coro_fn)


@misuse
def call_soon_not_callable(s):
    # Without debug mode asyncio accepts it (the error comes when it runs).
    handle = s.loop.call_soon(1)
    handle.cancel()


@misuse
def call_soon_threadsafe_not_callable(s):
    s.loop.call_soon_threadsafe(1).cancel()


@misuse
def call_soon_threadsafe_not_callable_debug(s):
    s.loop.set_debug(True)
    s.loop.call_soon_threadsafe(1)


@misuse
def call_later_not_callable_debug(s):
    s.loop.set_debug(True)
    s.loop.call_later(1, 1)


@misuse
def add_reader_not_callable(s):
    sock = s.socket()
    s.loop.set_debug(True)
    s.loop.add_reader(sock, 1)
    s.loop.remove_reader(sock)


@misuse
def call_soon_other_thread_debug(s):
    s.loop.set_debug(True)
    errors = []

    def other_thread():
        try:
            s.loop.call_soon(print)
        except RuntimeError as exc:
            errors.append(exc)

    async def main():
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    s.run(main())
    raise errors[0]


@misuse
def set_task_factory_not_callable(s):
    s.loop.set_task_factory(1)


@misuse
def set_exception_handler_not_callable(s):
    s.loop.set_exception_handler(1)


@misuse
def set_default_executor_not_thread_pool(s):
    executor = concurrent.futures.ProcessPoolExecutor(1)
    s.later(executor.shutdown)
    s.loop.set_default_executor(executor)


@misuse
def run_in_executor_after_shutdown(s):
    s.run(s.loop.shutdown_default_executor())
    s.loop.run_in_executor(None, print)


@misuse
def run_in_executor_coroutine_function(s):
    async def coro_fn():
        pass
    s.loop.set_debug(True)
    s.loop.run_in_executor(None, coro_fn)


@misuse
def create_task_not_a_coroutine(s):
    s.loop.create_task(1)


@misuse
def create_task_closed(s):
    s.loop.close()
    coro = s.aio.sleep(0)
    s.later(coro.close)
    s.loop.create_task(coro)


@misuse
def add_reader_invalid_fd(s):
    s.loop.add_reader(-1, print)


@misuse
def add_reader_invalid_object(s):
    s.loop.add_reader("not a file", print)


@misuse
def add_reader_closed(s):
    sock = s.socket()
    s.loop.close()
    s.loop.add_reader(sock, print)


@misuse
def remove_writer_invalid_object(s):
    s.loop.remove_writer(object())


# ===================================================================================
# Future and Task
# ===================================================================================
@misuse
def future_result_not_ready(s):
    s.loop.create_future().result()


@misuse
def future_exception_not_set(s):
    s.loop.create_future().exception()


@misuse
def future_result_cancelled(s):
    fut = s.loop.create_future()
    fut.cancel("the reason")
    fut.result()


@misuse
def future_set_result_twice(s):
    fut = s.loop.create_future()
    fut.set_result(1)
    fut.set_result(2)


@misuse
def future_set_exception_after_cancel(s):
    fut = s.loop.create_future()
    fut.cancel()
    fut.set_exception(ValueError())


@misuse
def future_set_exception_not_exception(s):
    s.loop.create_future().set_exception("nope")


@misuse
def future_set_exception_stop_iteration(s):
    fut = s.loop.create_future()
    fut.set_exception(StopIteration())
    fut.result()


@misuse
def future_log_traceback_true(s):
    s.loop.create_future()._log_traceback = True


@misuse
def future_not_initialized(s):
    s.aio.Future.__new__(s.aio.Future).get_loop()


@misuse
def future_await_not_used(s):
    fut = s.loop.create_future()
    it = fut.__await__()
    next(it)
    it.send(None)


@misuse
def task_set_result(s):
    async def main():
        s.aio.current_task().set_result(1)
    s.run(main())


@misuse
def task_set_exception(s):
    async def main():
        s.aio.current_task().set_exception(ValueError())
    s.run(main())


@misuse
def task_awaits_itself(s):
    async def main():
        await s.aio.current_task()
    s.run(main())


@misuse
def task_bad_yield(s):
    @types.coroutine
    def bad():
        yield 1

    async def main():
        await bad()
    s.run(main())


@misuse
def task_yield_instead_of_yield_from(s):
    fut = s.loop.create_future()

    @types.coroutine
    def bad():
        yield fut

    async def main():
        await bad()
    s.run(main())


@misuse
def task_yield_generator(s):
    def gen():
        yield

    @types.coroutine
    def bad():
        yield gen()

    async def main():
        await bad()
    s.run(main())


@misuse
def task_future_of_other_loop(s):
    fut = s.other_loop().create_future()

    async def main():
        await fut
    s.run(main())


@misuse
def task_not_a_coroutine(s):
    s.aio.Task(1, loop=s.loop)


@misuse
def ensure_future_not_awaitable(s):
    s.aio.ensure_future(1, loop=s.loop)


@misuse
def ensure_future_other_loop(s):
    s.aio.ensure_future(s.loop.create_future(), loop=s.other_loop())


@misuse
def wrap_future_not_concurrent(s):
    s.aio.wrap_future(1, loop=s.loop)


@misuse
def run_coroutine_threadsafe_not_coroutine(s):
    s.aio.run_coroutine_threadsafe(1, s.loop)


@misuse
def current_task_no_loop(s):
    s.aio.current_task()


@misuse
def get_running_loop_none(s):
    s.aio.get_running_loop()


@misuse
def all_tasks_no_loop(s):
    s.aio.all_tasks()


@misuse
def create_task_no_loop(s):
    coro = s.aio.sleep(0)
    s.later(coro.close)
    s.aio.create_task(coro)


@misuse
def sleep_negative_is_fine(s):
    assert s.run(s.aio.sleep(-1, "ok")) == "ok"


# ===================================================================================
# combinators
# ===================================================================================
@misuse
def wait_empty(s):
    s.run(s.aio.wait([]))


@misuse
def wait_bad_return_when(s):
    fut = s.loop.create_future()
    s.run(s.aio.wait([fut], return_when="SOMETIMES"))


@misuse
def wait_single_future(s):
    s.run(s.aio.wait(s.loop.create_future()))


@misuse
def wait_coroutines(s):
    coro = s.aio.sleep(0)
    s.later(coro.close)
    s.run(s.aio.wait([coro]))


@misuse
def wait_not_futures(s):
    s.run(s.aio.wait([1]))


@misuse
def as_completed_single_future(s):
    async def main():
        for f in s.aio.as_completed(s.loop.create_future()):
            await f
    s.run(main())


@misuse
def gather_not_awaitable(s):
    async def main():
        await s.aio.gather(1)
    s.run(main())


@misuse
def shield_not_awaitable(s):
    async def main():
        await s.aio.shield(1)
    s.run(main())


@misuse
def wait_for_not_awaitable(s):
    s.run(s.aio.wait_for(1, 1))


@misuse
def gather_cancelled_child(s):
    async def main():
        fut = s.loop.create_future()
        fut.cancel("child reason")
        await s.aio.gather(fut)
    s.run(main())


# ===================================================================================
# runners
# ===================================================================================
@misuse
def run_in_running_loop(s):
    s.inside_a_task(s.aio.run)


@misuse
def run_not_a_coroutine(s):
    s.aio.run(1)


@misuse
def runner_closed(s):
    runner = s.aio.Runner()
    runner.get_loop()
    runner.close()
    coro = s.aio.sleep(0)
    s.later(coro.close)
    runner.run(coro)


@misuse
def runner_get_loop_closed(s):
    runner = s.aio.Runner()
    runner.get_loop()
    runner.close()
    runner.get_loop()


@misuse
def runner_run_not_a_coroutine(s):
    with s.aio.Runner() as runner:
        runner.run(1)


@misuse
def runner_run_in_running_loop(s):
    runner = s.aio.Runner()
    s.later(runner.close)
    s.inside_a_task(runner.run)


# ===================================================================================
# locks, queues
# ===================================================================================
@misuse
def lock_release_unlocked(s):
    s.aio.Lock().release()


@misuse
def lock_loop_argument(s):
    s.aio.Lock(loop=s.loop)


@misuse
def lock_used_on_two_loops(s):
    lock = s.aio.Lock()

    async def hold():
        await lock.acquire()

    async def contend():
        await lock.acquire()
    s.run(hold())
    s.run(contend(), s.other_loop())


@misuse
def condition_wait_unlocked(s):
    async def main():
        await s.aio.Condition().wait()
    s.run(main())


@misuse
def condition_notify_unlocked(s):
    async def main():
        s.aio.Condition().notify()
    s.run(main())


@misuse
def condition_lock_of_other_loop(s):
    async def main():
        return s.aio.Lock()
    lock = s.run(main())

    async def use():
        s.aio.Condition(lock)
    s.run(use(), s.other_loop())


@misuse
def semaphore_negative(s):
    s.aio.Semaphore(-1)


@misuse
def bounded_semaphore_over_release(s):
    s.aio.BoundedSemaphore(1).release()


@misuse
def event_loop_argument(s):
    s.aio.Event(loop=s.loop)


@misuse
def queue_task_done_too_often(s):
    s.aio.Queue().task_done()


@misuse
def queue_get_nowait_empty(s):
    s.aio.Queue().get_nowait()


@misuse
def queue_put_nowait_full(s):
    queue = s.aio.Queue(1)
    queue.put_nowait(1)
    queue.put_nowait(2)


@misuse
def barrier_zero_parties(s):
    s.aio.Barrier(0)


@misuse
def barrier_aborted(s):
    async def main():
        barrier = s.aio.Barrier(2)
        await barrier.abort()
        await barrier.wait()
    s.run(main())


@misuse
def barrier_broken_while_waiting(s):
    async def main():
        barrier = s.aio.Barrier(2)
        waiter = s.aio.ensure_future(barrier.wait())
        await s.aio.sleep(0)
        await barrier.abort()
        await waiter
    s.run(main())


# ===================================================================================
# TaskGroup, timeouts
# ===================================================================================
@misuse
def taskgroup_entered_twice(s):
    async def main():
        group = s.aio.TaskGroup()
        async with group:
            async with group:
                pass
    s.run(main())


@misuse
def taskgroup_without_task(s):
    group = s.aio.TaskGroup()
    s.loop.run_until_complete(s.aio.sleep(0))
    coro = group.__aenter__()
    s.later(coro.close)
    coro.send(None)


@misuse
def taskgroup_not_entered(s):
    coro = s.aio.sleep(0)
    s.later(coro.close)
    s.aio.TaskGroup().create_task(coro)


@misuse
def taskgroup_finished(s):
    async def main():
        async with s.aio.TaskGroup() as group:
            pass
        coro = s.aio.sleep(0)
        s.later(coro.close)
        group.create_task(coro)
    s.run(main())


@misuse
def taskgroup_shutting_down(s):
    async def fail():
        raise ValueError("child failed")

    async def main():
        async with s.aio.TaskGroup() as group:
            group.create_task(fail())
            await s.aio.sleep(0)
            coro = s.aio.sleep(0)
            s.later(coro.close)
            try:
                group.create_task(coro)
            except RuntimeError as exc:
                raise KeyError(str(exc)) from None
    try:
        s.run(main())
    except BaseExceptionGroup as group:
        raise group.exceptions[0] from None


@misuse
def taskgroup_error_group(s):
    async def fail():
        raise ValueError("child failed")

    async def main():
        async with s.aio.TaskGroup() as group:
            group.create_task(fail())
    s.run(main())


@misuse
def timeout_reschedule_before_enter(s):
    async def main():
        s.aio.timeout(1).reschedule(2)
    s.run(main())


@misuse
def timeout_reschedule_after_exit(s):
    async def main():
        async with s.aio.timeout(1) as cm:
            pass
        cm.reschedule(2)
    s.run(main())


@misuse
def timeout_entered_twice(s):
    async def main():
        cm = s.aio.timeout(1)
        async with cm:
            async with cm:
                pass
    s.run(main())


@misuse
def timeout_without_task(s):
    s.loop.run_until_complete(s.aio.sleep(0))

    async def enter():
        async with s.aio.timeout(1):
            pass
    coro = enter()
    s.later(coro.close)
    asyncio.events._set_running_loop(s.loop)
    try:
        coro.send(None)
    finally:
        asyncio.events._set_running_loop(None)


# ===================================================================================
# streams
# ===================================================================================
@misuse
def stream_reader_zero_limit(s):
    s.aio.StreamReader(limit=0, loop=s.loop)


def _stream_case(limit, data, eof, method, *args):
    """A StreamReader (of *limit*) fed *data* (then EOF), misused by method(*args)."""
    def provoke(s):
        async def main():
            reader = s.aio.StreamReader() if limit is None else s.aio.StreamReader(limit=limit)
            if data:
                reader.feed_data(data)
            if eof:
                reader.feed_eof()
            await getattr(reader, method)(*args)
        s.run(main())
    return provoke


for _name, _make in [
    ("readexactly_negative", _stream_case(None, b"", False, "readexactly", -1)),
    ("readexactly_eof", _stream_case(None, b"abc", True, "readexactly", 5)),
    ("readuntil_empty_separator", _stream_case(None, b"", False, "readuntil", b"")),
    ("readuntil_limit_not_found", _stream_case(4, b"abcdefgh", False, "readuntil", b"\n")),
    ("readuntil_limit_found_too_long", _stream_case(4, b"abcdefgh\n", False, "readuntil", b"\n")),
    ("readuntil_incomplete", _stream_case(None, b"abc", True, "readuntil", b"\n")),
    ("readline_limit", _stream_case(4, b"abcdefgh", False, "readline")),
]:
    _make.__name__ = _name
    misuse(_make)


@misuse
def concurrent_reads(s):
    async def main():
        reader = s.aio.StreamReader()
        first = s.aio.ensure_future(reader.read(1))
        await s.aio.sleep(0)
        try:
            await reader.read(1)
        finally:
            first.cancel()
    s.run(main())


# ===================================================================================
# networking (loopback only; nothing connects anywhere)
# ===================================================================================
@misuse
def create_connection_refused(s):
    closed = s.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    s.run(s.loop.create_connection(asyncio.Protocol, "127.0.0.1", port))


@misuse
def create_server_address_in_use(s):
    taken = s.listener()
    port = taken.getsockname()[1]
    s.run(s.loop.create_server(asyncio.Protocol, "127.0.0.1", port))


@misuse
def server_serve_forever_closed(s):
    async def main():
        server = await s.loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        server.close()
        await server.wait_closed()
        await server.serve_forever()
    s.run(main())


@misuse
def server_serve_forever_twice(s):
    async def main():
        server = await s.loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        first = s.aio.ensure_future(server.serve_forever())
        await s.aio.sleep(0)
        try:
            await server.serve_forever()
        finally:
            first.cancel()
            server.close()
            await server.wait_closed()
    s.run(main())


@misuse
def server_start_serving_closed(s):
    async def main():
        server = await s.loop.create_server(asyncio.Protocol, "127.0.0.1", 0,
                                            start_serving=False)
        server.close()
        await server.start_serving()
    s.run(main())


@misuse
def datagram_reuse_address(s):
    try:
        s.run(s.loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                              local_addr=("127.0.0.1", 0), reuse_address=True))
    except TypeError as exc:   # "<class>.create_datagram_endpoint() got an unexpected ..."
        raise TypeError(str(exc).partition(".")[2]) from None


@misuse
def datagram_sendto_str_and_wrong_address(s):
    async def main():
        peer = s.socket(socket.SOCK_DGRAM)
        peer.bind(("127.0.0.1", 0))
        transport, _ = await s.loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=peer.getsockname())
        try:
            try:
                transport.sendto("text")
            except TypeError as exc:
                first = str(exc)
            transport.sendto(b"x", ("127.0.0.2", 9))
        except ValueError as exc:
            raise ValueError(first + " | " + str(exc).replace(str(peer.getsockname()), "PEER")) \
                from None
        finally:
            transport.close()
    s.run(main())


@misuse
def sock_sendfile_text_file(s):
    path = os.path.join(s.tmp(), "f")
    with open(path, "w") as f:
        f.write("x")
    file = s.stack.enter_context(open(path))
    s.run(s.loop.sock_sendfile(s.socket(), file))


@misuse
def sock_sendfile_udp(s):
    path = os.path.join(s.tmp(), "f")
    with open(path, "wb") as f:
        f.write(b"x")
    file = s.stack.enter_context(open(path, "rb"))
    s.run(s.loop.sock_sendfile(s.socket(socket.SOCK_DGRAM), file))


@misuse
def sock_sendfile_bad_count_and_offset(s):
    path = os.path.join(s.tmp(), "f")
    with open(path, "wb") as f:
        f.write(b"x")
    file = s.stack.enter_context(open(path, "rb"))
    errors = []
    for kwargs in ({"count": 0}, {"count": "1"}, {"offset": -1}, {"offset": "0"}):
        try:
            s.run(s.loop.sock_sendfile(s.socket(), file, **kwargs))
        except (TypeError, ValueError) as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    raise ValueError(" | ".join(errors))


@misuse
def sock_sendall_ssl_socket(s):
    context = ssl.create_default_context()
    sock = s.stack.enter_context(context.wrap_socket(s.socket(), do_handshake_on_connect=False))
    s.run(s.loop.sock_sendall(sock, b"x"))


@misuse
def transport_write_str_and_after_eof(s):
    async def main():
        listener = s.listener()
        transport, _ = await s.loop.create_connection(asyncio.Protocol,
                                                      *listener.getsockname())
        try:
            try:
                transport.write("text")
            except TypeError as exc:
                first = str(exc)
            transport.write_eof()
            transport.write(b"x")
        except RuntimeError as exc:
            raise RuntimeError(first + " | " + str(exc)) from None
        finally:
            transport.close()
    s.run(main())


@misuse
def transport_write_buffer_limits(s):
    async def main():
        listener = s.listener()
        transport, _ = await s.loop.create_connection(asyncio.Protocol,
                                                      *listener.getsockname())
        try:
            transport.set_write_buffer_limits(high=1, low=2)
        finally:
            transport.close()
    s.run(main())


@misuse
def start_tls_bad_context(s):
    async def main():
        listener = s.listener()
        transport, protocol = await s.loop.create_connection(asyncio.Protocol,
                                                             *listener.getsockname())
        try:
            await s.loop.start_tls(transport, protocol, 1)
        finally:
            transport.close()
    s.run(main())


@misuse
def sendfile_transport_not_supported(s):
    path = os.path.join(s.tmp(), "f")
    with open(path, "wb") as f:
        f.write(b"x")
    file = s.stack.enter_context(open(path, "rb"))

    async def main():
        transport, _ = await s.loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
        try:
            await s.loop.sendfile(transport, file)
        finally:
            transport.close()
    s.run(main())


@misuse
def unix_server_path_is_a_file(s):
    path = os.path.join(s.tmp(), "s")
    with open(path, "w"):
        pass

    async def main():
        try:
            await s.loop.create_unix_server(asyncio.Protocol, path)
        except OSError as exc:
            raise OSError(exc.errno, str(exc).replace(path, "PATH")) from None
    s.run(main())


@misuse
def unix_server_address_in_use(s):
    path = os.path.join(s.tmp(), "s")
    taken = s.socket(family=socket.AF_UNIX)
    taken.bind(path)
    taken.listen()

    async def main():
        try:
            await s.loop.create_unix_server(asyncio.Protocol, path)
        except OSError as exc:
            raise OSError(exc.errno, str(exc).replace(path, "PATH")) from None
    s.run(main())


@misuse
def write_pipe_not_a_pipe(s):
    path = os.path.join(s.tmp(), "f")
    file = s.stack.enter_context(open(path, "wb"))
    s.run(s.loop.connect_write_pipe(asyncio.Protocol, file))


@misuse
def read_pipe_not_a_pipe(s):
    path = os.path.join(s.tmp(), "f")
    with open(path, "wb"):
        pass
    file = s.stack.enter_context(open(path, "rb"))
    s.run(s.loop.connect_read_pipe(asyncio.Protocol, file))


@misuse
def write_pipe_pause_reading(s):
    read_fd, write_fd = os.pipe()
    s.later(os.close, read_fd)
    file = s.stack.enter_context(open(write_fd, "wb", buffering=0))

    async def main():
        transport, _ = await s.loop.connect_write_pipe(asyncio.Protocol, file)
        try:
            transport.pause_reading()
        finally:
            transport.close()
    s.run(main())


@misuse
def write_pipe_write_str(s):
    read_fd, write_fd = os.pipe()
    s.later(os.close, read_fd)
    file = s.stack.enter_context(open(write_fd, "wb", buffering=0))

    async def main():
        transport, _ = await s.loop.connect_write_pipe(asyncio.Protocol, file)
        try:
            transport.write("text")
        finally:
            transport.close()
    s.run(main())


# -- misuses that are one awaited loop method call: (case, method, its arguments) ------
def _args(*args, **kwargs):
    return args, kwargs


def _awaits_loop_method(method, make_args):
    def provoke(s):
        args, kwargs = make_args(s)
        s.run(getattr(s.loop, method)(*args, **kwargs))
    return provoke


P, DP = asyncio.Protocol, asyncio.DatagramProtocol
for _name, _method, _make_args in [
    ("create_connection_host_and_sock", "create_connection",
     lambda s: _args(P, "127.0.0.1", 1, sock=s.socket())),
    ("create_connection_nothing", "create_connection",
     lambda s: _args(P)),
    ("create_connection_udp_sock", "create_connection",
     lambda s: _args(P, sock=s.socket(socket.SOCK_DGRAM))),
    ("create_connection_hostname_without_ssl", "create_connection",
     lambda s: _args(P, "127.0.0.1", 1, server_hostname="x")),
    ("create_connection_ssl_without_host", "create_connection",
     lambda s: _args(P, sock=s.socket(), ssl=True)),
    ("create_connection_handshake_timeout_without_ssl", "create_connection",
     lambda s: _args(P, "127.0.0.1", 1, ssl_handshake_timeout=1)),
    ("create_connection_shutdown_timeout_without_ssl", "create_connection",
     lambda s: _args(P, "127.0.0.1", 1, ssl_shutdown_timeout=1)),
    ("create_connection_bad_ssl", "create_connection",
     lambda s: _args(P, "127.0.0.1", 1, ssl=1)),
    ("create_server_bad_ssl", "create_server",
     lambda s: _args(P, "127.0.0.1", 0, ssl=1)),
    ("create_server_host_and_sock", "create_server",
     lambda s: _args(P, "127.0.0.1", 0, sock=s.listener())),
    ("create_server_nothing", "create_server",
     lambda s: _args(P)),
    ("create_server_udp_sock", "create_server",
     lambda s: _args(P, sock=s.socket(socket.SOCK_DGRAM))),
    ("create_server_handshake_timeout_without_ssl", "create_server",
     lambda s: _args(P, "127.0.0.1", 0, ssl_handshake_timeout=1)),
    ("connect_accepted_socket_udp", "connect_accepted_socket",
     lambda s: _args(P, s.socket(socket.SOCK_DGRAM))),
    ("datagram_tcp_sock", "create_datagram_endpoint",
     lambda s: _args(DP, sock=s.socket())),
    ("datagram_sock_and_local_addr", "create_datagram_endpoint",
     lambda s: _args(DP, local_addr=("127.0.0.1", 0), sock=s.socket(socket.SOCK_DGRAM))),
    ("datagram_no_address", "create_datagram_endpoint",
     lambda s: _args(DP)),
    ("datagram_unix_tuple_address", "create_datagram_endpoint",
     lambda s: _args(DP, family=socket.AF_UNIX, local_addr=("127.0.0.1", 0))),
    ("datagram_inet_string_address", "create_datagram_endpoint",
     lambda s: _args(DP, local_addr="127.0.0.1")),
    ("sock_recv_blocking", "sock_recv",
     lambda s: _args(s.socket(blocking=True), 1)),
    ("sock_connect_blocking", "sock_connect",
     lambda s: _args(s.socket(blocking=True), ("127.0.0.1", 1))),
    ("sock_accept_blocking", "sock_accept",
     lambda s: _args(s.socket(blocking=True))),
    ("unix_connection_path_and_sock", "create_unix_connection",
     lambda s: _args(P, "/nonexistent", sock=s.socket(family=socket.AF_UNIX))),
    ("unix_connection_nothing", "create_unix_connection",
     lambda s: _args(P)),
    ("unix_connection_tcp_sock", "create_unix_connection",
     lambda s: _args(P, sock=s.socket())),
    ("unix_connection_ssl_without_hostname", "create_unix_connection",
     lambda s: _args(P, "/nonexistent", ssl=ssl.create_default_context())),
    ("unix_server_bad_ssl", "create_unix_server",
     lambda s: _args(P, os.path.join(s.tmp(), "s"), ssl=1)),
    ("unix_server_path_and_sock", "create_unix_server",
     lambda s: _args(P, os.path.join(s.tmp(), "s"), sock=s.socket(family=socket.AF_UNIX))),
    ("unix_server_nothing", "create_unix_server",
     lambda s: _args(P)),
    ("unix_server_tcp_sock", "create_unix_server",
     lambda s: _args(P, sock=s.socket())),
]:
    _case = _awaits_loop_method(_method, _make_args)
    _case.__name__ = _name
    misuse(_case)


# ===================================================================================
# signals, subprocesses
# ===================================================================================
@misuse
def signal_uncatchable(s):
    s.loop.add_signal_handler(signal.SIGKILL, print)


@misuse
def signal_coroutine_function(s):
    async def handler():
        pass
    s.loop.add_signal_handler(signal.SIGUSR1, handler)


@misuse
def signal_not_an_int(s):
    s.loop.add_signal_handler("SIGUSR1", print)


@misuse
def signal_out_of_range(s):
    s.loop.add_signal_handler(100000, print)


@misuse
def signal_remove_out_of_range(s):
    s.loop.remove_signal_handler(100000)


@misuse
def signal_closed_loop(s):
    s.loop.close()
    s.loop.add_signal_handler(signal.SIGUSR1, print)


@misuse
def signal_from_other_thread(s):
    errors = []

    def other():
        loop = type(s.loop)()
        try:
            loop.add_signal_handler(signal.SIGUSR1, print)
        except RuntimeError as exc:
            errors.append(exc)
        finally:
            loop.close()
    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    raise errors[0]


SP = asyncio.SubprocessProtocol
for _name, _method, _make_args in [
    ("exec_shell_true", "subprocess_exec", lambda s: _args(SP, "true", shell=True)),
    ("exec_universal_newlines", "subprocess_exec",
     lambda s: _args(SP, "true", universal_newlines=True)),
    ("exec_bufsize", "subprocess_exec", lambda s: _args(SP, "true", bufsize=1)),
    ("exec_text", "subprocess_exec", lambda s: _args(SP, "true", text=True)),
    ("exec_encoding", "subprocess_exec", lambda s: _args(SP, "true", encoding="utf-8")),
    ("exec_errors", "subprocess_exec", lambda s: _args(SP, "true", errors="strict")),
    ("shell_list_command", "subprocess_shell", lambda s: _args(SP, ["true"])),
    ("shell_shell_false", "subprocess_shell", lambda s: _args(SP, "true", shell=False)),
    ("shell_universal_newlines", "subprocess_shell",
     lambda s: _args(SP, "true", universal_newlines=True)),
]:
    _case = _awaits_loop_method(_method, _make_args)
    _case.__name__ = _name
    misuse(_case)


@misuse
def process_signal_after_exit(s):
    async def main():
        proc = await s.aio.create_subprocess_exec("true")
        await proc.wait()
        for _ in range(20):   # let the transport finish on every version
            await s.aio.sleep(0)
        proc.send_signal(signal.SIGTERM)
    s.run(main())


@misuse
def communicate_input_without_stdin_pipe(s):
    async def main():
        proc = await s.aio.create_subprocess_exec("true")
        try:
            await proc.communicate(b"input")
        finally:
            await proc.wait()
    s.run(main())


# ===================================================================================
# the test
# ===================================================================================
# Deliberate differences (docs/migrating.md): the case, what asyncio raises, and why
# coroloop does better.  Checked both ways, so a change on either side is noticed.
DELIBERATE = {
    # coroloop refuses a non-callable at the call in every mode, as asyncio does only
    # in debug mode (docs/migrating.md; tests/stress/test_bad_input.py).
    "call_soon_not_callable": (
        None, None, TypeError, "a callable object was expected by call_soon(), got 1",
        "refused at the call"),
    "call_soon_threadsafe_not_callable": (
        None, None, TypeError,
        "a callable object was expected by call_soon_threadsafe(), got 1",
        "refused at the call"),
    "add_reader_not_callable": (
        None, None, TypeError, "a callable object was expected by add_reader(), got 1",
        "refused at the call, where asyncio accepts it even in debug mode"),
    "server_start_serving_closed": (
        TypeError, "'NoneType' object is not iterable",
        RuntimeError, "server <…> is closed",
        "asyncio iterates the closed server's sockets (None) and fails inside itself"),
}


# Some misuses leak a socket on asyncio itself (create_unix_server(ssl=1) binds first);
# collected later, its ResourceWarning would land on whichever test runs then.
@pytest.mark.filterwarnings("ignore::ResourceWarning",
                            "ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("name", list(CASES))
def test_message_starts_with_asyncios(name):
    expected_type, expected = outcome(name, asyncio, asyncio.new_event_loop)
    got_type, got = outcome(name, coroloop, coroloop.new_event_loop)
    if name in DELIBERATE:
        asyncio_type, asyncio_text, our_type, our_text, _why = DELIBERATE[name]
        assert (expected_type, expected and _normalize(expected)) == (asyncio_type, asyncio_text)
        assert got_type is our_type and _normalize(got).startswith(our_text), got
        return
    if expected_type is None:
        assert got_type is None, f"asyncio raises nothing here; coroloop raised {got_type.__name__}: {got}"
        return
    assert got_type is not None, f"coroloop raised nothing; asyncio: {expected_type.__name__}: {expected}"
    assert issubclass(got_type, expected_type), (
        f"coroloop raised {got_type.__name__}: {got!r}; asyncio {expected_type.__name__}: {expected!r}")
    assert _normalize(got).startswith(_normalize(expected)), (
        f"\n asyncio:  {expected!r}\n coroloop: {got!r}")


def test_the_table_covers_both_kinds_of_outcome():
    """The harness itself: it tells a matching message from a different one."""
    assert _normalize("Task <Task pending coro=<f.<locals>.g() at 0x7f> cb=[h() at x]> 0xdead "
                      "('127.0.0.1', 8080)") == "Task <…> 0x… ('127.0.0.1', PORT)"
    assert len(CASES) > 150

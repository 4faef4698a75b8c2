"""anyio with its asyncio backend, unmodified, on coroloop's loop.

anyio's asyncio backend leans on asyncio internals more than most libraries (it reads
``task._fut_waiter``, ``task._must_cancel`` and ``task._callbacks``), so it is a good
probe of how closely coroloop's Task and Future follow asyncio's.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import threading

import pytest

anyio = pytest.importorskip("anyio")
from anyio.abc import TaskStatus  # noqa: E402
from anyio.streams.buffered import BufferedByteReceiveStream  # noqa: E402
from anyio.streams.tls import TLSListener  # noqa: E402

import coroloop  # noqa: E402


# --- anyio.run with coroloop's loop ---------------------------------------------------------
def test_anyio_run_with_coroloop_loop_factory():
    async def main():
        await anyio.sleep(0)
        return type(asyncio.get_running_loop()), anyio.get_current_task().name

    loop_type, _ = anyio.run(main, backend="asyncio",
                             backend_options={"loop_factory": coroloop.new_event_loop})
    assert loop_type is coroloop.EventLoop


def test_detects_asyncio_backend(run):
    async def main():
        assert anyio.get_cancelled_exc_class() is asyncio.CancelledError
        assert anyio.get_current_task().id == id(asyncio.current_task())
        return anyio.current_time() == pytest.approx(asyncio.get_running_loop().time(),
                                                      abs=0.5)

    assert run(main)


# --- task groups ----------------------------------------------------------------------------
def test_task_group_runs_children_and_start(run):
    async def main():
        results = []

        async def child(i, delay):
            await anyio.sleep(delay)
            results.append(i)

        async def service(*, task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED):
            await anyio.sleep(0.01)
            task_status.started(42)
            await anyio.sleep(0.01)
            results.append("service done")

        async with anyio.create_task_group() as tg:
            for i, delay in enumerate([0.03, 0.01, 0.02]):
                tg.start_soon(child, i, delay, name=f"child-{i}")
            value = await tg.start(service)
            assert value == 42
        return results

    results = run(main)
    assert sorted(results, key=str) == sorted([0, 1, 2, "service done"], key=str)
    assert [r for r in results if isinstance(r, int)] == [1, 2, 0]


def test_task_group_error_cancels_siblings(run):
    async def main():
        cancelled = []

        async def sleeper(i):
            try:
                await anyio.sleep(10)
            except anyio.get_cancelled_exc_class():
                cancelled.append(i)
                raise

        async def failer():
            await anyio.sleep(0.01)
            raise ValueError("boom")

        with pytest.raises(ExceptionGroup) as info:
            async with anyio.create_task_group() as tg:
                for i in range(3):
                    tg.start_soon(sleeper, i)
                tg.start_soon(failer)
        assert [type(e) for e in info.value.exceptions] == [ValueError]
        assert sorted(cancelled) == [0, 1, 2]

    run(main)


def test_task_group_cancel_scope_cancel(run):
    async def main():
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(anyio.sleep, 10)
            await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
        assert tg.cancel_scope.cancel_called
        return "done"

    assert run(main) == "done"


# --- cancel scopes --------------------------------------------------------------------------
def test_move_on_after(run):
    async def main():
        loop = asyncio.get_running_loop()
        start = loop.time()
        with anyio.move_on_after(0.05) as scope:
            await anyio.sleep(10)
        elapsed = loop.time() - start
        assert scope.cancelled_caught
        assert 0.04 <= elapsed < 2
        with anyio.move_on_after(5) as scope:
            await anyio.sleep(0)
        assert not scope.cancelled_caught

    run(main)


def test_fail_after(run):
    async def main():
        with pytest.raises(TimeoutError):
            with anyio.fail_after(0.05):
                await anyio.sleep(10)
        with anyio.fail_after(5):
            await anyio.sleep(0.001)

    run(main)


def test_nested_and_shielded_scopes(run):
    async def main():
        log = []
        with anyio.move_on_after(0.05) as outer:
            with anyio.CancelScope(shield=True) as shielded:
                await anyio.sleep(0.1)           # outlives the outer deadline
                log.append("shielded finished")
            log.append("after shield")            # not reached: outer is cancelled
            await anyio.sleep(0)
            log.append("not reached")
        assert outer.cancelled_caught
        assert not shielded.cancelled_caught
        assert log == ["shielded finished", "after shield"]

        with anyio.move_on_after(5) as outer:
            with anyio.move_on_after(0.01) as inner:
                await anyio.sleep(10)
            log.append("inner expired")
        assert inner.cancelled_caught and not outer.cancelled_caught
        assert log[-1] == "inner expired"

    run(main)


def test_cancel_scope_cancelled_from_another_task(run):
    async def main():
        scopes = []
        ready = anyio.Event()

        async def worker():
            with anyio.CancelScope() as scope:
                scopes.append(scope)
                ready.set()
                await anyio.sleep(10)
            return scope.cancelled_caught

        async with anyio.create_task_group() as tg:
            tg.start_soon(worker)
            await ready.wait()
            scopes[0].cancel()
        assert scopes[0].cancelled_caught

    run(main)


def test_cancel_scope_around_asyncio_primitives(run):
    """anyio scopes cancel plain asyncio awaits too (queues, futures, wait_for)."""
    async def main():
        queue = asyncio.Queue()
        with anyio.move_on_after(0.02) as scope:
            await queue.get()
        assert scope.cancelled_caught
        with anyio.move_on_after(0.02) as scope:
            await asyncio.get_running_loop().create_future()
        assert scope.cancelled_caught
        with anyio.move_on_after(0.02) as scope:
            await asyncio.wait_for(asyncio.sleep(10), 5)
        assert scope.cancelled_caught
        queue.put_nowait("still usable")
        assert await queue.get() == "still usable"

    run(main)


def test_completed_wait_is_not_cancelled_by_scope(run):
    """A cancel scope cancelled after the awaited future completed, but before the task
    resumed, must not turn the result into a CancelledError: anyio skips tasks whose
    ``_fut_waiter`` is done (``isinstance(waiter, asyncio.Future) and waiter.done()``),
    which coroloop's futures pass (their ``__class__`` is an asyncio.Future twin)."""
    async def main():
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        got = []
        scopes = []
        blocked = anyio.Event()

        async def waiter():
            with anyio.CancelScope() as scope:
                scopes.append(scope)
                blocked.set()
                got.append(await fut)

        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter)
            await blocked.wait()
            await anyio.sleep(0)       # the waiter is now blocked on fut
            fut.set_result("value")    # the waiter is scheduled to resume ...
            scopes[0].cancel()         # ... and then its scope is cancelled
        return got, scopes[0].cancelled_caught

    got, caught = run(main)
    assert got == ["value"]
    assert not caught


# --- memory object streams and sync primitives ----------------------------------------------
def test_memory_object_streams(run):
    async def main():
        send, receive = anyio.create_memory_object_stream[int](0)
        received = []

        async def producer(stream, start):
            async with stream:
                for i in range(start, start + 50):
                    await stream.send(i)

        async def consumer(stream):
            async with stream:
                async for item in stream:
                    received.append(item)

        async with anyio.create_task_group() as tg:
            async with send, receive:
                tg.start_soon(producer, send.clone(), 0)
                tg.start_soon(producer, send.clone(), 1000)
                tg.start_soon(consumer, receive.clone())
                tg.start_soon(consumer, receive.clone())
        assert sorted(received) == list(range(50)) + list(range(1000, 1050))

        send, receive = anyio.create_memory_object_stream[str](2)
        send.send_nowait("a")
        send.send_nowait("b")
        with pytest.raises(anyio.WouldBlock):
            send.send_nowait("c")
        await send.aclose()
        assert [item async for item in receive] == ["a", "b"]
        with pytest.raises(anyio.EndOfStream):
            await receive.receive()
        await receive.aclose()

    run(main)


def test_receive_with_timeout_loses_no_items(run):
    """Items sent while a receiver's scope times out are never lost."""
    async def main():
        send, receive = anyio.create_memory_object_stream[int](0)
        received = []
        timeouts = 0

        async def producer():
            async with send:
                for i in range(300):
                    await send.send(i)
                    if i % 7 == 0:
                        await anyio.sleep(0.002)

        async def consumer():
            nonlocal timeouts
            async with receive:
                while True:
                    with anyio.move_on_after(0.001) as scope:
                        try:
                            received.append(await receive.receive())
                        except anyio.EndOfStream:
                            return
                    timeouts += scope.cancelled_caught

        async with anyio.create_task_group() as tg:
            tg.start_soon(producer)
            tg.start_soon(consumer)
        return received, timeouts

    received, timeouts = run(main)
    assert received == list(range(300))
    assert timeouts > 0


def test_sync_primitives(run):
    async def main():
        lock = anyio.Lock()
        semaphore = anyio.Semaphore(2)
        limiter = anyio.CapacityLimiter(3)
        event = anyio.Event()
        active = peak = 0
        in_lock = []

        async def worker(i):
            nonlocal active, peak
            await event.wait()
            async with semaphore:
                active += 1
                peak = max(peak, active)
                await anyio.sleep(0.005)
                active -= 1
            async with limiter, lock:
                in_lock.append(i)
                await anyio.sleep(0)
                in_lock.append(i)

        async with anyio.create_task_group() as tg:
            for i in range(6):
                tg.start_soon(worker, i)
            await anyio.sleep(0.01)
            assert peak == 0
            event.set()
        assert peak == 2
        # The lock kept each worker's two entries together.
        assert all(in_lock[k] == in_lock[k + 1] for k in range(0, len(in_lock), 2))
        assert sorted(in_lock[::2]) == list(range(6))

    run(main)


# --- threads --------------------------------------------------------------------------------
def test_to_thread_and_from_thread(run):
    async def main():
        loop_thread = threading.get_ident()

        def blocking(x):
            assert threading.get_ident() != loop_thread
            # Call back into the event loop from the worker thread.
            doubled = anyio.from_thread.run(async_double, x)
            return doubled + 1

        async def async_double(x):
            await anyio.sleep(0)
            return x * 2

        results = await asyncio.gather(*(anyio.to_thread.run_sync(blocking, i)
                                         for i in range(5)))
        assert results == [2 * i + 1 for i in range(5)]

    run(main)


# --- networking -----------------------------------------------------------------------------
async def _echo_handler(stream):
    async with stream:
        try:
            async for chunk in stream:
                await stream.send(chunk.upper())
        except anyio.BrokenResourceError:
            pass


def test_tcp_listener_and_connect_tcp(run):
    async def main():
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        assert port != 0
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, _echo_handler)

            async def client(i):
                async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                    assert stream.extra(anyio.abc.SocketAttribute.remote_port) == port
                    payload = f"message {i} ".encode() * 5000
                    await stream.send(payload)
                    buffered = BufferedByteReceiveStream(stream)
                    return await buffered.receive_exactly(len(payload)) == payload.upper()

            results = []

            async def record(i):
                results.append(await client(i))

            async with anyio.create_task_group() as clients:
                for i in range(10):
                    clients.start_soon(record, i)
            assert results == [True] * 10
            tg.cancel_scope.cancel()
        await listener.aclose()

    run(main)


def test_connect_tcp_refused(run):
    async def main():
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()                      # nothing listens there now
        with pytest.raises(OSError):
            await anyio.connect_tcp("127.0.0.1", port)

    run(main)


def test_send_eof_and_receive_until_closed(run):
    async def main():
        received = bytearray()
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = listener.extra(anyio.abc.SocketAttribute.local_port)

        async def handler(stream):
            async with stream:
                async for chunk in stream:             # until the client's EOF
                    received.extend(chunk)
                await stream.send(b"got %d" % len(received))

        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, handler)
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                for _ in range(100):
                    await stream.send(b"x" * 1000)
                await stream.send_eof()
                reply = b"".join([chunk async for chunk in stream])
            tg.cancel_scope.cancel()
        await listener.aclose()
        assert reply == b"got 100000"
        assert bytes(received) == b"x" * 100_000

    run(main)


def test_tls_streams(run, server_ssl_context, client_ssl_context):
    async def main():
        tcp_listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = tcp_listener.extra(anyio.abc.SocketAttribute.local_port)
        listener = TLSListener(tcp_listener, server_ssl_context, standard_compatible=False)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, _echo_handler)
            stream = await anyio.connect_tcp("127.0.0.1", port, tls=True,
                                             ssl_context=client_ssl_context,
                                             tls_hostname="localhost",
                                             tls_standard_compatible=False)
            async with stream:
                cert = stream.extra(anyio.streams.tls.TLSAttribute.peer_certificate)
                assert ("DNS", "localhost") in cert["subjectAltName"]
                await stream.send(b"secret " * 10_000)
                buffered = BufferedByteReceiveStream(stream)
                assert await buffered.receive_exactly(70_000) == b"SECRET " * 10_000
            tg.cancel_scope.cancel()
        await listener.aclose()

    run(main)


def test_udp(run):
    async def main():
        async with await anyio.create_udp_socket(local_host="127.0.0.1") as server, \
                await anyio.create_connected_udp_socket(
                    "127.0.0.1", server.extra(anyio.abc.SocketAttribute.local_port),
                    local_host="127.0.0.1") as client:
            await client.send(b"ping")
            data, address = await server.receive()
            assert data == b"ping"
            await server.sendto(b"pong", *address)
            assert await client.receive() == b"pong"

    run(main)


def test_run_process(run):
    async def main():
        result = await anyio.run_process([sys.executable, "-c",
                                          "import sys; sys.stdout.write(sys.stdin.read()[::-1])"],
                                         input=b"coroloop")
        assert result.returncode == 0
        assert result.stdout == b"pooloroc"

    run(main)


# --- UNIX sockets closed while a receive or a send waits (issue 7, item 3) -----------------
# anyio's raw-socket streams register the socket *object* with add_reader/add_writer and
# remove it after closing it; coroloop raised "Invalid file descriptor: -1" there.
async def _close_while_pending(resource, operation):
    """Start operation() in a task and close *resource* while it waits: the
    operation must end with ClosedResourceError, and nothing reach the loop."""
    outcome = []

    async def pending():
        try:
            await operation()
        except anyio.ClosedResourceError:
            outcome.append("closed")

    async with anyio.create_task_group() as tg:
        tg.start_soon(pending)
        await anyio.sleep(0.05)
        await resource.aclose()
    assert outcome == ["closed"]


@pytest.mark.parametrize("direction", ["receive", "send"])
def test_unix_stream_closed_during_a_pending_operation(run, tmp_path, direction):
    async def main():
        path = str(tmp_path / "sock")
        listener = await anyio.create_unix_listener(path)
        accepted = []

        async with listener, anyio.create_task_group() as tg:
            async def handler(peer):
                accepted.append(peer)
                async with peer:
                    await anyio.sleep(3600)  # never reads, never writes

            tg.start_soon(listener.serve, handler)
            stream = await anyio.connect_unix(path)
            while not accepted:
                await anyio.sleep(0.001)

            async def fill_then_wait():
                while True:  # until the socket buffer is full and send waits
                    await stream.send(b"x" * 65536)

            await _close_while_pending(
                stream, stream.receive if direction == "receive" else fill_then_wait)
            tg.cancel_scope.cancel()

    run(main)


def test_unix_datagram_closed_during_receive(run, tmp_path):
    async def main():
        sock = await anyio.create_unix_datagram_socket(local_path=str(tmp_path / "dgram"))
        await _close_while_pending(sock, sock.receive)

    run(main)


def test_find_root_task_on_coroloop_run_until_complete():
    """anyio's find_root_task() recognises the task run_until_complete() drives by
    asyncio's _run_until_complete_cb among its callbacks: coroloop's loop adds that
    very function (docs/migrating.md, private attributes)."""
    from anyio._backends._asyncio import find_root_task

    loop = coroloop.new_event_loop()
    try:
        async def main():
            async def child():
                return find_root_task()
            return await asyncio.ensure_future(child()) is asyncio.current_task()

        assert loop.run_until_complete(main())
    finally:
        loop.close()

"""Smaller things asyncio does that coroloop must do too (issue 7, item 7).

Each test runs the same steps on stdlib asyncio and on coroloop where that makes
the comparison (thread names), or checks coroloop against asyncio's documented
behaviour (no garbage after happy eyeballs, as asyncio since 3.12; no executor
thread left after the loop is done).
"""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import threading

import pytest

import coroloop

IMPLS = {"asyncio": asyncio.new_event_loop, "coroloop": coroloop.new_event_loop}


# -- the default executor's threads ----------------------------------------------------
def _thread_names(loop):
    async def main():
        names = {await loop.run_in_executor(None, lambda: threading.current_thread().name),
                 await asyncio.to_thread(lambda: threading.current_thread().name)}
        return names
    return loop.run_until_complete(main())


def test_default_executor_threads_are_named_as_asyncios():
    names = {}
    for impl, new_loop in IMPLS.items():
        loop = new_loop()
        try:
            names[impl] = {name.rpartition("_")[0] for name in _thread_names(loop)}
        finally:
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
    assert names["coroloop"] == names["asyncio"] == {"asyncio"}


# -- a write pipe's read half ----------------------------------------------------------
def test_write_pipe_transport_pause_reading_is_not_implemented(impl_loop):
    loop = impl_loop
    read_fd, write_fd = os.pipe()
    try:
        async def main():
            with open(write_fd, "wb", buffering=0, closefd=False) as pipe:
                transport, _ = await loop.connect_write_pipe(asyncio.Protocol, pipe)
                try:
                    assert isinstance(transport, asyncio.ReadTransport)
                    for method in (transport.pause_reading, transport.resume_reading):
                        with pytest.raises(NotImplementedError):
                            method()
                finally:
                    transport.close()
                    await asyncio.sleep(0)
        loop.run_until_complete(main())
    finally:
        os.close(read_fd)
        os.close(write_fd)


# -- happy eyeballs leaves no garbage --------------------------------------------------
def _two_address_server():
    """A listener on 127.0.0.1 and the name of a closed port on 127.0.0.2: a
    happy-eyeballs race over both has a loser and a winner."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    return listener


def test_happy_eyeballs_connection_leaves_no_reference_cycles():
    """asyncio since 3.12 (staggered_race) frees everything by reference counting;
    coroloop does on every version: gc.collect() finds nothing after a connection."""
    loop = coroloop.new_event_loop()
    listener = _two_address_server()
    port = listener.getsockname()[1]
    dead = socket.socket()
    dead.bind(("127.0.0.2", 0))
    dead_port = dead.getsockname()[1]
    dead.close()

    async def fake_getaddrinfo(host, port_, *args, **kwargs):
        # Two candidates: the first refuses, the second accepts.
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", dead_port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    loop.getaddrinfo = fake_getaddrinfo

    async def connect():
        transport, _ = await loop.create_connection(
            asyncio.Protocol, "both.invalid", port, happy_eyeballs_delay=0.01)
        peer = transport.get_extra_info("peername")
        transport.close()
        await asyncio.sleep(0)
        return peer

    try:
        loop.run_until_complete(connect())      # warm-up: caches, lazy imports
        gc.collect()
        gc.disable()
        try:
            assert loop.run_until_complete(connect()) == ("127.0.0.1", port)
            garbage = gc.collect()
        finally:
            gc.enable()
        assert garbage == 0
        # The refused attempt too, with no winner at all.
        loop.getaddrinfo = lambda *a, **k: fake_getaddrinfo(*a, **k)

        async def refused():
            async def only_dead(*args, **kwargs):
                return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", dead_port))]
            loop.getaddrinfo = only_dead
            with pytest.raises(OSError):
                await loop.create_connection(asyncio.Protocol, "dead.invalid", dead_port,
                                             happy_eyeballs_delay=0.01)
        loop.run_until_complete(refused())
        gc.collect()
        gc.disable()
        try:
            loop.run_until_complete(refused())
            garbage = gc.collect()
        finally:
            gc.enable()
        assert garbage == 0
    finally:
        listener.close()
        loop.close()


# -- no executor thread outlives the loop ----------------------------------------------
def _executor_threads():
    return [t for t in threading.enumerate() if t.name.startswith("asyncio_")]


async def _use_threads():
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(asyncio.to_thread(sum, [i]) for i in range(4)),
                         loop.run_in_executor(None, sum, [1]))


def test_threads_exit_after_coroloop_run():
    before = threading.active_count()
    coroloop.run(_use_threads())
    assert threading.active_count() == before
    assert not _executor_threads()


def test_threads_exit_after_asyncio_runner_on_coroloop_loop():
    before = threading.active_count()
    with asyncio.Runner(loop_factory=coroloop.new_event_loop) as runner:
        runner.run(_use_threads())
    assert threading.active_count() == before


def test_threads_exit_after_loop_close():
    """loop.close() shuts the executor down without waiting, as asyncio's; every
    thread has been told to exit and does."""
    before = threading.active_count()
    loop = coroloop.new_event_loop()
    loop.run_until_complete(_use_threads())
    threads = _executor_threads()
    assert threads
    loop.close()
    for thread in threads:
        thread.join(30)
    assert threading.active_count() == before


def test_threads_exit_after_blocking_portal_style_use():
    """A loop run in its own thread, fed coroutines from outside
    (run_coroutine_threadsafe, as anyio's blocking portal does), then stopped."""
    before = threading.active_count()
    loop = coroloop.new_event_loop()
    ready = threading.Event()

    def run_loop():
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()

    thread = threading.Thread(target=run_loop)
    thread.start()
    ready.wait(30)
    for _ in range(3):
        asyncio.run_coroutine_threadsafe(_use_threads(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)
    assert loop.is_closed()
    assert threading.active_count() == before

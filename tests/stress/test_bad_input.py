"""Bad input, entry by entry, on stdlib asyncio and on coroloop side by side.

Each entry feeds one bad value to one API: deadlines (nan, inf, -1, 1e300),
callbacks (non-callables, coroutines), descriptors (closed, negative, non-fd
objects, regular files), transports (str data, writes after close / write_eof),
streams (huge separators, limit overflows).  It runs on a fresh stdlib loop and on a
fresh coroloop loop, and then:

* coroloop's loop must survive: after the entry it still runs callbacks, timers and
  I/O (``assert_alive``), whatever the entry did;
* the outcome must be asyncio's: the same exception type, with asyncio's message
  first, verbatim (coroloop may add detail after it); or the same result; and the
  same messages reported to the loop's exception handler.

Two deliberate differences (docs/migrating.md) are compared as such: a NaN deadline
makes 3.13's asyncio loop die (``ASYNCIO_LOOP_DIES_ON_313``), where coroloop behaves
as 3.11/3.12's asyncio (``OUTCOME_BEFORE_313``); and coroloop checks callbacks at the
call as asyncio does in debug mode (``CHECKED_AT_THE_CALL``).

Run as a script (``python tests/stress/test_bad_input.py``), the table runs on any
Python without pytest: ``make stress`` runs it on every installed version.
"""

from __future__ import annotations

import asyncio
import gc
import math
import os
import re
import socket
import sys
import tempfile
import threading
import time
import warnings

try:
    import pytest
except ImportError:  # run as a script on a Python without pytest
    pytest = None

import coroloop

NAN = float("nan")
INF = math.inf
PY313 = sys.version_info >= (3, 13)

ENTRIES = {}


def entry(group):
    def register(fn):
        ENTRIES[f"{group}:{fn.__name__}"] = fn
        return fn
    return register


async def idle(loop, seconds=0.05):
    """Wait without a timer of our own: only the entry's timers are in the heap."""
    await loop.run_in_executor(None, time.sleep, seconds)


async def fires_soon(loop, schedule):
    fired = []
    handle = schedule(lambda: fired.append(True))
    await idle(loop)
    handle.cancel()
    return bool(fired)


async def stays_pending(aio, loop, make_awaitable):
    task = aio.ensure_future(make_awaitable())
    await idle(loop)
    done = task.done()
    task.cancel()
    try:
        await task
    except (aio.CancelledError, TimeoutError):
        pass
    return "done" if done else "pending"


async def run_with_timeout(aio, cm_factory):
    async with cm_factory():
        await aio.sleep(0.02)
    return "completed"


# -- deadlines -----------------------------------------------------------------------
for _name, _delay in [("nan", NAN), ("inf", INF), ("minus_1", -1), ("1e300", 1e300),
                      ("minus_inf", -INF), ("1e18", 1e18)]:
    def _later(aio, loop, _delay=_delay):
        return fires_soon(loop, lambda cb: loop.call_later(_delay, cb))

    def _at(aio, loop, _delay=_delay):
        return fires_soon(loop, lambda cb: loop.call_at(loop.time() + _delay, cb))

    async def _wait_for(aio, loop, _delay=_delay):
        return await aio.wait_for(aio.sleep(0.01, "result"), _delay)

    async def _timeout(aio, loop, _delay=_delay):
        return await run_with_timeout(aio, lambda: aio.timeout(_delay))

    async def _timeout_at(aio, loop, _delay=_delay):
        return await run_with_timeout(aio, lambda: aio.timeout_at(loop.time() + _delay))

    async def _sleep(aio, loop, _delay=_delay):
        return await stays_pending(aio, loop, lambda: aio.sleep(_delay))

    for _kind, _fn in [("call_later", _later), ("call_at", _at), ("wait_for", _wait_for),
                       ("timeout", _timeout), ("timeout_at", _timeout_at), ("sleep", _sleep)]:
        ENTRIES[f"deadline:{_kind}({_name})"] = _fn


@entry("deadline")
async def call_later_str(aio, loop):
    loop.call_later("1", print)


@entry("deadline")
async def call_later_none(aio, loop):
    loop.call_later(None, print)


@entry("deadline")
async def call_at_none(aio, loop):
    loop.call_at(None, print)


@entry("deadline")
async def wait_for_str(aio, loop):
    coro = aio.sleep(0)
    try:
        await aio.wait_for(coro, "1")
    finally:
        coro.close()


# -- callbacks -----------------------------------------------------------------------
async def _coroutine_function():
    pass


@entry("callback")
async def call_soon_int(aio, loop):
    loop.call_soon(42)


@entry("callback")
async def call_soon_none(aio, loop):
    loop.call_soon(None)


async def _runs_a_coroutine_function(aio, schedule):
    # Accepted by both (asyncio checks only in debug mode): calling it makes a
    # coroutine nobody awaits, which warns.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        schedule(_coroutine_function)
        await aio.sleep(0.01)
        gc.collect()
    return sorted({str(w.message) for w in caught})


@entry("callback")
async def call_soon_coroutine_function(aio, loop):
    return await _runs_a_coroutine_function(aio, loop.call_soon)


@entry("callback")
async def call_soon_coroutine(aio, loop):
    coro = _coroutine_function()
    try:
        loop.call_soon(coro)
    finally:
        coro.close()


@entry("callback")
async def call_later_int(aio, loop):
    loop.call_later(0, 42)


@entry("callback")
async def call_at_coroutine_function(aio, loop):
    return await _runs_a_coroutine_function(aio, lambda fn: loop.call_at(0, fn))


@entry("callback")
async def call_soon_threadsafe_int(aio, loop):
    loop.call_soon_threadsafe(42)


@entry("callback")
async def callback_that_raises(aio, loop):
    loop.call_soon(lambda: 1 / 0)
    await aio.sleep(0.01)
    return "survived"


@entry("callback")
async def create_task_int(aio, loop):
    loop.create_task(42)


@entry("callback")
async def create_task_coroutine_function(aio, loop):
    aio.create_task(_coroutine_function)


@entry("callback")
async def ensure_future_int(aio, loop):
    aio.ensure_future(42)


@entry("callback")
async def gather_int(aio, loop):
    await aio.gather(42)


@entry("callback")
async def run_in_executor_int(aio, loop):
    await loop.run_in_executor(None, 42)


@entry("callback")
async def set_exception_handler_int(aio, loop):
    loop.set_exception_handler(42)


@entry("callback")
async def done_callback_int(aio, loop):
    fut = loop.create_future()
    fut.add_done_callback(42)
    fut.set_result(None)
    await aio.sleep(0.01)
    return "survived"


# -- descriptors ---------------------------------------------------------------------
def _closed_fd():
    a, b = socket.socketpair()
    fd = a.fileno()
    a.close()
    b.close()
    return fd


@entry("fd")
async def add_reader_closed(aio, loop):
    loop.add_reader(_closed_fd(), print)


@entry("fd")
async def add_writer_closed(aio, loop):
    loop.add_writer(_closed_fd(), print)


@entry("fd")
async def remove_reader_closed_never_added(aio, loop):
    return loop.remove_reader(_closed_fd())


@entry("fd")
async def add_reader_negative(aio, loop):
    loop.add_reader(-1, print)


@entry("fd")
async def remove_writer_negative(aio, loop):
    loop.remove_writer(-5)


@entry("fd")
async def add_reader_object(aio, loop):
    loop.add_reader(object(), print)


@entry("fd")
async def add_reader_str(aio, loop):
    loop.add_reader("3", print)


@entry("fd")
async def add_reader_float(aio, loop):
    loop.add_reader(1.5, print)


@entry("fd")
async def add_reader_regular_file(aio, loop):
    with tempfile.TemporaryFile() as f:
        loop.add_reader(f.fileno(), print)


@entry("fd")
async def add_writer_regular_file_object(aio, loop):
    with tempfile.TemporaryFile() as f:
        try:
            loop.add_writer(f, print)
        finally:
            loop.remove_writer(f)


@entry("fd")
async def remove_reader_socket_closed_after_add(aio, loop):
    a, b = socket.socketpair()
    loop.add_reader(a, print)
    a.close()
    b.close()
    return loop.remove_reader(a)


@entry("fd")
async def sock_recv_closed_socket(aio, loop):
    a, b = socket.socketpair()
    a.setblocking(False)
    a.close()
    b.close()
    await loop.sock_recv(a, 10)


@entry("fd")
async def sock_sendall_str(aio, loop):
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        await loop.sock_sendall(a, "text")
    finally:
        a.close()
        b.close()


# -- transports ----------------------------------------------------------------------
async def _stream_pair(aio, loop):
    a, b = socket.socketpair()
    transport, protocol = await loop.create_unix_connection(aio.Protocol, sock=a)
    return transport, b


@entry("transport")
async def write_str(aio, loop):
    transport, peer = await _stream_pair(aio, loop)
    try:
        transport.write("text")
    finally:
        transport.close()
        peer.close()


@entry("transport")
async def writelines_str(aio, loop):
    transport, peer = await _stream_pair(aio, loop)
    try:
        transport.writelines(["text"])
    finally:
        transport.close()
        peer.close()


@entry("transport")
async def write_after_close(aio, loop):
    transport, peer = await _stream_pair(aio, loop)
    transport.close()
    try:
        transport.write(b"late")
        await aio.sleep(0.01)
        return "dropped"
    finally:
        peer.close()


@entry("transport")
async def write_after_write_eof(aio, loop):
    transport, peer = await _stream_pair(aio, loop)
    transport.write_eof()
    try:
        transport.write(b"late")
    finally:
        transport.close()
        peer.close()


@entry("transport")
async def write_eof_after_close(aio, loop):
    transport, peer = await _stream_pair(aio, loop)
    transport.close()
    try:
        transport.write_eof()
        return "ignored"
    finally:
        peer.close()


@entry("transport")
async def bad_write_buffer_limits(aio, loop):
    transport, peer = await _stream_pair(aio, loop)
    try:
        transport.set_write_buffer_limits(high=1, low=2)
    finally:
        transport.close()
        peer.close()


@entry("transport")
async def datagram_sendto_str(aio, loop):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    transport, _ = await loop.create_datagram_endpoint(aio.DatagramProtocol, sock=a)
    try:
        transport.sendto("text")
    finally:
        transport.close()
        b.close()


@entry("transport")
async def stream_writer_write_str(aio, loop):
    a, b = socket.socketpair()
    reader, writer = await aio.open_unix_connection(sock=a)
    try:
        writer.write("text")
    finally:
        writer.close()
        b.close()


# -- streams -------------------------------------------------------------------------
def _reader(aio, data=b"", eof=False, limit=2 ** 16):
    reader = aio.StreamReader(limit=limit)
    if data:
        reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


@entry("stream")
async def readuntil_empty_separator(aio, loop):
    await _reader(aio, b"abc").readuntil(b"")


@entry("stream")
async def readuntil_huge_separator(aio, loop):
    separator = b"\r\n" * (2 ** 16)
    return await _reader(aio, b"x" * 10 + separator, eof=True, limit=2 ** 10).readuntil(separator)


@entry("stream")
async def readuntil_huge_separator_not_found(aio, loop):
    await _reader(aio, b"x" * 100, eof=True, limit=10).readuntil(b"y" * 50)


@entry("stream")
async def readuntil_over_limit(aio, loop):
    await _reader(aio, b"x" * 100 + b"\n", limit=10).readuntil(b"\n")


@entry("stream")
async def readline_over_limit(aio, loop):
    reader = _reader(aio, b"x" * 100 + b"\nnext\n", limit=10)
    try:
        await reader.readline()
    except ValueError as exc:
        return f"{exc}; then {await reader.readline()!r}"


@entry("stream")
async def readline_over_limit_at_eof(aio, loop):
    await _reader(aio, b"x" * 100, eof=True, limit=10).readline()


@entry("stream")
async def readexactly_negative(aio, loop):
    await _reader(aio, b"abc").readexactly(-1)


@entry("stream")
async def readexactly_past_eof(aio, loop):
    await _reader(aio, b"abc", eof=True).readexactly(10)


@entry("stream")
async def read_negative_after_eof(aio, loop):
    return await _reader(aio, b"abc", eof=True).read(-5)


@entry("stream")
async def limit_zero(aio, loop):
    aio.StreamReader(limit=0)


@entry("stream")
async def limit_negative(aio, loop):
    aio.StreamReader(limit=-1)


@entry("stream")
async def feed_after_eof(aio, loop):
    _reader(aio, eof=True).feed_data(b"late")


@entry("stream")
async def two_readers_at_once(aio, loop):
    reader = _reader(aio)
    first = aio.ensure_future(reader.read(1))
    await aio.sleep(0)
    try:
        await reader.read(1)
    finally:
        first.cancel()


# -- running one entry ---------------------------------------------------------------
# On 3.13 asyncio's loop dies at its next poll (ValueError from selectors) on a NaN
# deadline; coroloop runs such a timer at once, as 3.11/3.12 do (docs/migrating.md).
ASYNCIO_LOOP_DIES_ON_313 = {f"deadline:{kind}(nan)" for kind in
                            ("call_later", "call_at", "wait_for", "timeout", "timeout_at")}
OUTCOME_BEFORE_313 = {
    "deadline:call_later(nan)": ("ok", "True"),
    "deadline:call_at(nan)": ("ok", "True"),
    "deadline:wait_for(nan)": ("TimeoutError", ""),
    "deadline:timeout(nan)": ("TimeoutError", ""),
    "deadline:timeout_at(nan)": ("TimeoutError", ""),
}
# coroloop checks callbacks at the call in every mode, as asyncio does only in debug
# mode (docs/migrating.md): these entries are compared with asyncio in debug mode.
CHECKED_AT_THE_CALL = {f"callback:{name}" for name in (
    "call_soon_int", "call_soon_none", "call_soon_coroutine", "call_later_int",
    "call_soon_threadsafe_int")}
WATCHDOG_SECONDS = 30


def _normalize(text: str) -> str:
    text = re.sub(r" at 0x[0-9a-f]+", " at 0x?", text)
    return re.sub(r"fd=\d+", "fd=?", text)


def run_entry(impl, name):
    """(outcome, handler messages, the exception the loop died of) of entry *name*
    on a fresh loop of *impl* ("asyncio" or "coroloop")."""
    fn = ENTRIES[name]
    aio = coroloop if impl == "coroloop" else asyncio
    loop = coroloop.new_event_loop() if impl == "coroloop" else asyncio.new_event_loop()
    if impl == "asyncio" and name in CHECKED_AT_THE_CALL:
        loop.set_debug(True)
    reported = []
    loop.set_exception_handler(lambda lp, ctx: reported.append(_normalize(ctx["message"])))

    async def attempt():
        try:
            result = await fn(aio, loop)
        except (Exception, aio.CancelledError) as exc:
            return (type(exc).__name__, _normalize(str(exc)))
        return ("ok", _normalize(repr(result)))

    # A watchdog thread, not a timeout: a timer of ours would share the heap with
    # the entry's (asyncio hides a NaN timer below any other timer).
    task = loop.create_task(attempt())
    watchdog = threading.Timer(WATCHDOG_SECONDS, loop.call_soon_threadsafe, (task.cancel,))
    watchdog.start()
    died = None
    try:
        outcome = loop.run_until_complete(task)
    except Exception as exc:  # the loop itself raised: it died
        outcome, died = None, exc
    finally:
        watchdog.cancel()
    try:
        if died is None:
            loop.run_until_complete(assert_alive(aio, loop))
            loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
    return outcome, reported, died


async def assert_alive(aio, loop):
    """Callbacks, timers and I/O all still work on *loop*."""
    ran = []
    loop.call_soon(ran.append, "soon")
    await aio.sleep(0.001)
    a, b = socket.socketpair()
    try:
        got = loop.create_future()
        loop.add_reader(a.fileno(), lambda: got.done() or got.set_result(a.recv(4)))
        b.send(b"ping")
        assert await aio.wait_for(got, 10) == b"ping"
        loop.remove_reader(a.fileno())
    finally:
        a.close()
        b.close()
    assert ran == ["soon"]


def compare(name):
    """None if coroloop survives *name* with asyncio's outcome, else what differs."""
    theirs, their_reports, their_death = run_entry("asyncio", name)
    ours, our_reports, our_death = run_entry("coroloop", name)
    if our_death is not None:
        return f"coroloop's loop died: {our_death!r}"
    if their_death is not None:
        if not (PY313 and name in ASYNCIO_LOOP_DIES_ON_313):
            return f"asyncio's loop died: {their_death!r}"
        if ours != OUTCOME_BEFORE_313[name]:
            return f"coroloop {ours!r}, asyncio before 3.13 {OUTCOME_BEFORE_313[name]!r}"
        return None
    if ours[0] != theirs[0] or not ours[1].startswith(theirs[1]):
        return f"coroloop {ours!r}, asyncio {theirs!r}"
    if len(our_reports) != len(their_reports) or not all(
            mine.startswith(reference) for mine, reference in zip(our_reports, their_reports)):
        return f"reported: coroloop {our_reports!r}, asyncio {their_reports!r}"
    return None


def test_bad_input(name):
    difference = compare(name)
    assert difference is None, f"{name}: {difference}"


if pytest is not None:
    test_bad_input = pytest.mark.parametrize("name", sorted(ENTRIES))(test_bad_input)


def test_bad_input_table_size(figure):
    figure(f"{len(ENTRIES)} bad-input entries, each run on stdlib asyncio and coroloop",
           entries=len(ENTRIES))
    assert len(ENTRIES) >= 80


if __name__ == "__main__":  # the table on another Python: python test_bad_input.py
    failures = 0
    for entry_name in sorted(ENTRIES):
        problem = compare(entry_name)
        if problem is not None:
            failures += 1
            print(f"DIFFERENT {entry_name}: {problem}")
    print(f"{len(ENTRIES) - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)

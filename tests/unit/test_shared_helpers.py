"""The helpers that used to exist in several drifted copies: one each, with its policy.

* file object -> descriptor (``_core.readiness.fileobj_to_fd``) and where a bad
  descriptor is refused: the loop answers exactly as asyncio's does;
* the loop of a future (``_core.futures.future_loop``);
* "complete this future unless it is done already" (``set_result_if_pending``);
* a transport telling its protocol to pause/resume writing (``_net.flowcontrol``).
"""

from __future__ import annotations

import ast
import asyncio
import socket
from pathlib import Path

import pytest

import coroloop
from coroloop._core.futures import future_loop, set_result_if_pending
from coroloop._core.loop import CoreEventLoop
from coroloop._core.readiness import fileobj_to_fd
from coroloop._net.flowcontrol import tell_protocol

SRC = Path(__file__).resolve().parents[2] / "src" / "coroloop"


# -- descriptors ---------------------------------------------------------------------

class _FileNo:
    def __init__(self, value):
        self.value = value

    def fileno(self):
        return self.value


def test_fileobj_to_fd_takes_ints_and_filenos_and_names_a_bad_object():
    assert fileobj_to_fd(7) == 7
    assert fileobj_to_fd(_FileNo(9)) == 9
    assert fileobj_to_fd(-1) == -1  # refused where it is registered, not here
    for bad in (object(), "3", _FileNo("x"), _FileNo(None)):
        with pytest.raises(ValueError, match="^Invalid file object: "):
            fileobj_to_fd(bad)


def _outcome(call):
    try:
        return "returned", call()
    except Exception as exc:  # noqa: BLE001 - the outcome is what we compare
        return type(exc).__name__, str(exc).split(":")[0]


def _readiness_outcomes(factory):
    """What add/remove_reader/writer do with each kind of descriptor, on an open and
    on a closed loop."""
    outcomes = {}
    for closed in (False, True):
        loop = factory()
        a, b = socket.socketpair()
        try:
            if closed:
                loop.close()
            for label, fileobj in (("negative", -1), ("object", object()), ("str", "3"),
                                   ("socket", a), ("int", a.fileno())):
                for method in ("add_reader", "add_writer", "remove_reader", "remove_writer"):
                    args = (fileobj, print) if method.startswith("add") else (fileobj,)
                    outcomes[closed, label, method] = _outcome(
                        lambda: getattr(loop, method)(*args))
        finally:
            if not closed:
                loop.remove_reader(a)
                loop.remove_writer(a)
                loop.close()
            a.close()
            b.close()
    return outcomes


@pytest.mark.parametrize("factory", [coroloop.new_event_loop, CoreEventLoop],
                         ids=["EventLoop", "CoreEventLoop"])
def test_descriptor_policy_is_asyncios(factory):
    # An object without fileno() is refused first, even on a closed loop; a negative
    # number after the closed check (add: "Event loop is closed"; remove: False).
    expected = _readiness_outcomes(asyncio.SelectorEventLoop)
    assert expected[False, "negative", "add_reader"] == ("ValueError", "Invalid file descriptor")
    assert expected[True, "negative", "remove_reader"] == ("returned", False)
    assert expected[True, "object", "remove_writer"] == ("ValueError", "Invalid file object")
    assert _readiness_outcomes(factory) == expected


# -- the loop of a future ------------------------------------------------------------

def test_future_loop_prefers_get_loop_and_falls_back_to_loop_attribute():
    loop = object()

    class Modern:
        _loop = "not this one"

        def get_loop(self):
            return loop

    class Legacy:  # the protocol before get_loop() (3.7)
        _loop = loop

    class Broken:
        _loop = "not this one"

        def get_loop(self):
            raise AttributeError("a bug inside get_loop()")

    assert future_loop(Modern()) is loop
    assert future_loop(Legacy()) is loop
    with pytest.raises(AttributeError, match="a bug inside"):
        future_loop(Broken())  # only a missing method means "old protocol"


def test_future_loop_of_stdlib_and_coroloop_futures():
    for factory in (asyncio.new_event_loop, coroloop.new_event_loop):
        loop = factory()
        try:
            assert future_loop(loop.create_future()) is loop
            assert future_loop(asyncio.Future(loop=loop)) is loop
        finally:
            loop.close()


# -- completing a future that may be done already --------------------------------------

@pytest.mark.parametrize("factory", [asyncio.new_event_loop, coroloop.new_event_loop],
                         ids=["stdlib", "coroloop"])
def test_set_result_if_pending(factory):
    loop = factory()
    try:
        pending, cancelled, finished = (loop.create_future() for _ in range(3))
        cancelled.cancel()
        finished.set_result("first")
        set_result_if_pending(pending, "value")
        set_result_if_pending(cancelled, "value")
        set_result_if_pending(finished, "value")  # no InvalidStateError
        assert pending.result() == "value"
        assert cancelled.cancelled()
        assert finished.result() == "first"
        defaulted = loop.create_future()
        set_result_if_pending(defaulted)
        assert defaulted.result() is None
    finally:
        loop.close()


# -- flow control --------------------------------------------------------------------

class _Protocol:
    def __init__(self, exc):
        self.exc = exc

    def pause_writing(self):
        raise self.exc


class _Loop:
    def __init__(self):
        self.reported = []

    def call_exception_handler(self, context):
        self.reported.append(context)


@pytest.mark.parametrize("exc", [RuntimeError("boom"), asyncio.CancelledError("boom"),
                                 GeneratorExit()])
def test_tell_protocol_reports_any_failure(exc):
    loop, protocol, transport = _Loop(), _Protocol(exc), object()
    tell_protocol(loop, protocol, "pause_writing", transport)
    assert loop.reported == [{"message": "protocol.pause_writing() failed",
                              "exception": exc, "transport": transport,
                              "protocol": protocol}]


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3)])
def test_tell_protocol_lets_interrupts_through(exc):
    loop = _Loop()
    with pytest.raises(type(exc)):
        tell_protocol(loop, _Protocol(exc), "pause_writing", object())
    assert loop.reported == []


# Calls of a protocol's pause_writing()/resume_writing() that do not go through
# tell_protocol, and why they need not.
_DIRECT_FLOW_CALLS = {
    # _PipeEnd is itself the protocol of the child's stdin pipe: it forwards to the
    # subprocess protocol, and its own caller (the pipe transport) uses tell_protocol.
    "_net/process.py": 2,
}


def test_every_transport_tells_its_protocol_through_the_one_helper():
    found = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == "_net/flowcontrol.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("pause_writing", "resume_writing"):
                found[rel] = found.get(rel, 0) + 1
    assert found == _DIRECT_FLOW_CALLS

"""The networking layer's state machines: one table of transitions each, and a
``_set_state`` that refuses anything else (the shape of ``_net/tls.py``)."""

from __future__ import annotations

import asyncio
import enum
import inspect

import pytest

from coroloop._net import pipes, process, tcp, tls, tls_transport, transports
from coroloop._net.statemachine import InvalidTransition, check_transition

from net_helpers import client_context

MACHINES = [
    (tls.TLSState, tls._TRANSITIONS),
    (tls_transport._ConnectionState, tls_transport._TRANSITIONS),
    (tls_transport._AppState, tls_transport._APP_TRANSITIONS),
    (process._SubprocessState, process._TRANSITIONS),
    (process._PipeEndState, process._PIPE_END_TRANSITIONS),
    (transports._TransportState, transports._TRANSITIONS),
    (transports._WriteSideState, transports._WRITE_SIDE_TRANSITIONS),
    (pipes._PipeState, pipes._TRANSITIONS),
    (tcp._ServerState, tcp._SERVER_TRANSITIONS),
]


@pytest.mark.parametrize("states, table", MACHINES, ids=lambda m: getattr(m, "__name__", ""))
def test_every_state_has_its_row_and_a_note(states, table):
    assert set(table) == set(states)
    for targets in table.values():
        assert targets <= set(states)
    # Each state's value is its name in lower case, and the final states are final.
    assert all(state.value == state.name.lower() for state in states)
    assert any(not targets for targets in table.values())
    # A note (a "#:" comment) above every state, where the state is declared.
    lines = inspect.getsource(states).splitlines()
    for state in states:
        [index] = [i for i, line in enumerate(lines)
                   if line.strip().startswith(f"{state.name} = ")]
        assert lines[index - 1].strip().startswith("#:"), f"{state!r} has no note"


def test_check_transition_names_the_object_and_both_states():
    class Door(enum.Enum):
        OPEN = "open"
        SHUT = "shut"

    table = {Door.OPEN: frozenset({Door.SHUT}), Door.SHUT: frozenset()}
    check_transition(table, "the door", Door.OPEN, Door.SHUT)
    with pytest.raises(InvalidTransition, match=r"^'the door': invalid transition "
                                                r"SHUT -> OPEN \(this is a bug in coroloop\)$"):
        check_transition(table, "the door", Door.SHUT, Door.OPEN)
    assert issubclass(InvalidTransition, RuntimeError)


class _RawTransport(asyncio.Transport):
    """Just enough of a raw transport for a TLSProtocol to start a handshake."""

    def __init__(self):
        super().__init__()
        self.written = []

    def write(self, data):
        self.written.append(bytes(data))

    def is_closing(self):
        return False

    def abort(self):
        pass


def test_tls_protocol_refuses_a_second_connection_lost():
    loop = asyncio.new_event_loop()
    try:
        proto = tls_transport.TLSProtocol(loop, asyncio.Protocol(), client_context(),
                                          None, False, "localhost")
        proto.connection_made(_RawTransport())
        assert proto._state is tls_transport._ConnectionState.HANDSHAKING
        proto.connection_lost(None)
        with pytest.raises(InvalidTransition, match="invalid transition LOST -> LOST"):
            proto.connection_lost(None)
    finally:
        loop.close()


def test_a_pipe_end_is_abandoned_once():
    class Owner:
        pass

    class File:
        closed = 0

        def close(self):
            self.closed += 1

    end = process._PipeEnd(Owner(), 1, File())
    end.abandon()
    assert end.state is process._PipeEndState.LOST and end.file.closed == 1
    with pytest.raises(InvalidTransition, match="LOST -> LOST"):
        end.abandon()

"""TLSEngine tested without sockets: two engines joined by TLSPair's fake link."""

from __future__ import annotations

import random
import ssl

import pytest

from coroloop._net.tls import NEED_DATA, TLSEngine, TLSState, TLSStateError

from net_helpers import (
    CA,
    CLIENT_CERT,
    CLIENT_KEY,
    TLSPair,
    client_context,
    server_context,
)

TLS12 = ssl.TLSVersion.TLSv1_2
TLS13 = ssl.TLSVersion.TLSv1_3


@pytest.fixture(params=["TLSv1.2", "TLSv1.3"])
def version(request):
    return request.param


def make_pair(version: str, **kwargs) -> TLSPair:
    v = TLS12 if version == "TLSv1.2" else TLS13
    client = TLSEngine(
        client_context(maximum_version=v, minimum_version=v), server_hostname="localhost"
    )
    return TLSPair(client=client, **kwargs)


def random_chunker(seed: int, max_size: int):
    rng = random.Random(seed)

    def chunker(data: bytes):
        i = 0
        while i < len(data):
            n = rng.randint(1, max_size)
            yield data[i : i + n]
            i += n

    return chunker


# -- handshake ---------------------------------------------------------------------------


def test_handshake_and_extra_info(version):
    pair = make_pair(version)
    assert pair.client.state is TLSState.UNWRAPPED
    assert pair.client.get_extra_info("peercert", "dflt") == "dflt"
    assert pair.client.read_plaintext() is NEED_DATA

    assert pair.client.do_handshake() is False  # ClientHello sent, waiting
    assert pair.client.state is TLSState.HANDSHAKING
    assert pair.client.outgoing_size > 0
    pair.handshake()

    for engine in (pair.client, pair.server):
        assert engine.handshake_complete
        assert engine.version() == version
        assert engine.do_handshake() is True  # idempotent once done
        cipher = engine.get_extra_info("cipher")
        assert cipher == engine.cipher() and cipher[1] == version
        assert engine.get_extra_info("compression") is None
        assert engine.get_extra_info("ssl_object") is engine.ssl_object
        assert isinstance(engine.ssl_object, ssl.SSLObject)
    peercert = pair.client.get_extra_info("peercert")
    assert ("DNS", "localhost") in peercert["subjectAltName"]
    assert ("IP Address", "127.0.0.1") in peercert["subjectAltName"]
    # The server did not ask for a client certificate.
    assert pair.server.get_extra_info("peercert") is None
    assert "TLSEngine client state=WRAPPED" in repr(pair.client)


@pytest.mark.parametrize("seed", range(3))
def test_handshake_with_ciphertext_in_random_chunks(version, seed):
    pair = make_pair(version)
    pair.handshake(random_chunker(seed, 7))


def test_handshake_byte_by_byte(version):
    pair = make_pair(version)
    pair.handshake(random_chunker(0, 1))


def test_mutual_tls(version):
    sctx = server_context()
    sctx.verify_mode = ssl.CERT_REQUIRED
    sctx.load_verify_locations(cafile=CA)
    v = TLS12 if version == "TLSv1.2" else TLS13
    cctx = client_context(maximum_version=v)
    cctx.load_cert_chain(CLIENT_CERT, CLIENT_KEY)
    pair = TLSPair(
        client=TLSEngine(cctx, server_hostname="localhost"),
        server=TLSEngine(sctx, server_side=True),
    )
    pair.handshake()
    # TLS 1.3 finishes the server side only when the client's certificate flight
    # arrived, which pump() delivered.
    subject = dict(x[0] for x in pair.server.get_extra_info("peercert")["subject"])
    assert subject["commonName"] == "coroloop test client"


def test_mutual_tls_missing_client_certificate(version):
    sctx = server_context()
    sctx.verify_mode = ssl.CERT_REQUIRED
    sctx.load_verify_locations(cafile=CA)
    pair = make_pair(version, server=TLSEngine(sctx, server_side=True))
    pair.client.do_handshake()
    pair.server.do_handshake()
    with pytest.raises(ssl.SSLError):
        pair.pump()
        # TLS 1.3: the client learns about the refusal only on its next read.
        pair.client.send_plaintext(b"x")
        pair.pump()
    assert pair.server.state is TLSState.ERROR


# -- verification failures -------------------------------------------------------------


def test_wrong_hostname_fails_verification(version):
    v = TLS12 if version == "TLSv1.2" else TLS13
    client = TLSEngine(client_context(maximum_version=v), server_hostname="example.com")
    pair = TLSPair(client=client)
    pair.client.do_handshake()
    pair.server.do_handshake()
    pair.transfer(pair.client)
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        pair.transfer(pair.server)
    assert "Hostname mismatch" in str(info.value)
    assert info.value.verify_code == 62  # X509_V_ERR_HOSTNAME_MISMATCH
    assert pair.client.state is TLSState.ERROR
    assert pair.client.error is info.value
    # The client's alert still goes out and fails the server's handshake too.
    with pytest.raises(ssl.SSLError):
        pair.transfer(pair.client)
    assert pair.server.state is TLSState.ERROR
    with pytest.raises(TLSStateError, match="is ERROR") as info2:
        pair.client.do_handshake()
    assert isinstance(info2.value.__cause__, ssl.SSLCertVerificationError)


def test_ip_address_in_san_verifies():
    pair = TLSPair(client=TLSEngine(client_context(), server_hostname="127.0.0.1"))
    pair.handshake()


@pytest.mark.parametrize(
    "make_client",
    [
        # The stock default context: system CAs only, our test CA is unknown.
        lambda: TLSEngine(ssl.create_default_context(), server_hostname="localhost"),
        # No context at all means the same default context.
        lambda: TLSEngine(server_hostname="localhost"),
        # server_hostname='' disables hostname matching, never certificate checks.
        lambda: TLSEngine(server_hostname=""),
    ],
    ids=["default-context", "no-context", "empty-hostname"],
)
def test_untrusted_ca_fails_verification(make_client):
    pair = TLSPair(client=make_client())
    pair.client.do_handshake()
    pair.server.do_handshake()
    pair.transfer(pair.client)
    with pytest.raises(ssl.SSLCertVerificationError) as info:
        pair.transfer(pair.server)
    assert info.value.verify_code == 20  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    assert pair.client.state is TLSState.ERROR


def test_default_context_is_the_secure_default():
    engine = TLSEngine(server_hostname="localhost")
    assert engine.context.verify_mode is ssl.CERT_REQUIRED
    assert engine.context.check_hostname is True
    relaxed = TLSEngine(server_hostname="")
    assert relaxed.context.verify_mode is ssl.CERT_REQUIRED
    assert relaxed.context.check_hostname is False
    assert relaxed.server_hostname is None


def test_context_is_used_as_given():
    ctx = client_context()
    engine = TLSEngine(ctx, server_hostname="localhost")
    assert engine.context is ctx
    assert ctx.check_hostname is True and ctx.verify_mode is ssl.CERT_REQUIRED


def test_server_hostname_required_when_checking_hostnames():
    # wrap_bio() alone would accept this and then skip the hostname check.
    with pytest.raises(ValueError, match="check_hostname requires server_hostname"):
        TLSEngine(client_context())
    with pytest.raises(ValueError, match="check_hostname requires server_hostname"):
        TLSEngine()
    # A context that does not check hostnames needs none.
    ctx = client_context()
    ctx.check_hostname = False
    pair = TLSPair(client=TLSEngine(ctx))
    pair.handshake()


def _wrap_bio_refuses_missing_hostname():
    """3.14's ssl: wrap_bio() refuses check_hostname without server_hostname, as
    wrap_socket() always did; earlier ones accept it and match no name."""
    try:
        ssl.create_default_context().wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())
    except ValueError:
        return True
    return False


def test_empty_server_hostname_disables_only_hostname_matching():
    # asyncio documents server_hostname='' as "disables hostname matching"; the chain
    # is still verified (see test_untrusted_ca_fails_verification for the failure).
    # With coroloop's default context, hostname checking is turned off for it.
    engine = TLSEngine(server_hostname="")
    assert engine.server_hostname is None and not engine.context.check_hostname
    assert engine.context.verify_mode is ssl.CERT_REQUIRED


def test_empty_server_hostname_with_a_hostname_checking_context():
    # The caller's context keeps check_hostname; asyncio then passes no name to
    # wrap_bio(), and so does coroloop: what happens is the ssl module's to say.
    if _wrap_bio_refuses_missing_hostname():
        with pytest.raises(ValueError, match="check_hostname requires server_hostname"):
            TLSEngine(client_context(), server_hostname="")
        return
    pair = TLSPair(client=TLSEngine(client_context(), server_hostname=""))
    pair.handshake()
    assert pair.client.server_hostname is None


def test_server_side_argument_checks():
    with pytest.raises(ValueError, match="Server side SSL needs a valid SSLContext"):
        TLSEngine(server_side=True)
    with pytest.raises(ValueError, match="only be specified in client mode"):
        TLSEngine(server_context(), server_side=True, server_hostname="localhost")
    with pytest.raises(TypeError, match="SSLContext"):
        TLSEngine(object())  # type: ignore[arg-type]


# -- application data ------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_large_payloads_both_ways_in_random_chunks(version, seed):
    rng = random.Random(seed)
    pair = make_pair(version)
    pair.handshake()
    expected = {pair.client: bytearray(), pair.server: bytearray()}
    chunker = random_chunker(seed, [300, 100, 5000, 70000][seed])
    for _ in range(20):
        sender = rng.choice([pair.client, pair.server])
        payload = rng.randbytes(rng.randint(1, 200_000))
        # Send it in random plaintext pieces, as bytes, bytearray or memoryview.
        i = 0
        while i < len(payload):
            n = rng.randint(1, 50_000)
            piece = payload[i : i + n]
            sender.send_plaintext(rng.choice([bytes, bytearray, memoryview])(piece))
            i += n
        expected[pair.other(sender)] += payload
        pair.transfer(sender, chunker)
    pair.pump(chunker)
    assert pair.received[pair.client] == expected[pair.client]
    assert pair.received[pair.server] == expected[pair.server]


def test_data_byte_by_byte(version):
    pair = make_pair(version)
    pair.handshake()
    one = random_chunker(0, 1)
    pair.client.send_plaintext(b"tiny")
    pair.transfer(pair.client, one)
    pair.server.send_plaintext(b"tiny too")
    pair.transfer(pair.server, one)
    assert bytes(pair.received[pair.server]) == b"tiny"
    assert bytes(pair.received[pair.client]) == b"tiny too"


def test_read_plaintext_respects_max_size(version):
    pair = make_pair(version)
    pair.handshake()
    pair.client.send_plaintext(b"a" * 100_000)
    pair.server.feed_incoming(pair.client.outgoing())
    got = []
    while (chunk := pair.server.read_plaintext(30_000)) is not NEED_DATA:
        assert 0 < len(chunk) <= 30_000
        got.append(chunk)
    assert b"".join(got) == b"a" * 100_000
    with pytest.raises(ValueError, match="max_size"):
        pair.server.read_plaintext(0)


def test_empty_send_is_a_noop(version):
    pair = make_pair(version)
    pair.handshake()
    pair.client.send_plaintext(b"")
    assert pair.client.outgoing() == b""


def test_data_sent_during_handshake_is_queued_and_flushed(version):
    pair = make_pair(version)
    buf = bytearray(b"early")
    pair.client.send_plaintext(buf)  # UNWRAPPED
    buf[:] = b"XXXXX"  # the engine copied it
    pair.server.send_plaintext(b"hello from server")
    assert pair.client.pending_plaintext_size == 5
    pair.handshake()
    pair.pump()
    assert pair.client.pending_plaintext_size == 0
    assert bytes(pair.received[pair.server]) == b"early"
    assert bytes(pair.received[pair.client]) == b"hello from server"


def test_application_data_with_the_final_handshake_record(version):
    # Whoever finishes the handshake first sends data right behind its last handshake
    # record; the peer receives both in a single feed_incoming() call.
    pair = make_pair(version)
    c, s = pair.client, pair.server
    c.do_handshake()
    s.do_handshake()
    s.feed_incoming(c.outgoing())
    assert s.do_handshake() is False
    c.feed_incoming(s.outgoing())
    if version == "TLSv1.3":
        # The client is done after the server's first flight; its Finished and its
        # first application data travel together.
        assert c.do_handshake() is True
        c.send_plaintext(b"GET / HTTP/1.1\r\n\r\n")
        first, last = c, s
    else:
        # TLS 1.2: the server sends the last Finished.
        assert c.do_handshake() is False
        s.feed_incoming(c.outgoing())
        assert s.do_handshake() is True
        s.send_plaintext(b"GET / HTTP/1.1\r\n\r\n")
        first, last = s, c
    last.feed_incoming(first.outgoing())  # one feed: Finished + data
    assert last.state is TLSState.HANDSHAKING
    assert last.do_handshake() is True
    assert last.read_plaintext() == b"GET / HTTP/1.1\r\n\r\n"
    assert last.read_plaintext() is NEED_DATA


def test_write_blocked_by_renegotiation_is_retried(version, monkeypatch):
    # SSLObject.write() raises SSLWantReadError while a renegotiation waits for the
    # peer; Python cannot start one, so simulate the refusal once.
    pair = make_pair(version)
    pair.handshake()
    real_write = pair.client.ssl_object.write
    renegotiating = True

    def write(data):
        if renegotiating:
            raise ssl.SSLWantReadError("The operation did not complete (read)")
        return real_write(data)

    monkeypatch.setattr(pair.client.ssl_object, "write", write)
    pair.client.send_plaintext(b"first")
    pair.client.send_plaintext(b" second")  # queued behind, order kept
    assert pair.client.pending_plaintext_size == 12
    assert pair.client.outgoing() == b""
    # The peer's next records arrive; the client retries once it read them.
    renegotiating = False
    pair.server.send_plaintext(b"ping")
    pair.transfer(pair.server)
    assert pair.client.pending_plaintext_size == 0
    pair.pump()
    assert bytes(pair.received[pair.server]) == b"first second"


def test_corrupt_record_is_fatal(version):
    pair = make_pair(version)
    pair.handshake()
    pair.client.send_plaintext(b"secret")
    record = bytearray(pair.client.outgoing())
    record[-3] ^= 0xFF
    pair.server.feed_incoming(record)
    with pytest.raises(ssl.SSLError):
        pair.server.read_plaintext()
    assert pair.server.state is TLSState.ERROR
    assert pair.server.outgoing()  # the alert for the peer
    with pytest.raises(TLSStateError, match="cannot read data.*is ERROR"):
        pair.server.read_plaintext()
    with pytest.raises(TLSStateError, match="cannot send data.*is ERROR"):
        pair.server.send_plaintext(b"x")
    assert pair.server.start_shutdown() is True  # nothing left to close
    pair.server.feed_incoming(b"ignored")  # dropped, no error


# -- shutdown ---------------------------------------------------------------------------


@pytest.mark.parametrize("closer", ["client", "server"])
def test_close_notify_both_directions(version, closer):
    pair = make_pair(version)
    pair.handshake()
    a = getattr(pair, closer)
    b = pair.other(a)
    a.send_plaintext(b"last words")
    assert a.start_shutdown() is False
    assert a.state is TLSState.CLOSING
    assert a.start_shutdown() is False  # idempotent
    with pytest.raises(TLSStateError, match="cannot send data.*is CLOSING"):
        a.send_plaintext(b"more")
    pair.transfer(a)
    assert bytes(pair.received[b]) == b"last words"
    assert pair.eof[b] and b.state is TLSState.PEER_CLOSED
    assert b.read_plaintext() == b""  # EOF sticks
    # Half-close: b can still send until it answers with its own close_notify.
    b.send_plaintext(b"reply")
    assert b.start_shutdown() is True
    assert b.state is TLSState.SHUTDOWN
    assert not b.ragged_eof
    pair.transfer(b)
    assert bytes(pair.received[a]) == b"reply"
    assert pair.eof[a] and a.state is TLSState.SHUTDOWN
    assert not a.ragged_eof
    assert a.outgoing() == b"" and b.outgoing() == b""


def test_simultaneous_close(version):
    pair = make_pair(version)
    pair.handshake()
    assert pair.client.start_shutdown() is False
    assert pair.server.start_shutdown() is False
    pair.pump()
    assert pair.client.state is TLSState.SHUTDOWN
    assert pair.server.state is TLSState.SHUTDOWN


@pytest.mark.parametrize("state", ["UNWRAPPED", "HANDSHAKING"])
def test_shutdown_before_handshake_done_aborts(state):
    pair = TLSPair()
    if state == "HANDSHAKING":
        pair.client.do_handshake()
    pair.client.outgoing()
    pair.client.send_plaintext(b"never sent")
    assert pair.client.start_shutdown() is True
    assert pair.client.state is TLSState.SHUTDOWN
    assert pair.client.outgoing() == b""
    assert pair.client.pending_plaintext_size == 0


def test_data_after_shutdown_raises_clear_error(version):
    pair = make_pair(version)
    pair.handshake()
    pair.client.start_shutdown()
    pair.pump()
    pair.server.start_shutdown()
    pair.pump()
    for engine in (pair.client, pair.server):
        assert engine.state is TLSState.SHUTDOWN
        with pytest.raises(TLSStateError) as info:
            engine.send_plaintext(b"too late")
        msg = str(info.value)
        assert "cannot send data" in msg and "is SHUTDOWN" in msg
        assert "start_shutdown() was called" in msg
        with pytest.raises(TLSStateError, match="is SHUTDOWN"):
            engine.do_handshake()
        assert engine.read_plaintext() == b""
        assert engine.start_shutdown() is True


# -- ragged EOF ---------------------------------------------------------------------------


def test_ragged_eof_is_eof_after_buffered_data(version):
    pair = make_pair(version)
    pair.handshake()
    pair.client.send_plaintext(b"data before the FIN")
    pair.server.feed_incoming(pair.client.outgoing())
    pair.server.feed_eof()  # TCP FIN, no close_notify
    pair.server.feed_eof()  # idempotent
    assert pair.server.read_plaintext() == b"data before the FIN"
    assert pair.server.state is TLSState.SHUTDOWN
    assert pair.server.ragged_eof
    assert pair.server.read_plaintext() == b""
    with pytest.raises(TLSStateError, match="is SHUTDOWN"):
        pair.server.send_plaintext(b"x")
    with pytest.raises(TLSStateError, match="after feed_eof"):
        pair.server.feed_incoming(b"x")


def test_ragged_eof_discards_a_truncated_record(version):
    pair = make_pair(version)
    pair.handshake()
    pair.client.send_plaintext(b"whole")
    whole = pair.client.outgoing()
    pair.client.send_plaintext(b"truncated")
    truncated = pair.client.outgoing()[:-5]
    pair.server.feed_incoming(whole + truncated)
    pair.server.feed_eof()
    assert pair.server.read_plaintext() == b"whole"
    assert pair.server.read_plaintext() == b""
    assert pair.server.ragged_eof


def test_ragged_eof_while_closing(version):
    pair = make_pair(version)
    pair.handshake()
    pair.client.start_shutdown()
    pair.server.send_plaintext(b"unanswered")
    pair.client.feed_incoming(pair.server.outgoing())
    pair.client.feed_eof()  # the server closed TCP without close_notify
    assert pair.client.read_plaintext() == b"unanswered"
    assert pair.client.read_plaintext() == b""
    assert pair.client.state is TLSState.SHUTDOWN
    assert pair.client.ragged_eof


def test_eof_then_shutdown_without_reading(version):
    pair = make_pair(version)
    pair.handshake()
    pair.server.feed_eof()
    assert pair.server.start_shutdown() is True
    assert pair.server.state is TLSState.SHUTDOWN
    assert pair.server.ragged_eof


@pytest.mark.parametrize("when", ["before-any-data", "mid-handshake"])
def test_eof_during_handshake_is_connection_reset(version, when):
    pair = make_pair(version)
    pair.client.do_handshake()
    pair.server.do_handshake()
    if when == "mid-handshake":
        pair.transfer(pair.client)
        data = pair.server.outgoing()
        pair.client.feed_incoming(data[: len(data) // 2])
    pair.client.feed_eof()
    with pytest.raises(ConnectionResetError, match="during the TLS handshake"):
        pair.client.do_handshake()
    assert pair.client.state is TLSState.ERROR
    assert isinstance(pair.client.error, ConnectionResetError)


# -- the state machine --------------------------------------------------------------------


def test_need_data_has_no_truth_value():
    with pytest.raises(TypeError, match="is NEED_DATA"):
        bool(NEED_DATA)
    assert repr(NEED_DATA) == "NEED_DATA"


def test_transition_table_is_closed_and_terminal_states_are_final():
    from coroloop._net.tls import _TRANSITIONS

    assert set(_TRANSITIONS) == set(TLSState)
    assert _TRANSITIONS[TLSState.SHUTDOWN] == frozenset()
    assert _TRANSITIONS[TLSState.ERROR] == frozenset()
    for state, targets in _TRANSITIONS.items():
        if state not in (TLSState.SHUTDOWN, TLSState.ERROR):
            assert TLSState.ERROR in targets

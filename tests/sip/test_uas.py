"""The server transactions of SIP on made-up times: every response, retransmission and
timer path, and a license taken once per call whatever is retransmitted."""

from __future__ import annotations

import pytest

from emulator.sip.messages import parse
from emulator.sip.uas import T1, T2, T4, Admit, Peer, Refuse, SipServer

UDP = Peer("UDP", "192.0.2.7", 5099)
TCP = Peer("TCP", "192.0.2.7", 40001, connection="conn-1")
SDP = (b"v=0\r\no=x 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n"
       b"m=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n")


def request(method: str, *, branch: str = "z9hG4bK-1", call_id: str = "call-1", cseq: int = 1,
            to_tag: str | None = None, body: bytes = b"", extra: str = "", transport: str = "UDP",
            uri: str = "sip:500@127.0.0.1:5060", cseq_method: str | None = None) -> bytes:
    to = "<sip:500@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    head = (f"{method} {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/{transport} 10.0.0.1:5099;branch={branch};rport\r\n"
            f"From: <sip:caller@10.0.0.1>;tag=from-1\r\nTo: {to}\r\nCall-ID: {call_id}\r\n"
            f"CSeq: {cseq} {cseq_method or method}\r\nMax-Forwards: 70\r\nContact: <sip:caller@10.0.0.1:5099>\r\n"
            f"{extra}")
    if body:
        head += "Content-Type: application/sdp\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n").encode() + body


class App:
    """Admits while licenses last; records every call of the server into the application."""

    def __init__(self, licenses: int = 1, ring_s: float = 0.0) -> None:
        self.licenses, self.ring_s = licenses, ring_s
        self.held: set[str] = set()
        self.log: list[tuple] = []
        self.registered: dict[str, int] = {}

    def invite(self, call, caller, called, offer, now):
        self.log.append(("invite", call, called, offer.codecs if offer else None))
        if len(self.held) >= self.licenses:
            return Refuse(486, "license_exhausted sip_trunk_channels")
        self.held.add(call)
        return Admit(self.ring_s, b"v=0\r\n")

    def answered(self, call, now):
        self.log.append(("answered", call, now))

    def released(self, call, why, now):
        self.held.discard(call)
        self.log.append(("released", call, why, now))

    def password(self, user):
        return "s3cret" if user == "401" else None

    def register(self, user, expires, now):
        if expires and user == "999":
            return Refuse(403, "license_exhausted third_party_ip_endpoints")
        self.registered[user] = expires
        return None


def codes(sent) -> list[int]:
    return [parse(s.data).code for s in sent]


def test_an_invite_is_answered_100_then_200_and_the_200_repeats_until_the_ack():
    app = App()
    server = SipServer(app)
    sent = server.receive(request("INVITE", body=SDP), UDP, 0.0)
    assert codes(sent) == [100, 200] and app.held == {"call-1;from-1"}
    ok = parse(sent[1].data)
    assert sent[1].address == ("192.0.2.7", 5099)  # the source, as rport asked
    assert "received=192.0.2.7" in ok.headers["Via"] and "rport=5099" in ok.headers["Via"]
    assert ok.to_address.parameters["tag"] and ok.body == b"v=0\r\n"
    assert app.log[0][3] == ("g711",)
    # the 200 is sent again at T1, 2 T1, 4 T1 ... capped at T2
    times, now = [], 0.0
    while server.deadline() < 8:
        now = server.deadline()
        again = server.expire(now)
        if again:
            assert again[0].data == sent[1].data
            times.append(now)
    assert times[:4] == [T1, 3 * T1, 7 * T1, 7 * T1 + T2]
    to_tag = ok.to_address.parameters["tag"]
    assert server.receive(request("ACK", branch="z9hG4bK-ack", to_tag=to_tag), UDP, now) == []
    assert server.expire(now + 20) == []  # no more 200s
    assert app.held == {"call-1;from-1"}
    bye = server.receive(request("BYE", branch="z9hG4bK-bye", cseq=2, to_tag=to_tag), UDP, 30.0)
    assert codes(bye) == [200] and app.held == set() and app.log[-1][2] == "bye"
    again = server.receive(request("BYE", branch="z9hG4bK-bye", cseq=2, to_tag=to_tag), UDP, 30.5)
    assert again[0].data == bye[0].data and server.counters["retransmissions_received"] == 1


def test_a_retransmitted_invite_gets_the_last_response_and_never_a_second_license():
    app = App(licenses=5)
    server = SipServer(app)
    first = server.receive(request("INVITE", body=SDP), UDP, 0.0)
    for t in (0.5, 1.5, 3.5):
        again = server.receive(request("INVITE", body=SDP), UDP, t)
        assert again == [first[-1]]
    assert len(app.held) == 1 and [e[0] for e in app.log] == ["invite"]
    tag = parse(first[-1].data).to_address.parameters["tag"]
    server.receive(request("ACK", branch="z9hG4bK-ack", to_tag=tag), UDP, 4.0)
    # past the transaction (timer L), the same call is still the same call
    server.expire(40.0)
    late = server.receive(request("INVITE", body=SDP), UDP, 41.0)
    assert len(app.held) == 1 and codes(late) == [200] and [e[0] for e in app.log] == ["invite"]


def test_no_ack_for_the_200_releases_the_call_at_timer_l():
    app = App()
    server = SipServer(app)
    server.receive(request("INVITE", body=SDP), UDP, 0.0)
    server.expire(64 * T1 - 0.01)
    assert app.held
    server.expire(64 * T1)
    assert not app.held and app.log[-1][2] == "no_ack" and server.counters["ack_timeouts"] == 1


def test_a_refusal_is_repeated_by_timer_g_until_the_ack_then_timer_i_ends_it():
    app = App(licenses=0)
    server = SipServer(app)
    sent = server.receive(request("INVITE", body=SDP), UDP, 0.0)
    busy = parse(sent[-1].data)
    assert codes(sent) == [100, 486] and 'license_exhausted sip_trunk_channels' in busy.headers["Warning"]
    assert codes(server.expire(T1)) == [486] and codes(server.expire(3 * T1)) == [486]
    tag = busy.to_address.parameters["tag"]
    assert server.receive(request("ACK", to_tag=tag), UDP, 2.0) == []  # same branch: the INVITE's transaction
    assert server.expire(2.0 + T4 - 0.01) == [] and server.open_transactions == 1
    assert server.receive(request("INVITE", body=SDP), UDP, 3.0)[0].data == sent[-1].data  # absorbed
    server.expire(2.0 + T4)
    assert server.open_transactions == 0 and not app.held


def test_a_refusal_never_acked_ends_at_timer_h():
    server = SipServer(App(licenses=0))
    server.receive(request("INVITE", body=SDP), UDP, 0.0)
    sent = []
    while server.deadline() <= 64 * T1:
        sent += server.expire(server.deadline())
    assert len(sent) == 6 + 4  # T1, 2T1, 4T1 then every T2 until 64 T1 (32 s)
    assert server.open_transactions == 0 and server.counters["no_ack_for_refusals"] == 1


def test_over_tcp_nothing_is_repeated_and_timers_are_zero():
    app = App()
    server = SipServer(app)
    sent = server.receive(request("INVITE", body=SDP, transport="TCP"), TCP, 0.0)
    assert codes(sent) == [100, 200] and all(s.peer.connection == "conn-1" for s in sent)
    assert server.expire(31.0) == []
    server.expire(32.0)
    assert server.counters["ack_timeouts"] == 1  # no ACK even on TCP: released


def test_cancel_while_ringing_gives_200_and_487_and_releases():
    app = App(ring_s=5.0)
    server = SipServer(app)
    sent = server.receive(request("INVITE", body=SDP), UDP, 0.0)
    assert codes(sent) == [100, 180] and app.held
    assert server.receive(request("INVITE", body=SDP), UDP, 0.5)[0].data == sent[-1].data  # the 180 again
    cancel = server.receive(request("CANCEL", cseq_method="CANCEL"), UDP, 1.0)
    assert codes(cancel) == [200, 487] and not app.held and app.log[-1][2] == "cancelled"
    assert server.expire(6.0) and "answered" not in [e[0] for e in app.log]  # only 487 repeats
    unknown = server.receive(request("CANCEL", branch="z9hG4bK-other", cseq_method="CANCEL"), UDP, 2.0)
    assert codes(unknown) == [481]


def test_ringing_then_answered():
    app = App(ring_s=2.0)
    server = SipServer(app)
    server.receive(request("INVITE", body=SDP), UDP, 0.0)
    assert codes(server.expire(2.0)) == [200] and app.log[-1] == ("answered", "call-1;from-1", 2.0)
    cancel = server.receive(request("CANCEL", cseq_method="CANCEL"), UDP, 3.0)
    assert codes(cancel) == [200] and app.held  # too late to cancel: the call stands


def test_bye_for_an_unknown_dialog_is_481_and_options_is_200():
    server = SipServer(App())
    assert codes(server.receive(request("BYE", to_tag="nope"), UDP, 0.0)) == [481]
    options = server.receive(request("OPTIONS", branch="z9hG4bK-o"), UDP, 0.0)
    assert codes(options) == [200] and "INVITE" in parse(options[0].data).headers["Allow"]
    assert codes(server.receive(request("SUBSCRIBE", branch="z9hG4bK-s"), UDP, 0.0)) == [405]


def test_register_takes_the_registration_and_expiry_gives_it_back():
    app = App()
    server = SipServer(app)
    reply = server.receive(request("REGISTER", uri="sip:127.0.0.1", extra="Expires: 60\r\n").replace(
        b"sip:500@127.0.0.1>", b"sip:301@127.0.0.1>"), UDP, 0.0)
    assert codes(reply) == [200] and app.registered == {"301": 60}
    server.expire(59.0)
    assert app.registered == {"301": 60}
    server.expire(60.0)
    assert app.registered == {"301": 0} and server.counters["registrations_expired"] == 1
    refused = server.receive(request("REGISTER", branch="z9hG4bK-r2", uri="sip:127.0.0.1").replace(
        b"sip:500@127.0.0.1>", b"sip:999@127.0.0.1>"), UDP, 61.0)
    assert codes(refused) == [403] and "third_party_ip_endpoints" in parse(refused[0].data).headers["Warning"]


@pytest.mark.parametrize("data, answered", [
    (b"\x00\x01garbage", False),
    (b"INVITE sip:x SIP/2.0\r\n\r\n", False),  # no Via: nobody to answer
    (request("INVITE").replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE"), True),
    (request("INVITE").replace(b"Call-ID: call-1\r\n", b""), False),
    (request("INVITE", cseq_method="BYE"), True),
    (request("INVITE").replace(b"Content-Length: 0", b"Content-Length: 900"), True),
    (request("INVITE", body=b"m=video 1 RTP/AVP 0\r\n"), True),  # no audio: 400 after the 100
])
def test_malformed_input_is_dropped_or_answered_400_and_takes_nothing(data, answered):
    app = App()
    server = SipServer(app)
    sent = server.receive(data, UDP, 0.0)
    assert (400 in codes(sent)) == answered and not app.held
    assert server.counters["dropped_malformed"] + server.counters["bad_requests"] + server.counters["bad_sdp"] == 1


def test_folded_headers_are_unfolded():
    app = App()
    folded = request("INVITE", body=SDP).replace(b"From: <sip:caller@10.0.0.1>;tag=from-1",
                                                 b"From: <sip:caller@10.0.0.1>\r\n ;tag=from-1")
    assert codes(SipServer(app).receive(folded, UDP, 0.0)) == [100, 200]


def test_a_flood_beyond_the_transaction_limit_is_answered_503(monkeypatch):
    import emulator.sip.uas as uas

    monkeypatch.setattr(uas, "MAX_TRANSACTIONS", 3)
    server = SipServer(App(licenses=0))
    results = [codes(server.receive(request("INVITE", branch=f"z9hG4bK-{i}", call_id=f"c{i}"), UDP, 0.0))[-1]
               for i in range(5)]
    assert results == [486, 486, 486, 503, 503] and server.counters["refused_overload"] == 2


def test_a_phone_with_a_password_answers_a_digest_challenge():
    from emulator.sip.digest import credentials_for

    app = App()
    server = SipServer(app)

    def register(extra: str, branch: str, now: float):
        data = request("REGISTER", branch=branch, uri="sip:127.0.0.1", extra=extra).replace(
            b"sip:500@127.0.0.1>", b"sip:401@127.0.0.1>")
        return server.receive(data, UDP, now)

    challenge = parse(register("", "z9hG4bK-a1", 0.0)[0].data)
    assert challenge.code == 401 and "401" not in app.registered
    params = challenge.www_authenticate.parameters
    good = credentials_for("401", "s3cret", params["realm"], params["nonce"], "REGISTER", "sip:127.0.0.1")
    assert codes(register(f"Authorization: {good}\r\n", "z9hG4bK-a2", 1.0)) == [200] and app.registered == {"401": 3600}
    bad = credentials_for("401", "guess", params["realm"], params["nonce"], "REGISTER", "sip:127.0.0.1")
    assert codes(register(f"Authorization: {bad}\r\n", "z9hG4bK-a3", 2.0)) == [401]
    assert codes(register(f"Authorization: {good}\r\n", "z9hG4bK-a4", 400.0)) == [401]  # the nonce is stale
    assert server.counters["auth_failures"] == 2 and server.counters["auth_challenges"] == 1

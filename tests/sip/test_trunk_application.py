"""What a SIP trunk's INVITEs and a unit's REGISTERs mean to the unit: the SipServer driven
with real messages, deciding through a real Network (no sockets: the front door's sockets are
in test_front_door.py and test_sipp.py)."""

from __future__ import annotations

import asyncio

from emulator.config import UnitConfig
from emulator.licensing import KeyAuthority
from emulator.runtime import Network, VirtualClock
from emulator.sip.front_door import TrunkApplication
from emulator.sip.messages import parse
from emulator.sip.uas import SipServer
from tests.conftest import SERIAL, T0
from tests.rules.helpers import keys
from tests.sip.test_uas import SDP, UDP, request


def office(**trunk) -> tuple[Network, SipServer, TrunkApplication]:
    authority = KeyAuthority.development()
    config = UnitConfig(
        name="office", feature_key=f"virtual:{SERIAL}",
        licenses=keys(("sip_trunk_channels", 2), ("third_party_ip_endpoints", 1)),
        vcm_modules=[{"type": "vcm32"}],
        trunks=[{"name": "sip1", "type": "sip", "channels": 10, "codec": "g711", **trunk}],
        users=[{"name": "a", "extension": "201", "phone": "2420"}, {"name": "b", "extension": "202", "phone": "analog"},
               {"name": "s1", "extension": "301", "phone": "third_party_sip"},
               {"name": "s2", "extension": "302", "phone": "third_party_sip"}],
        groups=[{"name": "g", "extension": "500", "members": ["202"]}])
    network = Network([config], VirtualClock(T0), authority=authority)
    asyncio.run(network.start())
    app = TrunkApplication(network, config, config.trunks[0], host="127.0.0.1")
    return network, SipServer(app), app


def invite(server, n: int, *, to: str = "500", body: bytes = SDP):
    data = request("INVITE", branch=f"z9hG4bK-{n}", call_id=f"c{n}", body=body,
                   uri=f"sip:{to}@127.0.0.1").replace(b"sip:500@127.0.0.1>", f"sip:{to}@127.0.0.1>".encode())
    return parse(server.receive(data, UDP, float(n))[-1].data)


def test_licenses_then_the_lines_busy_response_with_the_reason():
    network, server, _ = office(service_busy_response=503)
    sip = network["office"].pools()["sip_trunk_channels"]
    assert invite(server, 1, to="201").code == 200 and invite(server, 2, to="202").code == 200
    refused = invite(server, 3, to="500")
    assert refused.code == 486 and "extension_busy" in refused.headers["Warning"]  # 202 (analog) is on call 2
    refused = invite(server, 4, to="201")
    assert refused.code == 503 and "license_exhausted: sip_trunk_channels" in refused.headers["Warning"]
    assert sip.in_use == 2 and sip.refusals


def test_no_common_codec_is_488_and_takes_nothing():
    network, server, _ = office(codec="g729a")
    answer = invite(server, 1, to="201")
    assert answer.code == 488 and "no_common_codec" in answer.headers["Warning"]
    assert network["office"].pools()["sip_trunk_channels"].in_use == 0


def test_an_unknown_number_goes_to_the_incoming_call_route_or_is_404():
    _, server, _ = office()
    assert invite(server, 1, to="999").code == 404
    _, server, _ = office(incoming_call_route="202")
    ok = invite(server, 1, to="999")
    assert ok.code == 200 and ok.headers["Content-Type"] == "application/sdp" and b"PCMU" in ok.body


def test_bye_gives_the_license_back():
    network, server, _ = office()
    ok = invite(server, 1, to="201")
    tag = ok.to_address.parameters["tag"]
    server.receive(request("BYE", branch="z9hG4bK-b", call_id="c1", cseq=2, to_tag=tag), UDP, 5.0)
    assert network["office"].pools()["sip_trunk_channels"].in_use == 0


def test_register_takes_a_third_party_license_and_gives_it_back():
    network, server, _ = office()

    def register(ext: str, n: int, expires: int = 3600) -> int:
        data = request("REGISTER", branch=f"z9hG4bK-r{n}", uri="sip:127.0.0.1",
                       extra=f"Expires: {expires}\r\n").replace(b"sip:500@127.0.0.1>", f"sip:{ext}@127.0.0.1>".encode())
        return parse(server.receive(data, UDP, float(n))[-1].data).code

    third = network["office"].pools()["third_party_ip_endpoints"]
    assert register("301", 1) == 200 and third.in_use == 1
    assert register("302", 2) == 403
    assert register("999", 3) == 404
    assert register("301", 4, expires=0) == 200 and third.in_use == 0
    assert register("302", 5) == 200 and third.in_use == 1

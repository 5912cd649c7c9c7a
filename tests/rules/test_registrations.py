"""IP phone registrations and endpoint licenses ([S8][S29], seed)."""

from __future__ import annotations

import pytest

from emulator.reasons import Reason
from tests.conftest import T0
from tests.rules.helpers import build, in_use, keys, sip, user

R = Reason


def test_avaya_ip_phones_need_no_license_before_6_0():
    core = build(release="4.2", users=[user(str(200 + i), "9620") for i in range(10)])
    assert all(core.registrar.register(str(200 + i), T0).outcome == "registered" for i in range(10))


def test_from_6_0_avaya_ip_phones_take_an_endpoint_license_else_emergency_calls_only():
    core = build(users=[user("201", "9620"), user("202", "1608"), user("203", "analog")],
                 licenses=keys(("avaya_ip_endpoints", 1)), trunks=[sip()], vcm=["combo"])  # combo: VCM, no free endpoints
    assert core.registrar.register("201", T0).outcome == "registered"
    second = core.registrar.register("202", T0)
    assert (second.accepted, second.outcome, second.reason) == (True, "registered_unlicensed", R.ENDPOINT_UNLICENSED)
    assert core.calls.offer(1, "202", "203", T0).reason is R.ENDPOINT_UNLICENSED
    assert core.calls.offer(2, "202", "203", T0, emergency=True).accepted


def test_each_ip500_vcm_card_gives_twelve_avaya_ip_phones_in_6_0():
    users = [user(str(300 + i), "9620") for i in range(30)]
    core = build(users=users, vcm=["vcm32", "vcm64"])
    outcomes = [core.registrar.register(u["extension"], T0).outcome for u in users]
    assert outcomes.count("registered") == 24 and outcomes.count("registered_unlicensed") == 6
    core = build(users=users, vcm=["ip400_vcm5"])
    outcomes = [core.registrar.register(u["extension"], T0).outcome for u in users]
    assert outcomes.count("registered") == 15  # 3 per IP400 VCM channel


def test_a_freed_license_goes_to_dect_first_then_registration_order():
    users = [user("201", "9620"), user("202", "1608"), user("203", "3701"), user("204", "9630")]
    core = build(users=users, licenses=keys(("avaya_ip_endpoints", 1)))
    for ext in ("201", "202", "203", "204"):
        core.registrar.register(ext, T0)
    core.take_events()
    core.registrar.unregister("201", T0 + 1)
    assert core.parties["203"].endpoint_licensed  # the DECT handset, though it registered after 202
    core.registrar.unregister("203", T0 + 2)
    assert core.parties["202"].endpoint_licensed and not core.parties["204"].endpoint_licensed
    assert [e.data["extension"] for e in core.take_events() if e.name == "endpoint.licensed"] == ["203", "202"]


def test_third_party_phones_take_a_license_and_cannot_register_without_one():
    core = build(users=[user("201", "third_party_sip"), user("202", "third_party_h323")],
                 licenses=keys(("third_party_ip_endpoints", 1)))
    assert core.registrar.register("201", T0).outcome == "registered"
    refused = core.registrar.register("202", T0)
    assert (refused.accepted, refused.reason, refused.detail) == (False, R.LICENSE_EXHAUSTED, "third_party_ip_endpoints")
    assert not core.parties["202"].registered and in_use(core, "ip_extensions") == 1
    core.registrar.unregister("201", T0 + 1)
    assert core.registrar.register("202", T0 + 1).accepted


def test_vpnremote_only_on_5610_and_5621_with_vpn_ip_extensions_before_6_0():
    users = [user("201", "5610", vpnremote=True), user("202", "5621", vpnremote=True),
             user("203", "9620", vpnremote=True), user("204", "5620", vpnremote=True)]
    core = build(release="4.2", users=users, licenses=keys(("vpn_ip_extensions", 1)))
    assert core.registrar.register("201", T0).accepted
    assert in_use(core, "vpn_ip_extensions") == 1
    refused = core.registrar.register("202", T0)
    assert (refused.reason, refused.detail) == (R.LICENSE_EXHAUSTED, "vpn_ip_extensions")
    for ext, model in (("203", "9620"), ("204", "5620")):
        wrong = core.registrar.register(ext, T0)
        assert (wrong.reason, wrong.detail) == (R.VPNREMOTE_UNSUPPORTED_MODEL, model)


def test_vpn_phones_are_avaya_ip_endpoints_from_6_0():
    core = build(users=[user("201", "5610", vpnremote=True)], licenses=keys(("avaya_ip_endpoints", 1)))
    assert core.registrar.register("201", T0).outcome == "registered"
    assert in_use(core, "avaya_ip_endpoints") == 1


def test_ip_phones_are_limited_by_the_units_ip_extensions():
    users = [user(str(200 + i), "9620") for i in range(16)] + [user("299", "9620")] + [user("300", "analog")]
    with pytest.raises(ValueError, match="exceed the Small Office Edition's 28"):
        build(release="4.2", model="soe", users=[user(str(100 + i)) for i in range(29)])
    core = build(release="4.2", model="soe", users=users)
    results = [core.registrar.register(u["extension"], T0) for u in users if u["phone"] != "analog"]
    assert sum(r.accepted for r in results) == 16
    assert (results[-1].reason, results[-1].detail) == (R.CAPACITY_REACHED, "ip_extensions")


def test_reserve_license_keeps_the_license_while_unregistered():
    core = build(users=[user("201", "9620", reserve_license=True), user("202", "9620")],
                 licenses=keys(("avaya_ip_endpoints", 1)))
    assert in_use(core, "avaya_ip_endpoints") == 1  # taken when configured
    assert core.registrar.register("202", T0).outcome == "registered_unlicensed"
    assert core.registrar.register("201", T0).outcome == "registered"
    core.registrar.unregister("201", T0 + 1)
    assert in_use(core, "avaya_ip_endpoints") == 1 and not core.parties["202"].endpoint_licensed


def test_registration_errors():
    core = build(users=[user("201", "analog"), user("202", "9620")])
    assert core.registrar.register("201", T0).reason is R.NOT_AN_IP_PHONE
    core.registrar.register("202", T0)
    assert core.registrar.register("202", T0).reason is R.ALREADY_REGISTERED
    assert core.registrar.unregister("202", T0).accepted
    assert core.registrar.unregister("202", T0).reason is R.NOT_REGISTERED
    assert core.calls.offer(1, "202", "201", T0).reason is R.NOT_REGISTERED


# Every control unit of every release: which license an Avaya IP phone and a VPNremote phone
# take. The licensing document [S1]: "Avaya IP phones supported by the IP Office can register
# with the IP Office without requiring any license", and VPNremote phones take VPN IP
# Extensions. The release 6.0 H.323 guide [S8]: "On IP500 and IP500 V2 systems, each Avaya IP
# phone requires a license", VPN phones included.
UNITS = [("4.2", "IP500", None, "vpn_ip_extensions"), ("4.2", "IP406 V2", None, "vpn_ip_extensions"),
         ("4.2", "IP412", None, "vpn_ip_extensions"), ("4.2", "Small Office Edition", None, "vpn_ip_extensions"),
         ("6.0", "IP500", "avaya_ip_endpoints", "avaya_ip_endpoints"),
         ("6.0", "IP500 V2", "avaya_ip_endpoints", "avaya_ip_endpoints"),
         ("6.0", "IP406 V2", None, "vpn_ip_extensions"), ("6.0", "IP412", None, "vpn_ip_extensions")]


@pytest.mark.parametrize(("release", "model", "avaya_pool", "vpn_pool"), UNITS)
def test_endpoint_licensing_follows_the_control_unit(release, model, avaya_pool, vpn_pool):
    from emulator.licensing import LicenseStatus

    users = [user("201", "9620"), user("202", "5610", vpnremote=True), user("203", "1608")]
    core = build(release=release, model=model, users=users, licenses=keys(("vpn_ip_extensions", 1)))
    desk = core.registrar.register("201", T0)
    if avaya_pool is None:
        assert desk.outcome == "registered" and core.registrar.holding["201"] is None
        assert core.calls.offer(1, "201", "203", T0).reason is not R.ENDPOINT_UNLICENSED
    else:  # no Avaya IP Endpoints license installed (and no VCM card giving free ones)
        assert desk.outcome == "registered_unlicensed"
        assert core.calls.offer(1, "201", "203", T0).reason is R.ENDPOINT_UNLICENSED
    vpn = core.registrar.register("202", T0)
    status = core.engine.licenses()[0].status
    if vpn_pool == "vpn_ip_extensions":
        assert status is LicenseStatus.VALID
        assert vpn.outcome == "registered" and in_use(core, "vpn_ip_extensions") == 1
    else:
        assert status is LicenseStatus.OBSOLETE  # VPN IP Extensions is not used on this unit at 6.0
        assert vpn.outcome == "registered_unlicensed" and in_use(core, "vpn_ip_extensions") == 0

"""Calls and VCM channels, rule by rule, from the reference's statements."""

from __future__ import annotations

import pytest

from emulator.reasons import Reason
from tests.conftest import T0
from tests.rules.helpers import build, in_use, keys, sip, user

R = Reason


def sip_unit(licensed: int = 2, trunk_channels: int = 30, vcm=("vcm32",), **kw):
    users = kw.pop("users", [user("201", "analog"), user("202", "9620"), user("203", "9620", codec="g729a"),
                             user("204", "analog"), user("205", "1608")])
    core = build(licenses=keys(("sip_trunk_channels", licensed)) + kw.pop("more_keys", []),
                 trunks=[sip(channels=trunk_channels)], users=users, vcm=vcm, **kw)
    for ext in ("202", "203", "205"):
        if ext in core.parties and core.parties[ext].needs_registration:
            core.registrar.register(ext, T0)
    return core


# -- SIP trunk channels (seed: "When a channel is used it requires a license") ---------------

def test_each_active_sip_call_takes_one_channel_license_inbound_and_outbound():
    core = sip_unit(licensed=2)
    assert core.calls.offer("in", "sip1", "201", T0).accepted       # inbound
    assert core.calls.offer("out", "204", "sip1", T0).accepted      # outbound
    assert in_use(core, "sip_trunk_channels") == 2
    refused = core.calls.offer("third", "sip1", "201", T0)
    assert (refused.reason, refused.detail) == (R.LICENSE_EXHAUSTED, "sip_trunk_channels")
    core.calls.hang_up("in", T0 + 60)
    assert core.calls.offer("third", "sip1", "201", T0 + 60).accepted


def test_sip_calls_without_any_license_are_refused():
    core = build(trunks=[sip()], users=[user("201")], vcm=["vcm32"])
    decision = core.calls.offer(1, "sip1", "201", T0)
    assert (decision.reason, decision.detail) == (R.NOT_LICENSED, "sip_trunk_channels")


def test_trunk_channels_limit_calls_before_licenses_do():
    core = sip_unit(licensed=10, trunk_channels=1)
    assert core.calls.offer(1, "sip1", "201", T0).accepted
    decision = core.calls.offer(2, "sip1", "204", T0)
    assert (decision.reason, decision.detail) == (R.TRUNK_BUSY, "trunk:sip1")
    assert in_use(core, "sip_trunk_channels") == 1  # nothing leaked by the refusal


# -- VCM ([S12][S13][S9]) -----------------------------------------------------------------------

def test_ip_to_non_ip_holds_one_vcm_channel_for_the_whole_call():
    core = sip_unit()
    assert core.calls.offer(1, "202", "201", T0, answered=False).accepted  # IP phone -> analog
    assert core.vcm.in_use == 1
    core.calls.connect(1, T0 + 5)
    assert core.vcm.in_use == 1
    core.calls.hang_up(1, T0 + 60)
    assert core.vcm.in_use == 0


def test_sip_call_holds_vcm_during_setup_then_talks_directly_with_same_codec():
    core = sip_unit()
    assert core.calls.offer(1, "sip1", "202", T0, answered=False).accepted  # SIP g711 -> 9620 g711
    assert core.vcm.in_use == 1
    core.calls.connect(1, T0 + 3)
    assert core.vcm.in_use == 0
    assert in_use(core, "sip_trunk_channels") == 1  # the license stays for the call


def test_sip_to_non_ip_keeps_its_vcm_after_connect():
    core = sip_unit()
    core.calls.offer(1, "sip1", "201", T0, answered=False)
    core.calls.connect(1, T0 + 3)
    assert core.vcm.in_use == 1


def test_ip_to_ip_same_codec_uses_no_vcm():
    core = sip_unit()
    assert core.calls.offer(1, "202", "205", T0).accepted
    assert core.vcm.in_use == 0


def test_codec_mismatch_needs_one_vcm_channel_per_side():
    core = sip_unit()
    assert core.calls.offer(1, "202", "203", T0).accepted  # g711 <-> g729a
    assert core.vcm.in_use == 2


def test_non_ip_to_non_ip_uses_no_vcm():
    core = sip_unit()
    assert core.calls.offer(1, "201", "204", T0).accepted
    assert core.vcm.in_use == 0


def test_no_free_vcm_refuses_the_call_and_rolls_everything_back():
    core = sip_unit(licensed=40, vcm=("ip400_vcm5",))
    for i in range(5):
        assert core.calls.offer(i, "sip1", "201", T0).accepted
    decision = core.calls.offer(99, "sip1", "204", T0)
    assert (decision.reason, decision.detail) == (R.NO_VCM_CHANNEL, "vcm_channels")
    assert in_use(core, "sip_trunk_channels") == 5 and in_use(core, "trunk:sip1") == 5


def test_sip_setup_needs_vcm_even_when_media_will_be_direct():
    core = sip_unit(licensed=10, vcm=("ip400_vcm5",))
    for i in range(5):
        core.calls.offer(i, "202", "201", T0)  # fill the VCM with IP<->analog calls
    assert core.calls.offer("s", "sip1", "202", T0).reason is R.NO_VCM_CHANNEL


def test_music_on_hold_to_an_ip_party_takes_a_vcm_channel():
    core = sip_unit()
    core.calls.offer(1, "202", "205", T0)  # IP <-> IP, direct
    assert core.calls.hold(1, "205", T0).accepted and core.vcm.in_use == 1
    core.calls.resume(1, T0 + 10)
    assert core.vcm.in_use == 0
    core.calls.offer(2, "201", "204", T0)
    assert core.calls.hold(2, "204", T0).accepted and core.vcm.in_use == 0  # analog hears TDM music directly


def test_hold_is_refused_when_no_vcm_is_free():
    core = sip_unit(licensed=5, vcm=("ip400_vcm5",))
    assert core.calls.offer("ip", "202", "205", T0).accepted  # direct media: no VCM
    for i in range(5):
        assert core.calls.offer(i, "203", "201" if i % 2 else "204", T0).accepted  # IP -> analog: one VCM each
    assert core.vcm.available == 0
    assert core.calls.hold("ip", "205", T0).reason is R.NO_VCM_CHANNEL


def test_conference_takes_one_vcm_per_ip_party():
    core = sip_unit()
    for party in ("202", "203", "201"):
        assert core.calls.join_conference("c", party, T0).accepted
    assert core.vcm.in_use == 2  # two IP parties, one analog
    core.calls.leave_conference("c", "202", T0 + 60)
    assert core.vcm.in_use == 1


def test_conference_with_a_sip_party_takes_its_license():
    core = sip_unit(licensed=1)
    assert core.calls.join_conference("c", "sip1", T0).accepted
    assert in_use(core, "sip_trunk_channels") == 1
    assert core.calls.join_conference("d", "sip1", T0).reason is R.LICENSE_EXHAUSTED


# -- VCM channels per card and per release -----------------------------------------------------

@pytest.mark.parametrize(("vcm", "expected"), [
    ([{"type": "vcm64", "codec": "g711"}], 64),
    ([{"type": "vcm64", "codec": "g729a"}], 60),
    ([{"type": "vcm64", "codec": "g723"}], 44),
    ([{"type": "vcm32", "codec": "g729a"}], 30),
    (["vcm64", "vcm64", "vcm64"], 128),  # the IP500's maximum
    (["combo", "combo"], 20),
    (["ip400_vcm24", "vcm32"], 56),
])
def test_vcm_channels_depend_on_card_codec_and_unit_cap(vcm, expected):
    assert build(vcm=vcm).vcm.effective == expected


def test_ip500_vcm_before_6_0_has_four_free_channels_per_card_and_licenses_for_the_rest():
    core = build(release="4.2", vcm=["vcm32", "vcm64"])
    assert core.vcm.effective == 8
    core = build(release="4.2", vcm=["vcm32", "vcm64"], licenses=keys(("ip500_vcm_channels", 20)))
    assert core.vcm.effective == 28
    core = build(release="4.2", vcm=["vcm32"], licenses=keys(("ip500_vcm_channels", 100)))
    assert core.vcm.effective == 32  # never more than the card has
    assert build(release="6.0", vcm=["vcm32", "vcm64"]).vcm.effective == 96  # R6: no license needed


def test_ip400_modules_in_an_ip500_are_not_channel_licensed():
    assert build(release="4.2", vcm=["ip400_vcm10"]).vcm.effective == 10


def test_soe_has_its_vcm_built_in():
    core = build(release="4.2", model="soe")
    assert core.vcm.effective == 16


def test_combination_cards_are_r6_hardware():
    with pytest.raises(ValueError, match="not supported by release 4.2"):
        build(release="4.2", vcm=["combo"])
    with pytest.raises(ValueError, match="does not fit a IP406 V2"):
        build(release="4.2", model="IP406 V2", vcm=["vcm32"])


# -- voicemail ---------------------------------------------------------------------------------

def vm_unit(*extra_keys, **kw):
    core = build(licenses=keys(("voicemail_pro", 1), *extra_keys), users=[user("201"), user("202", "9620")],
                 vcm=["vcm32"], voicemail={}, **kw)
    core.registrar.register("202", T0)
    return core


def test_voicemail_pro_base_license_enables_the_server_with_four_ports():
    core = vm_unit()
    assert core.voicemail_running
    for i in range(4):
        assert core.calls.offer(i, "201", "voicemail", T0).accepted
    decision = core.calls.offer(9, "201", "voicemail", T0)
    assert (decision.reason, decision.detail) == (R.LICENSE_EXHAUSTED, "voicemail_pro_ports")


def test_additional_ports_add_to_the_base_four():
    core = vm_unit(("voicemail_pro_additional_ports", 2))
    assert core.engine.pool("voicemail_pro_ports").effective == 6


def test_ip_phone_to_voicemail_uses_a_vcm_channel_and_analog_does_not():
    core = vm_unit()
    core.calls.offer(1, "202", "voicemail", T0)
    assert core.vcm.in_use == 1
    core.calls.offer(2, "201", "voicemail", T0)
    assert core.vcm.in_use == 1


def test_without_voicemail_pro_the_server_runs_as_voicemail_lite():
    """"These Lite versions of applications do not require any additional licensing, but
    upgrades to Pro versions ... will need additional IP Office licenses" [S1]: a server with
    no Voicemail Pro license still answers, with the Lite level's sessions (2: an assumption)."""
    core = build(users=[user("201"), user("202"), user("203")], voicemail={})
    assert core.voicemail_mode == "lite" and core.voicemail_running
    assert [core.calls.offer(i, ext, "voicemail", T0).accepted for i, ext in enumerate(("201", "202", "203"))] \
        == [True, True, False]
    assert core.calls.offer(9, "203", "voicemail", T0).detail == "voicemail_pro_ports"
    assert core.engine.pool("voicemail_pro_ports").free == 2


def test_embedded_voicemail_needs_no_license_on_the_units_that_have_it():
    core = build(users=[user("201"), user("202"), user("203")], voicemail={"type": "embedded"},
                 licenses=keys(("voicemail_pro", 1)))
    assert core.voicemail_mode == "embedded"
    assert in_use(core, "voicemail_pro") == 0 and in_use(core, "voicemail_pro_ports") == 0  # no server: unused
    assert [core.calls.offer(i, e, "voicemail", T0).accepted for i, e in enumerate(("201", "202", "203"))] \
        == [True, True, False]
    assert in_use(core, "embedded_voicemail_ports") == 2
    with pytest.raises(ValueError, match="a IP412 has no embedded voicemail"):
        build(model="IP412", voicemail={"type": "embedded"})


def test_no_voicemail_configured_means_no_voicemail():
    core = build(users=[user("201")])
    assert not core.voicemail_running
    assert core.calls.offer(1, "201", "voicemail", T0).reason is R.VOICEMAIL_NOT_RUNNING


def test_calls_need_two_different_known_parties():
    core = sip_unit()
    with pytest.raises(ValueError, match="two different parties"):
        core.calls.offer(1, "201", "201", T0)
    with pytest.raises(LookupError, match="no extension, trunk or line named '999'"):
        core.calls.offer(1, "201", "999", T0)
    core.calls.offer(1, "201", "204", T0)
    with pytest.raises(ValueError, match="already in use"):
        core.calls.offer(1, "sip1", "204", T0)
    assert in_use(core, "sip_trunk_channels") == 0  # the duplicate was rolled back
    with pytest.raises(LookupError, match="no active call"):
        core.calls.hang_up("nope", T0)


# -- busy extensions and hunt groups ---------------------------------------------------------

def test_an_analog_extension_takes_one_call_and_an_ip_phone_three():
    """Call appearances (hardware.yaml, assumptions): an analog phone holds one call; phones
    with buttons get three by default. A call beyond is refused extension_busy, which is not
    a license refusal, and nothing is taken for it."""
    core = sip_unit(licensed=20, users=[user("201", call_appearances=None), user("202", "9620", call_appearances=None)])
    assert core.calls.offer(1, "sip1", "201", T0).accepted
    busy = core.calls.offer(2, "sip1", "201", T0)
    assert (busy.reason, busy.detail) == (R.EXTENSION_BUSY, "ext:201")
    assert in_use(core, "sip_trunk_channels") == 1 and in_use(core, "trunk:sip1") == 1
    assert [core.calls.offer(10 + i, "sip1", "202", T0).accepted for i in range(4)] == [True, True, True, False]
    core.calls.hang_up(1, T0 + 60)
    assert core.calls.offer(3, "sip1", "201", T0 + 60).accepted


def test_one_analog_extension_no_longer_carries_thousands_of_calls():
    core = sip_unit(licensed=100, trunk_channels=100, vcm=("vcm64", "vcm64"), users=[user("201", call_appearances=None)])
    admitted = sum(core.calls.offer(i, "sip1", "201", T0).accepted for i in range(1000))
    assert admitted == 1 and core.calls.rejections[("extension_busy", "ext:201")] == 999


@pytest.mark.parametrize(("hunting", "expected"), [("sequential", ["201", "202", "201"]),
                                                   ("rotary", ["201", "202", "203"])])
def test_hunt_groups_ring_the_first_free_member(hunting, expected):
    members = [user(e, call_appearances=None) for e in ("201", "202", "203")]
    core = sip_unit(licensed=20, users=members,
                    groups=[{"name": "sales", "extension": "500", "members": ["201", "202", "203"], "hunting": hunting}])
    assert core.calls.offer(1, "sip1", "500", T0).accepted and core.calls.reached(1) == "201"
    assert core.calls.offer(2, "sip1", "500", T0).accepted and core.calls.reached(2) == "202"
    core.calls.hang_up(1, T0 + 1)
    assert core.calls.offer(3, "sip1", "500", T0 + 1).accepted
    assert [core.calls.reached(c) for c in (1, 2, 3) if c in core.calls.active] == expected[1:]
    assert core.calls.reached(3) == expected[2]


def test_hunting_passes_over_unregistered_members_and_the_caller():
    """A member takes a call from its group only if it is registered (IP phones) and not the
    caller; with nobody left, the call is refused extension_busy."""
    phones = [user(e, "9620", call_appearances=None) for e in ("301", "302", "303")]
    core = sip_unit(licensed=20, users=phones, more_keys=keys(("avaya_ip_endpoints", 2)),
                    groups=[{"name": "desk", "extension": "500", "members": ["301", "302", "303"]}])
    assert core.registrar.register("302", T0).accepted and core.registrar.register("303", T0).accepted
    assert core.calls.offer(1, "sip1", "500", T0).accepted and core.calls.reached(1) == "302"
    assert core.calls.offer(2, "302", "500", T0).accepted and core.calls.reached(2) == "303"
    core.registrar.unregister("303", T0)
    assert core.calls.offer(3, "302", "500", T0).accepted is False  # 301 and 303 unregistered, 302 calls
    assert core.calls.rejections[("extension_busy", "500")] == 1


def test_a_hunt_group_with_every_member_busy_refuses_extension_busy():
    core = sip_unit(licensed=20, users=[user("201", call_appearances=None), user("202", "9620", call_appearances=None)],
                    groups=[{"name": "sales", "extension": "500", "members": ["201", "202"]}])
    assert sum(core.calls.offer(i, "sip1", "500", T0).accepted for i in range(4)) == 4  # 1 + 3 appearances
    refused = core.calls.offer(9, "sip1", "500", T0)
    assert (refused.reason, refused.detail) == (R.EXTENSION_BUSY, "500")
    core.registrar.unregister("202", T0 + 1)  # an unregistered member takes no calls
    with pytest.raises(ValueError, match="hunt group cannot make calls"):
        core.calls.offer(10, "500", "201", T0 + 1)

"""Licenses changing mid-run, and Small Community Networks of several units."""

from __future__ import annotations

from emulator.config import UnitConfig
from emulator.reasons import Reason
from emulator.rules import UnitCore, hang_up_scn_call, offer_scn_call
from tests.conftest import OTHER_SERIAL, SERIAL, T0
from tests.rules.helpers import AUTHORITY, build, in_use, keys, sip, user

R = Reason
DAY = 86_400
GRACE = 7200


def test_a_trial_expiring_mid_run_stops_new_calls_but_not_calls_up():
    issued = int(T0) - 59 * DAY
    core = build(licenses=keys(("sip_trunk_channels", 5, {"trial": True, "issued_at": issued})),
                 trunks=[sip()], users=[user("201")], vcm=["vcm32"])
    end = issued + 60 * DAY
    assert core.next_deadline() == end
    assert core.calls.offer("up", "sip1", "201", end - 1).accepted
    refused = core.calls.offer("late", "sip1", "201", end)
    assert (refused.reason, refused.detail) == (R.LICENSE_EXPIRED, "sip_trunk_channels")
    assert in_use(core, "sip_trunk_channels") == 1  # the call in progress keeps its channel
    core.calls.hang_up("up", end + 100)
    assert in_use(core, "sip_trunk_channels") == 0


def test_feature_key_pulled_and_returned_mid_run():
    core = build(licenses=keys(("sip_trunk_channels", 5)), trunks=[sip()], users=[user("201")], vcm=["vcm32"])
    core.feature_key_lost(T0 + 10)
    assert core.calls.offer(1, "sip1", "201", T0 + 10 + GRACE - 1).accepted  # grace period
    assert core.calls.offer(2, "sip1", "201", T0 + 10 + GRACE).reason is R.FEATURE_KEY_ABSENT
    core.feature_key_read(SERIAL, T0 + 10 + GRACE + 60)
    assert core.calls.offer(3, "sip1", "201", T0 + 10 + GRACE + 60).accepted


def test_another_units_feature_key_leaves_everything_invalid():
    core = build(licenses=keys(("sip_trunk_channels", 5)), trunks=[sip()], users=[user("201")], vcm=["vcm32"])
    core.feature_key_lost(T0 + 1)
    core.feature_key_read(OTHER_SERIAL, T0 + 2)
    assert core.calls.offer(1, "sip1", "201", T0 + 2).reason is R.LICENSE_INVALID


def test_voicemail_pro_falls_back_to_lite_when_its_license_goes():
    core = build(licenses=keys(("voicemail_pro", 1), ("voicemail_pro_additional_ports", 4)), users=[user("201")],
                 voicemail={}, grace_period_s=0)
    assert core.voicemail_mode == "pro" and core.engine.pool("voicemail_pro_ports").effective == 8
    core.feature_key_lost(T0 + 5)
    assert core.voicemail_mode == "lite" and core.engine.pool("voicemail_pro_ports").effective == 2
    assert core.calls.offer(1, "201", "voicemail", T0 + 5).accepted
    names = [e.name for e in core.take_events()]
    assert "voicemail_pro_server.stopped" in names and "voicemail_lite.running" in names


def test_licenses_over_capacity_do_not_work_at_runtime():
    users = [user(str(200 + i)) for i in range(20)]
    core = build(licenses=keys(("sip_trunk_channels", 200)), trunks=[sip(channels=200)], users=users,
                 groups=[{"name": "all", "extension": "500", "members": [u["extension"] for u in users]}],
                 vcm=["vcm64", "vcm64"])
    assert sum(core.calls.offer(i, "sip1", "500", T0).accepted for i in range(130)) == 128
    assert core.calls.offer(999, "sip1", "500", T0).reason is R.CAPACITY_REACHED


def test_installing_a_license_mid_run_takes_effect_at_once():
    core = build(trunks=[sip()], users=[user("201")], vcm=["vcm32"])
    assert core.calls.offer(1, "sip1", "201", T0).reason is R.NOT_LICENSED
    core.install_license(keys(("sip_trunk_channels", 1))[0], T0 + 1)
    assert core.calls.offer(2, "sip1", "201", T0 + 1).accepted


# -- Small Community Network ---------------------------------------------------------------------

def scn_unit(name: str, serial: str, peer: str, *, model: str = "IP500", licenses=(), users=(), voicemail=None):
    config = UnitConfig(name=name, model=model, feature_key=f"virtual:{serial}", licenses=list(licenses),
                        users=list(users), vcm_modules=[{"type": "vcm32"}] if model == "IP500" else [{"type": "ip400_vcm10"}],
                        trunks=[{"name": f"to-{peer}", "type": "h323_scn", "peer": peer, "channels": 20}],
                        voicemail=voicemail)
    core = UnitCore(config, AUTHORITY, now=T0)
    core.feature_key_read(serial, T0)
    return core


def two_sites(*, b_licenses=None, a_model="IP500", b_model="IP500"):
    a = scn_unit("a", "10000001", "b", model=a_model,
                 licenses=keys(("ip500_voice_networking", 4), serial="10000001") if a_model == "IP500" else [],
                 users=[user("201", "9620"), user("202", "analog")])
    b_keys = keys(("ip500_voice_networking", 4), serial="10000002") if b_licenses is None else b_licenses
    b = scn_unit("b", "10000002", "a", model=b_model, licenses=b_keys if b_model == "IP500" else [],
                 users=[user("301", "9620"), user("302", "analog")])
    for core, ext in ((a, "201"), (b, "301")):
        core.registrar.register(ext, T0)
    return {"a": a, "b": b}


def test_a_key_of_one_unit_never_validates_on_another():
    units = two_sites(b_licenses=keys(("ip500_voice_networking", 4), serial="10000001"))  # a's key on b
    assert units["b"].engine.licenses()[0].status.value == "Invalid"


def test_scn_calls_need_voice_networking_at_both_ends():
    units = two_sites()
    decision, where = offer_scn_call(units, "x", "a", "202", "b", "302", T0)
    assert decision.accepted and where == "b"
    assert in_use(units["a"], "ip500_voice_networking") == 1 and in_use(units["b"], "ip500_voice_networking") == 1
    hang_up_scn_call(units, "x", "a", "b", T0 + 60)
    assert in_use(units["a"], "ip500_voice_networking") == 0 and in_use(units["b"], "ip500_voice_networking") == 0


def test_refused_at_the_far_end_rolls_back_the_near_end():
    units = two_sites(b_licenses=[])
    decision, where = offer_scn_call(units, "x", "a", "202", "b", "302", T0)
    assert (decision.reason, decision.detail, where) == (R.NOT_LICENSED, "ip500_voice_networking", "b")
    assert in_use(units["a"], "ip500_voice_networking") == 0 and units["a"].vcm.in_use == 0
    assert units["a"].calls.admitted == 0 and not units["a"].calls.active


def test_scn_vcm_follows_each_units_local_parties():
    units = two_sites()
    offer_scn_call(units, "x", "a", "202", "b", "301", T0)  # analog at a, IP phone (g711) at b
    assert units["a"].vcm.in_use == 1   # analog <-> H.323 line
    assert units["b"].vcm.in_use == 0   # line <-> IP phone, same codec: direct


def test_ip406_needs_no_voice_networking_license():
    units = two_sites(a_model="IP406 V2", b_model="IP406 V2")
    decision, _ = offer_scn_call(units, "x", "a", "202", "b", "302", T0)
    assert decision.accepted


def test_no_line_between_units():
    units = two_sites()
    units["c"] = scn_unit("c", "10000003", "a", users=[user("401")])
    decision, where = offer_scn_call(units, "x", "b", "302", "c", "401", T0)
    assert (decision.reason, where) == (R.NO_SCN_ROUTE, "b")

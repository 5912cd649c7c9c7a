"""Applications (Phone Manager, SoftConsole, CCC clients) and configured features (seed, [S24]-[S27])."""

from __future__ import annotations

import pytest

from emulator.reasons import Reason
from tests.conftest import T0
from tests.rules.helpers import build, in_use, keys, user

R = Reason


def test_phone_manager_pro_takes_a_license_while_running_else_runs_as_lite():
    core = build(users=[user("201", phone_manager="pro", name="ann"), user("202", phone_manager="pro", name="bob")],
                 licenses=keys(("phone_manager_pro", 1)))
    assert core.applications.start("phone_manager", "ann", T0).outcome == "started"
    fallback = core.applications.start("phone_manager", "bob", T0)
    assert (fallback.accepted, fallback.outcome, fallback.reason) == (True, "fallback", R.LICENSE_EXHAUSTED)
    assert core.applications.modes[("phone_manager", "bob")] == "lite"
    core.applications.stop("phone_manager", "ann", T0 + 1)
    assert in_use(core, "phone_manager_pro") == 0
    core.applications.stop("phone_manager", "bob", T0 + 1)
    assert core.applications.start("phone_manager", "bob", T0 + 2).outcome == "started"


def test_lite_mode_needs_no_license():
    core = build(users=[user("201", name="ann")])
    assert core.applications.start("phone_manager", "ann", T0).outcome == "started"


def test_pc_softphone_mode_needs_both_its_licenses():
    """[S1]: Phone Manager "can run in Phone Manager Lite, Phone Manager Pro or Phone Manager Pro
    PC Softphone modes ... requires an instance of the appropriate license or licenses"; the
    licenses are Phone Manager Pro and Phone Manager Pro IP Audio Enabled."""
    core = build(users=[user("201", phone_manager="pro_pc_softphone", name="ann")],
                 licenses=keys(("phone_manager_pro", 5), ("phone_manager_pro_ip_audio_enabled", 1)))
    assert core.applications.start("phone_manager", "ann", T0).outcome == "started"
    assert in_use(core, "phone_manager_pro") == 1 and in_use(core, "phone_manager_pro_ip_audio_enabled") == 1
    core = build(users=[user("201", phone_manager="pro_pc_softphone", name="ann")], licenses=keys(("phone_manager_pro", 5)))
    assert core.applications.start("phone_manager", "ann", T0).outcome == "fallback"
    assert in_use(core, "phone_manager_pro") == 0


def test_the_fifth_softconsole_is_refused():
    users = [user(str(201 + i), name=f"op{i}", softconsole=True) for i in range(5)] + [user("300", name="clerk")]
    core = build(users=users, licenses=keys(("softconsole", 5)))
    results = [core.applications.start("softconsole", f"op{i}", T0) for i in range(5)]
    assert [r.accepted for r in results] == [True] * 4 + [False]
    assert (results[4].reason, results[4].detail) == (R.CAPACITY_REACHED, "softconsole")
    assert core.applications.start("softconsole", "clerk", T0).reason is R.NOT_CONFIGURED
    assert core.applications.start("softconsole", "op0", T0).reason is R.ALREADY_RUNNING


def test_ccc_clients_need_the_delta_server_and_share_its_80_clients():
    users = [user(str(200 + i), name=f"sup{i}") for i in range(81)]
    core = build(users=users, licenses=keys(("ccc_wallboard", 100)))
    assert core.applications.start("ccc_wallboard", "sup0", T0).reason is R.DELTA_SERVER_NOT_RUNNING
    core = build(users=users, delta_server=True,
                 licenses=keys(("compact_contact_center", 1), ("ccc_wallboard", 100), ("compact_business_center", 5)))
    assert core.delta_server_running
    results = [core.applications.start("ccc_wallboard", f"sup{i}", T0) for i in range(79)]
    assert all(r.accepted for r in results)
    assert core.applications.start("compact_business_center", "sup79", T0).accepted
    refused = core.applications.start("compact_business_center", "sup80", T0)
    assert (refused.reason, refused.detail) == (R.CAPACITY_REACHED, "delta_server_clients")
    assert in_use(core, "compact_business_center") == 1


def test_unknown_application_or_user_is_an_error():
    core = build(users=[user("201", name="ann")])
    with pytest.raises(LookupError, match="unknown application"):
        core.applications.start("solitaire", "ann", T0)
    with pytest.raises(LookupError, match="no user named 'zed'"):
        core.applications.start("phone_manager", "zed", T0)


# -- configured features -------------------------------------------------------------------------

def test_mobility_goes_to_configured_users_by_extension_and_the_rest_run_without():
    users = [user("305", name="eve", mobility=True), user("1201", name="dan", mobility=True),
             user("301", name="cid", mobility=True), user("302", name="bea")]
    core = build(users=users, licenses=keys(("mobility_features", 2)))
    assert core.configured.licensed["mobility_features"] == {"cid", "eve"}  # 301, 305 before 1201


def test_mobility_follows_the_license_when_a_trial_expires():
    issued = int(T0) - 59 * 86_400
    core = build(users=[user("301", name="cid", mobility=True)],
                 licenses=keys(("mobility_features", 1, {"trial": True, "issued_at": issued})))
    assert core.configured.licensed["mobility_features"] == {"cid"}
    core.advance(issued + 60 * 86_400)
    assert core.configured.licensed["mobility_features"] == set()
    events = [e.name for e in core.take_events()]
    assert "license.expired" in events and "feature.unlicensed" in events


def test_ccc_agents_are_users_with_login_code_and_forced_login():
    users = [user("301", name="a1", login_code="1111", forced_login=True),
             user("302", name="a2", login_code="2222", forced_login=True),
             user("303", name="nolock", login_code="3333"), user("304", name="plain")]
    core = build(users=users, delta_server=True, licenses=keys(("compact_contact_center", 1), ("ccc_agent", 1)))
    assert core.configured.licensed["ccc_agent"] == {"a1"}
    no_delta = build(users=users, licenses=keys(("compact_contact_center", 1), ("ccc_agent", 5)))
    assert no_delta.configured.licensed["ccc_agent"] == set()  # no Delta Server configured


def test_license_sets_expand_into_their_licenses():
    """[S1]: "Each Unified Communications for Small Business license actually adds the matching
    number of Mobility Features, Phone Manager Pro and Phone Manager Pro IP Audio Enabled
    licenses": a user holding a set and configured for Pro PC Softphone runs it."""
    users = [user(str(400 + i), name=f"u{i}", mobility=True, phone_manager="pro_pc_softphone") for i in range(25)]
    ucsb20 = keys(("mobility_features", 20), ("phone_manager_pro", 20), ("phone_manager_pro_ip_audio_enabled", 20))
    core = build(users=users, licenses=ucsb20)
    assert len(core.configured.licensed["mobility_features"]) == 20
    started = [core.applications.start("phone_manager", f"u{i}", T0).outcome for i in range(25)]
    assert started.count("started") == 20 and started.count("fallback") == 5


def test_ip500_pri_trunks_have_eight_free_channels_and_licenses_for_more():
    trunks = [{"name": "pri1", "type": "pri", "channels": 30}, {"name": "pri2", "type": "pri", "channels": 30}]
    core = build(trunks=trunks, users=[user("201")], licenses=keys(("ip500_universal_pri_additional_channels", 30)))
    assert core.trunk_pools["pri1"].effective == 30 and core.trunk_pools["pri2"].effective == 8 + 8
    core = build(model="IP406 V2", trunks=trunks, users=[user("201")])
    assert core.trunk_pools["pri1"].effective == 30  # the PRI license is an IP500 one


def test_contactstore_is_licensed_per_system_and_needs_voicemail_pro():
    """ContactStore is a Voicemail Pro application: licensed per system [S19][S22], and it
    records only with a licensed Voicemail Pro server (this unit's, or the network's central one)."""
    pro = keys(("voicemail_pro", 1), ("contactstore", 1))
    assert build(contactstore=True, voicemail={}, licenses=pro).configured.contactstore_running
    assert not build(contactstore=True, voicemail={}).configured.contactstore_running  # no license at all
    lite = build(contactstore=True, voicemail={}, licenses=keys(("contactstore", 1)))
    assert lite.voicemail_mode == "lite" and not lite.configured.contactstore_running
    assert not build(contactstore=True, licenses=keys(("contactstore", 1))).configured.contactstore_running


def test_voicemail_pro_add_ons_need_voicemail_pro():
    """The add-ons (TTS, VB Script, Database, Networked Messaging) and additional ports are
    Dormant without a valid Voicemail Pro license [S1][S37]."""
    from emulator.licensing import LicenseStatus

    add_ons = ("voicemail_pro_tts", "voicemail_pro_vb_script", "voicemail_pro_database_interface",
               "voicemail_pro_networked_messaging", "voicemail_pro_additional_ports")
    core = build(voicemail={}, licenses=keys(*[(a, 1) for a in add_ons]))
    assert {lic.status for lic in core.engine.licenses()} == {LicenseStatus.DORMANT}
    core = build(voicemail={}, licenses=keys(("voicemail_pro", 1), *[(a, 1) for a in add_ons]))
    assert {lic.status for lic in core.engine.licenses()} == {LicenseStatus.VALID}


def test_ip500_expansion_modules_need_professional_edition():
    assert not build(expansion_modules=2).configured.expansion_modules_running
    core = build(expansion_modules=2, licenses=keys(("ip500_upgrade_standard_to_professional", 1)))
    assert core.configured.expansion_modules_running
    assert build(model="IP406 V2", expansion_modules=2).configured.expansion_modules_running  # no such license there


def test_mobility_is_three_features_taking_one_instance_per_user():
    """[S1]: "Those features include Mobile Twinning, Mobile Call Control (IP500 only) and
    one-X Mobile Client (IP500 only). The license instances are consumed by a user being
    configured for any mobility feature." One instance per user, however many features."""
    users = [user("201", name="all3", mobility=["mobile_twinning", "mobile_call_control", "one_x_mobile_client"]),
             user("202", name="mcc", mobility=["mobile_call_control"]),
             user("203", name="twin", mobility=True),
             user("204", name="none")]
    for model in ("IP500", "IP500 V2"):
        core = build(model=model, users=users, licenses=keys(("mobility_features", 10)))
        assert core.configured.licensed["mobility_features"] == {"all3", "mcc", "twin"}
        assert in_use(core, "mobility_features") == 3
        assert core.configured.mobility_features["all3"] == ("mobile_twinning", "mobile_call_control",
                                                             "one_x_mobile_client")


@pytest.mark.parametrize("model", ["IP412", "IP406 V2"])
def test_ip500_only_mobility_features_are_refused_elsewhere_with_their_own_reason(model):
    users = [user("201", name="all3", mobility=["mobile_twinning", "mobile_call_control", "one_x_mobile_client"]),
             user("202", name="mcc", mobility=["mobile_call_control"])]
    from emulator.config import UnitConfig
    from emulator.rules import UnitCore
    from tests.rules.helpers import AUTHORITY

    config = UnitConfig(model=model, users=users, licenses=keys(("mobility_features", 10)))
    core = UnitCore(config, AUTHORITY, now=T0)
    rejected = [(e.data["user"], e.data["feature"], e.data["reason"]) for e in core.take_events()
                if e.name == "feature.rejected"]
    assert rejected == [("all3", "mobile_call_control", "not_supported_on_unit"),
                        ("all3", "one_x_mobile_client", "not_supported_on_unit"),
                        ("mcc", "mobile_call_control", "not_supported_on_unit")]
    core.feature_key_read("12345678", T0)
    # all3 keeps Mobile Twinning (one instance); mcc has nothing this unit runs: no instance
    assert core.configured.licensed["mobility_features"] == {"all3"}
    assert core.configured.mobility_features["all3"] == ("mobile_twinning",)
    assert in_use(core, "mobility_features") == 1

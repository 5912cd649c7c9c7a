"""The release data files: they load, say what the reference says, and reject bad data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from firmware_models import ModelDataError, available_releases, feature_codes, load_release, load_release_file
from firmware_models.loader import RELEASES_DIR

REQUIRED_LICENSES = {
    "sip_trunk_channels", "vpn_ip_extensions", "third_party_ip_endpoints", "softconsole",
    "mobility_features", "phone_manager_pro",
    "phone_manager_pro_ip_audio_enabled", "voicemail_pro", "voicemail_pro_additional_ports",
    "ip500_voice_networking", "ip500_universal_pri_additional_channels",
    "ip500_upgrade_standard_to_professional", "ip500_vcm_channels", "compact_contact_center", "ccc_agent",
}


def test_both_required_releases_exist():
    assert {"4.2", "6.0"} <= set(available_releases())


@pytest.mark.parametrize("version", ["4.2", "6.0"])
def test_every_seed_license_is_catalogued(version):
    ids = {lic.id for lic in load_release(version).licenses}
    assert REQUIRED_LICENSES <= ids


def test_control_units_per_release(r42, r60):
    assert {u.id for u in r42.control_units} == {"ip500", "ip406_v2", "ip412", "soe"}
    assert {u.id for u in r60.control_units} == {"ip500", "ip500_v2", "ip406_v2", "ip412"}


@pytest.mark.parametrize(("version", "unit", "capacity", "value"), [
    ("4.2", "IP500", "extensions", 272),
    ("6.0", "IP500", "extensions", 384),
    ("6.0", "IP500 V2", "extensions", 384),
    ("4.2", "IP500", "vcm_channels", 128),
    ("6.0", "IP500 V2", "vcm_channels", 148),
    ("4.2", "IP406 V2", "extensions", 190),
    ("4.2", "IP406 V2", "vcm_channels", 30),
    ("4.2", "IP412", "extensions", 360),
    ("4.2", "IP412", "vcm_channels", 60),
    ("4.2", "Small Office Edition", "extensions", 28),
    ("4.2", "soe", "ip_extensions", 16),
    ("4.2", "IP500", "softconsoles", 4),
    ("4.2", "IP500", "scn_systems", 16),
    ("6.0", "IP500", "scn_systems", 32),
    ("6.0", "IP500", "scn_users", 1000),
    ("6.0", "IP500 V2", "voicemail_channels", 40),
    ("6.0", "IP500", "delta_server_clients", 80),
])
def test_capacities_match_the_reference(version, unit, capacity, value):
    assert load_release(version).unit(unit).capacity(capacity) == value


def test_release_six_changes(r42, r60):
    assert not r42.license("vpn_ip_extensions").obsolete_for("ip500")
    # From 6.0, VPN phones on an IP500 or IP500 V2 are Avaya IP endpoints [S8]; elsewhere not
    assert r60.license("vpn_ip_extensions").obsolete_for("ip500")
    assert r60.license("vpn_ip_extensions").obsolete_for("ip500_v2")
    assert not r60.license("vpn_ip_extensions").obsolete_for("ip412")
    assert not r42.license("ip500_vcm_channels").obsolete
    assert r60.license("ip500_vcm_channels").obsolete
    assert "avaya_ip_endpoints" not in r42.licenses_by_id()
    assert r60.license("channel_migration").pool_grants() == {"avaya_ip_endpoints": 3}


def test_voicemail_pro_base_gives_four_ports(r60):
    assert r60.license("voicemail_pro").pool_grants() == {"voicemail_pro": 1, "voicemail_pro_ports": 4}
    assert r60.license("voicemail_pro_additional_ports").requires == ["voicemail_pro"]


@pytest.mark.parametrize("size", [20, 25, 30, 50])
def test_ucsb_sets_expand_to_three_licenses(r60, size):
    assert r60.license_set(f"ucsb_{size}").expands_to == {
        "mobility_features": size, "phone_manager_pro": size, "phone_manager_pro_ip_audio_enabled": size}


def test_ip500_licenses_only_on_ip500_family(r60):
    for lic in r60.licenses:
        if lic.category == "ip500":
            assert lic.control_units == ["ip500", "ip500_v2"], lic.id
            assert not lic.supported_on("ip406_v2")


def test_trial_period_and_grace_are_data(r42, r60):
    for rel in (r42, r60):
        assert rel.feature_key.trial_days.value == 60
        assert rel.feature_key.grace_period_s.assumption  # our choice, and marked as one


def test_unit_lookup_is_forgiving_but_strict(r60):
    assert r60.unit("ip500v2").id == "ip500_v2"
    assert r60.unit("IP500-V2").id == "ip500_v2"
    with pytest.raises(LookupError, match="unknown control unit 'IP600'"):
        r60.unit("IP600")


def test_feature_codes_are_unique_and_cover_every_license():
    codes = feature_codes()
    assert len(set(codes.by_id.values())) == len(codes.by_id)
    for version in available_releases():
        for lic in load_release(version).licenses:
            assert lic.id in codes.by_id


def test_assumptions_doc_is_up_to_date():
    from emulator.cli.models_cmd import all_assumptions, assumptions_markdown

    entries = all_assumptions()
    doc = Path(__file__).resolve().parents[2] / "docs" / "assumptions.md"
    assert doc.read_text(encoding="utf-8") == assumptions_markdown(entries), (
        "docs/assumptions.md is stale: run ipo-emu models assumptions --markdown > docs/assumptions.md")


# -- the schema rejects bad data with a message naming where --------------------------

def _mutated(tmp_path: Path, change) -> Path:
    data = yaml.safe_load((RELEASES_DIR / "6.0.yaml").read_text())
    change(data)
    path = tmp_path / "6.0.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["control_units"][0]["capacities"]["extensions"].pop("source"), "exactly one of 'source' or 'assumption'"),
    (lambda d: d["licenses"][0].update(grants={"no_such_pool": 1}), "unknown pool 'no_such_pool'"),
    (lambda d: d["licenses"][1].update(requires=["nothing_like_it"]), "unknown license 'nothing_like_it'"),
    (lambda d: d["pools"]["softconsole"].update(capped_by="warp_drives"), "no capacity 'warp_drives'"),
    (lambda d: d["licenses"][0].update(colour="blue"), "colour: Extra inputs are not permitted"),
    (lambda d: d["control_units"][0]["capacities"]["extensions"].update(value=-1), "greater than or equal to 0"),
    (lambda d: d["license_sets"][0]["expands_to"].update(bogus=3), "unknown license 'bogus'"),
    (lambda d: d["licenses"].append(dict(d["licenses"][0])), "duplicate license id"),
])
def test_schema_rejects_bad_data(tmp_path, change, message):
    with pytest.raises(ModelDataError, match=message):
        load_release_file(_mutated(tmp_path, change))


def test_yaml_syntax_error_names_the_line(tmp_path):
    bad = tmp_path / "9.9.yaml"
    bad.write_text("release: '9.9'\ncontrol_units: [\n")
    with pytest.raises(ModelDataError, match=r"9.9.yaml line \d+: invalid YAML"):
        load_release_file(bad)


def test_unknown_release_is_a_clear_error():
    with pytest.raises(ModelDataError, match="no data for release '9.9'"):
        load_release("9.9")


def test_a_license_is_either_used_by_a_runtime_rule_or_marked_not_enforced():
    """No Valid status may be read as behaviour that is not modelled: every license whose
    pools no rule names is marked `enforced: false`, and no marked license's pool is used."""
    rules = "\n".join(p.read_text(encoding="utf-8")
                      for p in (Path(__file__).resolve().parents[2] / "emulator" / "rules").glob("*.py"))
    for version in available_releases():
        release = load_release(version)
        named = {release.endpoints.avaya_ip_pool, release.endpoints.vpnremote_pool, release.vcm.ip500_license_pool}
        for lic in release.licenses:
            used = [pool for pool in lic.pool_grants() if f'"{pool}"' in rules or pool in named]
            if lic.obsolete:
                continue  # Obsolete everywhere in this release: nothing to enforce
            if lic.enforced:
                assert used, f"{version} {lic.id}: no rule uses it; mark it enforced: false"
            else:
                assert not used, f"{version} {lic.id}: marked not enforced, but {used} are used"
    r60 = load_release("6.0")
    assert {lic.id for lic in r60.licenses if not lic.enforced} == {
        "voicemail_pro_tts", "voicemail_pro_networked_messaging", "voicemail_pro_vb_script",
        "voicemail_pro_database_interface", "ums_web_services", "cti_link_pro", "tapi_wav"}


def test_models_show_and_reports_say_catalogued_not_enforced(capsys, tmp_path):
    import asyncio
    import json as json_

    from emulator.cli import main
    from emulator.scenario.loader import load_scenario
    from emulator.scenario.runner import ScenarioRunner

    assert main(["models", "show", "IP500", "--json"]) == 0
    shown = {lic["id"]: lic for lic in json_.loads(capsys.readouterr().out)["licenses"]}
    assert shown["tapi_wav"]["availability"] == "catalogued, not enforced"
    assert shown["sip_trunk_channels"]["availability"] == "supported"
    path = tmp_path / "s.yaml"
    path.write_text("name: t\nduration: 1m\nunits: [{name: u, licenses: [{feature: cti_link_pro}, "
                    "{feature: softconsole}]}]\nexpect: [{license: {feature: cti_link_pro}, status: Valid}]\n")
    data = asyncio.run(ScenarioRunner(load_scenario(path)).run()).data
    enforced = {lic["feature"]: lic["enforced"] for lic in data["units"][0]["licenses"]}
    assert enforced == {"cti_link_pro": False, "softconsole": True}

"""Everything under scenarios/ runs in the suite and says what its comments promise."""

from __future__ import annotations

import json
from pathlib import Path

from emulator.cli import main

ROOT = Path(__file__).resolve().parents[1]
STARTER = ROOT / "scenarios" / "license-plans" / "ip500-starter.keys"


def test_starter_plan_shows_every_status_and_the_caps(capsys, monkeypatch):
    monkeypatch.delenv("IPO_EMU_ISSUER_SECRET", raising=False)
    code = main(["unit", "status", "--licenses-file", str(STARTER), "--at", "2026-12-01T00:00:00Z", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    statuses = {(lic["feature"], lic["status"]) for lic in data["licenses"]}
    assert {("ccc_agent", "Dormant"), ("third_party_ip_endpoints", "Expired"), ("vpn_ip_extensions", "Obsolete"),
            ("sip_trunk_channels", "Invalid"), ("sip_trunk_channels", "Valid")} <= statuses
    pools = {p["pool"]: p for p in data["pools"]}
    assert (pools["sip_trunk_channels"]["effective"], pools["sip_trunk_channels"]["refusal_reason"]) == (128, "capacity_reached")
    assert (pools["softconsole"]["effective"], pools["softconsole"]["refusal_reason"]) == (4, "capacity_reached")
    assert pools["voicemail_pro_ports"]["effective"] == 8
    for pool in ("mobility_features", "phone_manager_pro", "phone_manager_pro_ip_audio_enabled"):
        assert pools[pool]["effective"] == 20


def test_the_trial_in_the_starter_plan_was_valid_the_second_before(capsys):
    main(["unit", "status", "--licenses-file", str(STARTER), "--at", "2026-11-29T23:59:59Z", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert ("third_party_ip_endpoints", "Valid") in {(lic["feature"], lic["status"]) for lic in data["licenses"]}


def test_every_file_under_scenarios_is_covered():
    """YAML scenarios run in tests/scenario/; anything else needs a test of its own here."""
    shipped = {p.relative_to(ROOT).as_posix() for p in (ROOT / "scenarios").rglob("*")
               if p.is_file() and (p.suffix != ".yaml" or p.parent.name != "scenarios")}
    assert shipped == {"scenarios/README.md", "scenarios/license-plans/ip500-starter.keys",
                       "scenarios/smdr/example-site.csv",  # replayed by replay-smdr-history.yaml
                       "scenarios/serve/sip-office.yaml"}, (  # served with SIPp by tests/sip/test_readme_sip.py
        "a new file under scenarios/ needs a test that runs it")

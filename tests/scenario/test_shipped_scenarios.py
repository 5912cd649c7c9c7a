"""Every scenario under scenarios/ runs, and its expectations hold."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from emulator.scenario.loader import load_scenario
from emulator.scenario.runner import ScenarioRunner

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def test_there_is_a_scenario_for_every_seed_section():
    names = {p.stem for p in SCENARIOS}
    for needed in ("phone-manager-lite-fallback", "voicemail-pro-ports", "softconsole-fifth-refused", "mobility",
                   "third-party-endpoints", "vpn-phones", "sip-trunks-and-vcm", "ip500-licenses",
                   "trial-expiry-day-60", "license-sets", "compact-contact-center", "lost-feature-key-and-exchange",
                   "licenses-over-capacity", "example1-ip500-scn", "example2-voicemail-pro-scn",
                   "example3-contactstore-scn"):
        assert needed in names


def test_every_scenario_is_indexed():
    index = (ROOT / "scenarios" / "README.md").read_text(encoding="utf-8")
    for path in SCENARIOS:
        assert f"({path.name})" in index, f"{path.name} is missing from scenarios/README.md"


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_expectations_hold(path):
    loaded = load_scenario(path)
    assert loaded.scenario.expect, "a shipped scenario must say what it expects"
    result = asyncio.run(ScenarioRunner(loaded).run())
    failed = [f"{e.text}: {e.actual} (expected {e.expected})" for e in result.expectations if not e.ok]
    assert not failed, failed


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_traffic_source_says_what_it_is_for_and_is_not_silently_all_refused(path):
    """A broken path must not pass quietly: each traffic source is named by an expectation
    (what it should admit, or which reason should refuse it), and one whose every attempt
    is refused must say that this is intended (all_refused: true)."""
    loaded = load_scenario(path)
    named = {getattr(getattr(e, e.kind), "traffic", None) for e in loaded.scenario.expect}
    for traffic in loaded.scenario.traffic:
        assert traffic.name in named, f"traffic {traffic.name} has no expectation"
    result = asyncio.run(ScenarioRunner(loaded).run())
    assert result.data["warnings"] == []
    for traffic in result.data["traffic"]:
        assert traffic["attempts"] > 0, f"traffic {traffic['name']} offered nothing"

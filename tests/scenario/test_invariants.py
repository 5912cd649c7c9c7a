"""The invariants every run checks at its end catch a broken admission and a leak, and fail the
run; every shipped scenario keeps them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from emulator.cli import main
from emulator.scenario.loader import load_scenario
from emulator.scenario.runner import ScenarioRunner
from tests import faults

ROOT = Path(__file__).resolve().parents[2]
SIP = ROOT / "scenarios" / "sip-trunks-and-vcm.yaml"


def test_a_shipped_run_keeps_every_invariant():
    data = asyncio.run(ScenarioRunner(load_scenario(SIP)).run()).data
    assert data["invariants"] == {"units_checked": 1, "violations": []}


def test_an_admission_past_the_limit_is_caught_and_fails_the_run(monkeypatch, capsys):
    faults.ignore_limits(monkeypatch)
    result = asyncio.run(ScenarioRunner(load_scenario(SIP)).run())
    violations = result.data["invariants"]["violations"]
    assert any("sip_trunk_channels peaked at" in v and "above the highest limit it had (30)" in v for v in violations)
    assert not result.passed and not result.data["passed"]
    assert main(["run", str(SIP)]) == 1
    assert "invariant" in capsys.readouterr().err


def test_a_leak_is_caught(monkeypatch):
    faults.forget_trunk_channels(monkeypatch)
    data = asyncio.run(ScenarioRunner(load_scenario(SIP)).run()).data
    assert any("trunk:sip1 has" in v and "leaked" in v for v in data["invariants"]["violations"])


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_scenario_keeps_the_invariants(path):
    data = asyncio.run(ScenarioRunner(load_scenario(path)).run()).data
    assert data["invariants"]["violations"] == []

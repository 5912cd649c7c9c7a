"""The invariants every run checks at its end catch a broken admission and a leak, and fail the
run; every shipped scenario keeps them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import emulator.rules.calls as calls
from emulator.cli import main
from emulator.licensing.pool import take_all
from emulator.scenario.loader import load_scenario
from emulator.scenario.runner import ScenarioRunner

ROOT = Path(__file__).resolve().parents[2]
SIP = ROOT / "scenarios" / "sip-trunks-and-vcm.yaml"


def ignore_limits(pools, now, commit=True):
    """A broken admission (the test double): takes every pool, whatever its limit."""
    for pool in pools:
        pool.in_use += 1
        pool.time_sum -= now
        pool.peak = max(pool.peak, pool.in_use)
    return None


def test_a_shipped_run_keeps_every_invariant():
    data = asyncio.run(ScenarioRunner(load_scenario(SIP)).run()).data
    assert data["invariants"] == {"units_checked": 1, "violations": []}


def test_an_admission_past_the_limit_is_caught_and_fails_the_run(monkeypatch, capsys):
    monkeypatch.setattr(calls, "take_all", ignore_limits)
    result = asyncio.run(ScenarioRunner(load_scenario(SIP)).run())
    violations = result.data["invariants"]["violations"]
    assert any("sip_trunk_channels peaked at" in v and "above the highest limit it had (30)" in v for v in violations)
    assert not result.passed and not result.data["passed"]
    assert main(["run", str(SIP)]) == 1
    assert "invariant" in capsys.readouterr().err


def test_a_leak_is_caught(monkeypatch):
    real_give_all = calls.give_all

    def forget_the_trunk(pools, now):  # gives back all but the line's channel
        real_give_all(tuple(p for p in pools if not p.pool_id.startswith("trunk:")), now)

    monkeypatch.setattr(calls, "give_all", forget_the_trunk)
    data = asyncio.run(ScenarioRunner(load_scenario(SIP)).run()).data
    assert any("trunk:sip1 has" in v and "leaked" in v for v in data["invariants"]["violations"])
    assert take_all  # (the real one, untouched)


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_scenario_keeps_the_invariants(path):
    data = asyncio.run(ScenarioRunner(load_scenario(path)).run()).data
    assert data["invariants"]["violations"] == []

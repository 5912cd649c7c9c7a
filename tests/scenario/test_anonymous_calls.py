"""Traffic whose calls need no ids (nobody takes events) runs them anonymously: the source
admits through the routes and keeps its calls' ends itself, running between other events.
It must decide exactly as the same traffic with named calls (events on): the same seed,
the same calls, through the same admission, with license expiry, a pulled feature key and
new licenses arriving mid-run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from emulator.scenario.loader import load_scenario
from emulator.scenario.runner import RunOptions, ScenarioRunner

ROOT = Path(__file__).resolve().parents[2]


def run(name: str, events_path: Path | None) -> tuple[dict, list[str]]:
    loaded = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    # counting events is what subscribes to them: without it the calls go anonymous
    loaded.scenario = loaded.scenario.model_copy(update={"expect": [e for e in loaded.scenario.expect if e.events is None]})
    runner = ScenarioRunner(loaded, RunOptions(events_path=events_path))
    data = asyncio.run(runner.run()).data
    paths = [source.advance.__name__ for _, source in runner.sources]
    return data, paths


def decisions(data: dict) -> dict:
    """Every figure the run's decisions make: calls by outcome and reason, each pool's peak,
    refusals and mean use, each source's attempts and blocking."""
    units = {u["name"]: {"calls": u["calls"], "pools": u["pools"], "licenses": u.get("licenses")} for u in data["units"]}
    traffic = [{k: v for k, v in t.items() if k not in ("wall_s",)} for t in data["traffic"]]
    return {"units": units, "traffic": traffic, "invariants": data["invariants"]}


@pytest.mark.parametrize("name", ["trial-expiry-day-60", "lost-feature-key-and-exchange", "busy-users-and-hunt-groups",
                                  "erlang-b-sip-trunk", "fleet-of-shops"])
def test_anonymous_calls_decide_as_named_ones(name, tmp_path):
    anonymous, anonymous_paths = run(name, None)
    named, named_paths = run(name, tmp_path / "events.jsonl")
    assert "advance" in anonymous_paths and set(named_paths) == {"_one_at_a_time"}  # both paths really taken
    assert decisions(anonymous) == decisions(named)
    assert anonymous["invariants"]["violations"] == []
    assert sum(u["calls"]["admitted"] for u in anonymous["units"]) > 100

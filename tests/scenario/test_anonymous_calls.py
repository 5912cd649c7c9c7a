"""Traffic whose calls stay on one unit runs them itself: the source admits through the
routes' own admission, keeps its calls' ends itself, running between other events, and
appends their events to the unit's sink while someone listens. It must decide exactly as
the same traffic with named calls (offer() and hang_up() on the clock): the same seed, the
same calls, through the same admission, with license expiry, a pulled feature key and new
licenses arriving mid-run; and with --events, the same events file, byte for byte."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from emulator.scenario.loader import load_scenario
from emulator.runtime import Network
from emulator.scenario.runner import RunOptions, ScenarioRunner

ROOT = Path(__file__).resolve().parents[2]


def run(name: str, events_path: Path | None, monkeypatch=None) -> tuple[dict, list[str]]:
    """The scenario's run; with monkeypatch, every call named (no unit's calls are offered to
    its sources to run themselves)."""
    loaded = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    # counting events is what subscribes to them: without it nobody listens
    loaded.scenario = loaded.scenario.model_copy(update={"expect": [e for e in loaded.scenario.expect if e.events is None]})
    if monkeypatch is not None:
        monkeypatch.setattr(Network, "anonymous_calls", lambda self, unit, parties: None)
    runner = ScenarioRunner(loaded, RunOptions(events_path=events_path))
    data = asyncio.run(runner.run()).data
    if monkeypatch is not None:
        monkeypatch.undo()
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
def test_anonymous_calls_decide_as_named_ones(name, tmp_path, monkeypatch):
    anonymous, anonymous_paths = run(name, None)
    named, named_paths = run(name, None, monkeypatch)
    assert "advance" in anonymous_paths and set(named_paths) == {"_one_at_a_time"}  # both paths really taken
    assert decisions(anonymous) == decisions(named)
    assert anonymous["invariants"]["violations"] == []
    assert sum(u["calls"]["admitted"] for u in anonymous["units"]) > 100
    # with --events: the same decisions, and the same events
    with_events, event_paths = run(name, tmp_path / "anonymous.jsonl")
    named_with_events, _ = run(name, tmp_path / "named.jsonl", monkeypatch)
    assert "advance" in event_paths
    assert decisions(with_events) == decisions(anonymous) == decisions(named_with_events)
    assert (tmp_path / "anonymous.jsonl").read_bytes() == (tmp_path / "named.jsonl").read_bytes()

"""A ramp's figures step by step: counts that add up to the source's, the same for any number
of workers, judged per step against Erlang-B, and refused where a step cannot be judged."""

from __future__ import annotations

import asyncio
import csv
import re
from pathlib import Path

import pytest

from emulator.cli import main
from emulator.scenario.loader import ScenarioError, load_scenario, parse_scenario
from emulator.scenario.runner import RunOptions, ScenarioRunner
from emulator.scenario.shards import run_in_shards

ROOT = Path(__file__).resolve().parents[2]
RAMP = ROOT / "scenarios" / "ramp-to-saturation.yaml"


def test_steps_add_up_to_the_source_and_do_not_depend_on_the_workers():
    loaded = load_scenario(RAMP)
    one = asyncio.run(ScenarioRunner(loaded, RunOptions()).run()).data["traffic"][0]
    steps = one["steps"]
    assert [s["step"] for s in steps] == [1, 2, 3, 4]
    assert [(s["from_s"], s["to_s"]) for s in steps] == [(0, 7200), (7200, 14400), (14400, 21600), (21600, 28800)]
    assert [s["offered_erlangs"] for s in steps] == [1.0, 2.0, 4.0, 8.0]
    for key in ("attempts", "admitted", "rejected", "busy"):
        assert sum(s[key] for s in steps) == one[key]
    assert [s["blocking"] for s in steps] == sorted(s["blocking"] for s in steps)  # more load, more blocking
    two = run_in_shards(load_scenario(RAMP, planning=True), 2, secret=None, seed=None).data["traffic"][0]
    assert two["steps"] == steps


def test_an_interrupted_ramp_reports_the_steps_it_reached(tmp_path):
    text = RAMP.read_text(encoding="utf-8").replace("duration: 8h", "duration: 5h").split("\nexpect:")[0]
    loaded = parse_scenario(text, tmp_path / "short.yaml")
    steps = asyncio.run(ScenarioRunner(loaded, RunOptions()).run()).data["traffic"][0]["steps"]
    assert [(s["step"], s["to_s"]) for s in steps] == [(1, 7200), (2, 14400), (3, 18000)]


def test_a_step_is_judged_against_erlang_b_at_its_own_load(tmp_path, capsys):
    wrong = RAMP.read_text(encoding="utf-8").replace(
        "  - blocking: {traffic: customers, step: 4}\n    erlang_b: 4", "  - blocking: {traffic: customers, step: 4}\n"
                                                                        "    erlang_b: 8")
    path = tmp_path / "wrong.yaml"
    path.write_text(wrong, encoding="utf-8")
    assert main(["run", str(path)]) == 1
    err = capsys.readouterr().err
    assert re.search(r"blocking\(traffic=customers, step=4\) was 0\.5\d+, expected Erlang-B\(8, 8\.00 E\) = 0\.2356", err)


def test_a_step_the_ramp_does_not_have_is_refused_at_its_line(tmp_path):
    text = RAMP.read_text(encoding="utf-8").replace("step: 4}", "step: 5}")
    with pytest.raises(ScenarioError, match=re.escape("bad.yaml:50: expect[3].blocking.step: traffic 'customers' "
                                                      "has 4 ramp steps")):
        parse_scenario(text, tmp_path / "bad.yaml")


def test_a_step_of_a_source_without_a_ramp_is_refused(tmp_path):
    text = (ROOT / "scenarios" / "fleet-of-shops.yaml").read_text(encoding="utf-8").replace(
        "blocking: {traffic: customers}", "blocking: {traffic: customers, step: 1}")
    with pytest.raises(ScenarioError, match="blocking.step: traffic 'customers' has no ramp"):
        parse_scenario(text, tmp_path / "bad.yaml")


def test_the_steps_csv(tmp_path, capsys):
    assert main(["load", str(RAMP), "--csv", str(tmp_path / "ramp"), "--no-console", "--json"]) == 0
    capsys.readouterr()
    with open(tmp_path / "ramp_steps.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["step"] for r in rows] == ["1", "2", "3", "4"]
    assert [float(r["offered_erlangs"]) for r in rows] == [1.0, 2.0, 4.0, 8.0]
    docs = (ROOT / "docs" / "load.md").read_text(encoding="utf-8")
    from emulator.scenario.csv_report import STEP_COLUMNS

    assert all(f"`{column}`" in docs for column in STEP_COLUMNS)

"""A run split over worker processes gives the same figures, unit by unit and in total, as one
process, for any number of workers; networks are never split."""

from __future__ import annotations

import asyncio
import json

import pytest

from emulator.cli import main
from emulator.scenario.loader import load_scenario
from emulator.scenario.runner import ScenarioRunner
from emulator.scenario.shards import plan_shards, run_in_shards
from tests.scenario.test_fleet_scenarios import FLEET

NETWORK = """
  - name: north
    feature_key: virtual:48000001
    licenses: [{feature: sip_trunk_channels, instances: 2}, {feature: ip500_voice_networking, instances: 4}]
    vcm_modules: [{type: vcm32}]
    trunks: [{name: sip1, type: sip, channels: 4}, {name: to-south, type: h323_scn, peer: south, channels: 4}]
    users: [{name: n1, extension: "301", call_appearances: 10}]
  - name: south
    feature_key: virtual:48000002
    licenses: [{feature: ip500_voice_networking, instances: 4}]
    vcm_modules: [{type: vcm32}]
    trunks: [{name: to-north, type: h323_scn, peer: north, channels: 4}]
    users: [{name: s1, extension: "401", call_appearances: 10}]
"""
TRAFFIC = """  - {name: across, unit: north, from: sip1, to: "south/401", erlangs: 1.5, holding: {mean: 2m}}
"""


def scenario(tmp_path, count: int = 9):
    text = FLEET.format(count=count).replace("events:", NETWORK + "events:", 1).replace("expect:", TRAFFIC + "expect:", 1)
    text = text.replace("traffic:\n", "traffic:\n" + TRAFFIC, 1) if TRAFFIC not in text else text
    path = tmp_path / "mixed.yaml"
    path.write_text(text)
    return load_scenario(path)


def figures(data: dict) -> dict:
    return {"units": data["units"], "traffic": data["traffic"], "expectations": data["expectations"],
            "passed": data["passed"]}


def same(a, b) -> bool:
    """Equal, counts exactly; a mean (a float) to 1e-12: sums taken in another order."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-12, abs=1e-12)
    return a == b and type(a) is type(b)


def test_shards_keep_networks_whole_and_cut_fleets_into_runs(tmp_path):
    loaded = scenario(tmp_path)
    shards = plan_shards(loaded, 3)
    assert sorted(u for s in shards for u in s) == sorted(u.name for u in loaded.units)
    together = [s for s in shards if "north" in s]
    assert len(together) == 1 and "south" in together[0]
    for shard in shards:
        copies = [u for u in shard if u.startswith("shop-")]
        numbers = [int(u[5:]) for u in copies]
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers))) if numbers else True


@pytest.mark.parametrize("workers", [2, 3])
def test_the_same_figures_for_any_number_of_workers(tmp_path, workers):
    loaded = scenario(tmp_path)
    one = asyncio.run(ScenarioRunner(loaded).run()).data
    split = run_in_shards(loaded, workers, secret=None, seed=None).data
    assert same(figures(split), figures(one))
    assert [(t["attempts"], t["admitted"], t["rejected"]) for t in split["traffic"]] == [
        (t["attempts"], t["admitted"], t["rejected"]) for t in one["traffic"]]
    assert split["workers"]["count"] == workers and one["passed"]


def test_the_command_runs_a_shipped_fleet_on_two_workers(capsys):
    assert main(["run", "scenarios/fleet-of-shops.yaml", "--workers", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["workers"]["units_per_worker"] == [100, 100] and data["passed"]


def test_workers_refuse_what_needs_one_process(capsys):
    assert main(["run", "scenarios/fleet-of-shops.yaml", "--workers", "2", "--realtime"]) == 2
    assert "--workers: runs in virtual time, without --realtime" in capsys.readouterr().err


def test_planning_checks_a_fleet_without_building_every_copy(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(FLEET.format(count=50))
    planned = load_scenario(path, planning=True)
    assert [u.name for u in planned.units] == ["shop-01", "hq"] and len(planned.unit_order) == 51
    assert planned.copies["shop"][-1] == "shop-50"
    from emulator.scenario.loader import ScenarioError

    path.write_text(FLEET.format(count=50).replace("virtual:49999999", "virtual:40000042"))
    with pytest.raises(ScenarioError, match="unit 'hq' has the serial 40000042 of a copy of fleet 'shop'"):
        load_scenario(path, planning=True)


def test_the_readme_fleet_line_is_the_one_tested_here():
    import re
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    (line,) = re.search(r"## Fleets\n\n```sh\n(.*?)```", readme, re.S).group(1).strip().splitlines()
    assert shlex.split(line.split("  #")[0]) == ["ipo-emu", "run", "scenarios/fleet-of-shops.yaml", "--workers", "2"]

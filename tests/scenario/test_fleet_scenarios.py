"""Fleets in one scenario: thousands of standalone units, several networks side by side, and
the same results run after run under a seed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from emulator.scenario.loader import load_scenario
from emulator.scenario.runner import ScenarioRunner


def unit(name: str, serial: int, peers: list[str] = (), base: int = 200) -> str:
    lines = "".join(f"      - {{name: to-{p}, type: h323_scn, peer: {p}, channels: 4}}\n" for p in peers)
    return (f"  - name: {name}\n    feature_key: 'virtual:{serial}'\n"
            f"    licenses: [{{feature: sip_trunk_channels, instances: 2}}, {{feature: ip500_voice_networking, instances: 4}}]\n"
            f"    vcm_modules: [{{type: vcm32}}]\n"
            f"    trunks:\n      - {{name: sip1, type: sip, channels: 4}}\n{lines}"
            f"    users: [{{name: {name}-a, extension: '{base + 1}'}}, {{name: {name}-b, extension: '{base + 2}'}}]\n")


def play(path: Path) -> dict:
    data = asyncio.run(ScenarioRunner(load_scenario(path)).run()).data
    for volatile in ("wall_s", "callbacks", "file"):
        data.pop(volatile)
    return data


def test_two_thousand_standalone_units_load_and_run(tmp_path):
    units = "".join(unit(f"s{i}", 30_000_000 + i) for i in range(2000))
    traffic = "".join(f"  - {{name: t{i}, unit: s{i}, from: sip1, to: '201', calls_per_hour: 2, holding: {{mean: 3m}}}}\n"
                      for i in range(0, 2000, 50))
    expect = "".join(f"  - calls: {{traffic: t{i}, outcome: admitted}}\n    at_least: 0\n" for i in range(0, 2000, 50))
    path = tmp_path / "fleet.yaml"
    path.write_text(f"name: fleet\nduration: 2h\nseed: 5\nunits:\n{units}traffic:\n{traffic}expect:\n{expect}")
    data = play(path)
    assert len(data["units"]) == 2000 and data["passed"]
    assert sum(t["attempts"] for t in data["traffic"]) > 0


def test_several_networks_side_by_side_give_the_same_results_run_after_run(tmp_path):
    units, traffic, expect = "", "", ""
    for n in range(5):  # five networks of three units (a, b, c in a line), and five standalone units
        a, b, c = f"n{n}a", f"n{n}b", f"n{n}c"
        units += (unit(a, 40_000_000 + 10 * n, [b], 200) + unit(b, 40_000_001 + 10 * n, [a, c], 300)
                  + unit(c, 40_000_002 + 10 * n, [b], 400))
        units += unit(f"lone{n}", 41_000_000 + n)
        traffic += (f"  - {{name: x{n}, unit: {a}, from: ['201', '202'], to: {b}/301, erlangs: 1.5, holding: {{mean: 2m}}}}\n"
                    f"  - {{name: y{n}, unit: lone{n}, from: sip1, to: ['201', '202'], erlangs: 1, holding: {{mean: 2m}}}}\n")
        expect += f"  - calls: {{traffic: x{n}, outcome: admitted}}\n    at_least: 1\n"
    path = tmp_path / "networks.yaml"
    path.write_text(f"name: networks\nduration: 3h\nseed: 11\nunits:\n{units}traffic:\n{traffic}expect:\n{expect}")
    first, second = play(path), play(path)
    assert first == second  # every figure, event count and sample
    assert first["passed"] and len(first["units"]) == 20
    crossing = {t["name"]: t for t in first["traffic"]}
    assert all(crossing[f"x{n}"]["admitted"] > 0 for n in range(5))


FLEET = """
name: a fleet of shops
duration: 2h
seed: 11
units:
  - name: shop
    count: {count}
    feature_key: virtual:40000000
    licenses: [{{feature: sip_trunk_channels, instances: 3}}, {{feature: softconsole, instances: 1, trial: true}}]
    vcm_modules: [{{type: vcm32}}]
    trunks: [{{name: sip1, type: sip, channels: 8}}]
    users: [{{name: a, extension: "201", call_appearances: 10}}, {{name: b, extension: "202", softconsole: true}}]
  - name: hq
    feature_key: virtual:49999999
    licenses: [{{feature: sip_trunk_channels, instances: 1}}]
    trunks: [{{name: sip1, type: sip, channels: 8}}]
    users: [{{name: c, extension: "201"}}]
events:
  - {{at: 1m, unit: shop, call: {{from: sip1, to: "201", id: first, duration: 10m}}}}
  - {{at: 2m, unit: shop, start_application: {{app: softconsole, user: b}}}}
  - {{at: 5m, unit: shop, hang_up: {{id: first}}}}
traffic:
  - {{name: calls, unit: shop, from: sip1, to: "201", erlangs: 2, holding: {{mean: 3m}}}}
expect:
  - calls: {{traffic: calls, outcome: admitted}}
    at_least: 1
  - events: {{unit: shop, name: application.started}}
    equals: {count}
  - peak: {{unit: shop, pool: sip_trunk_channels}}
    equals: 3
  - license: {{unit: shop, feature: softconsole}}
    status: Valid
"""


def test_a_fleet_is_its_copies_each_with_its_own_key_serial_and_traffic(tmp_path):
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET.format(count=12))
    loaded = load_scenario(path)
    assert loaded.copies["shop"][0] == "shop-01" and len(loaded.copies["shop"]) == 12
    assert [u.feature_key for u in loaded.units[:2]] == ["virtual:40000000", "virtual:40000001"]
    assert len({u.licenses[0] for u in loaded.units}) == 13  # keys issued per serial
    result = asyncio.run(ScenarioRunner(loaded).run())
    assert result.passed, [e for e in result.expectations if not e.ok]
    (row,) = result.data["traffic"]
    assert row["copies"] == 12 and row["attempts"] > 12 * 20
    # each copy ran its own source: the same per-copy draws whatever the fleet's size
    again = tmp_path / "fleet2.yaml"
    again.write_text(FLEET.format(count=3))
    small = asyncio.run(ScenarioRunner(load_scenario(again)).run()).data["units"]
    big = result.data["units"]
    assert [u["calls"] for u in small[:3]] == [u["calls"] for u in big[:3]]
    assert small[0]["name"] == "shop-1" and big[0]["name"] == "shop-01"


def test_a_fleet_is_checked_like_any_unit(tmp_path):
    import pytest

    from emulator.scenario.loader import ScenarioError

    bad = FLEET.format(count=2).replace("feature_key: virtual:40000000", "feature_key: smartcard:40000000")
    path = tmp_path / "bad.yaml"
    path.write_text(bad)
    with pytest.raises(ScenarioError, match="a fleet needs a virtual feature key"):
        load_scenario(path)
    path.write_text(FLEET.format(count=2).replace("{feature: sip_trunk_channels, instances: 3}",
                                                  '"AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA"'))
    with pytest.raises(ScenarioError, match="a key text is bound to one serial"):
        load_scenario(path)
    path.write_text(FLEET.format(count=2).replace("virtual:49999999", "virtual:40000001"))
    with pytest.raises(ScenarioError, match="same feature key serial 40000001"):
        load_scenario(path)

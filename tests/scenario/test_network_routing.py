"""One call path: traffic and timeline calls are routed by the network they belong to.

Each routing case (on one unit, across an H.323 line, to the central Voicemail Pro from a
remote unit) is played both as a timeline call and as Poisson traffic, and both must be
decided the same way and hold the same pools.
"""

from __future__ import annotations

import asyncio
import textwrap

import pytest

from emulator.scenario.loader import load_scenario
from emulator.scenario.runner import ScenarioRunner

NETWORK = """
name: routing
duration: 1h
units:
  - name: central
    feature_key: virtual:40000001
    voicemail: {}
    licenses:
      - {feature: voicemail_pro}
      - {feature: ip500_voice_networking, instances: 8}
    vcm_modules: [{type: vcm32}]
    trunks: [{name: to-branch, type: h323_scn, peer: branch, channels: 8}]
    users: [{name: c1, extension: "201", phone: analog, call_appearances: 10},
            {name: c2, extension: "202", phone: analog, call_appearances: 10}]
  - name: branch
    feature_key: virtual:40000002
    voicemail: {central: central}
    licenses:
      - {feature: ip500_voice_networking, instances: 8}
    vcm_modules: [{type: vcm32}]
    trunks: [{name: to-central, type: h323_scn, peer: central, channels: 8}]
    users: [{name: b1, extension: "301", phone: analog, call_appearances: 10},
            {name: b2, extension: "302", phone: analog, call_appearances: 10},
            {name: b3, extension: "303", phone: analog, call_appearances: 10}]
"""

CASES = {
    # case: (unit, from, to, pool that must be used, where)
    "local": ("central", "201", "202", None, None),
    "across a line": ("branch", "301", "central/201", "ip500_voice_networking", "branch"),
    "remote to central voicemail": ("branch", "301", "voicemail", "voicemail_pro_ports", "central"),
}


def play(tmp_path, body: str) -> dict:
    path = tmp_path / "s.yaml"
    path.write_text(NETWORK + textwrap.dedent(body), encoding="utf-8")
    return asyncio.run(ScenarioRunner(load_scenario(path)).run()).data


def pool(data: dict, unit: str, pool_id: str) -> dict:
    return next(p for u in data["units"] if u["name"] == unit for p in u["pools"] if p["pool"] == pool_id)


@pytest.mark.parametrize("case", CASES)
def test_traffic_and_timeline_calls_are_routed_alike(tmp_path, case):
    unit, a, b, pool_id, where = CASES[case]
    timeline = play(tmp_path, f"""
        events:
          - {{at: 10s, unit: {unit}, call: {{from: "{a}", to: "{b}", duration: 60s}}}}
        """)
    traffic = play(tmp_path, f"""
        traffic:
          - {{name: t, unit: {unit}, from: "{a}", to: "{b}", calls_per_hour: 20, holding: {{mean: 60s}}}}
        """)
    calls = {u["name"]: u["calls"] for u in timeline["units"]}
    assert calls[unit]["admitted"] == 1 and calls[unit]["rejected"] == 0, case
    t = traffic["traffic"][0]
    assert t["attempts"] > 5 and t["admitted"] == t["attempts"], (case, t["rejections"])
    if pool_id is not None:
        assert pool(timeline, where, pool_id)["peak"] == 1
        assert pool(traffic, where, pool_id)["peak"] >= 1
        assert pool(traffic, where, pool_id)["mean_in_use"] > 0


def test_remote_voicemail_traffic_is_refused_at_the_centre_when_its_ports_run_out(tmp_path):
    """The branch holds no Voicemail Pro: its callers use the central unit's 4 ports."""
    data = play(tmp_path, """
        traffic:
          - {name: t, unit: branch, from: ["301", "302", "303"], to: voicemail, erlangs: 8, holding: {mean: 60s}}
        """)
    t = data["traffic"][0]
    assert {r["reason"] for r in t["rejections"]} == {"license_exhausted"}
    assert {r["detail"] for r in t["rejections"]} == {"voicemail_pro_ports"}
    assert pool(data, "central", "voicemail_pro_ports")["peak"] == 4
    assert 0 < t["admitted"] < t["attempts"]

"""Every figure a report gives about calls can be rebuilt from its events file alone.

People size licenses from these reports, so the replay here is deliberately independent of
the runtime's bookkeeping: it reads the --events file of each shipped scenario, works out
which pools each call took from the unit's rules (the call plan: line pools, VCM channels
connected and in set-up), and counts in-use, peaks, time-weighted means, refusals and
admissions itself. The report must agree with it figure by figure.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from emulator.rules import UnitCore
from emulator.scenario.loader import load_scenario
from emulator.scenario.runner import RunOptions, ScenarioRunner

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
ID_BLOCK = 10**12  # traffic source i numbers its calls from (i + 1) * 10**12 (runner.py)


class Replay:
    """In-use per (unit, pool) rebuilt from events, with peaks and time integrals."""

    def __init__(self, loaded, start: float) -> None:
        self.cores = {c.name: UnitCore(c, loaded.authority, now=start) for c in loaded.units}
        self.in_use: Counter = Counter()
        self.peak: Counter = Counter()
        self.area: Counter = Counter()
        self.since: dict = defaultdict(lambda: start)
        self.touched: set = set()  # (unit, pool) that calls, holds or conferences used
        self.calls: dict = {}  # call id -> [[unit, pools held for the call, set-up VCM, VCM on hold, parties]]
        self.members: dict = {}  # (unit, conference, party) -> pools
        self.admitted: Counter = Counter()
        self.rejected: Counter = Counter()  # (unit, reason, detail)
        self.pool_refusals: Counter = Counter()  # (unit, pool, reason)
        self.by_source: Counter = Counter()  # (source index, outcome)

    def _move(self, now: float, unit: str, pools: list[str], delta: int) -> None:
        for pool in pools:
            key = (unit, pool)
            self.area[key] += self.in_use[key] * (now - self.since[key])
            self.since[key] = now
            self.in_use[key] += delta
            assert self.in_use[key] >= 0, f"{key} released below zero at {now}"
            self.touched.add(key)
        if delta > 0:  # peaks once the whole admission stands, as the unit does
            for pool in pools:
                self.peak[(unit, pool)] = max(self.peak[(unit, pool)], self.in_use[(unit, pool)])

    def _leg(self, unit: str, a: str, b: str) -> list:
        plan = self.cores[unit].calls.plan(a, b)
        return [unit, [p.pool_id for p in plan.pools], plan.setup_vcm, 0, (plan.a, plan.b)]

    def event(self, ev: dict) -> None:
        now, unit, kind = ev["time"], ev["unit"], ev["kind"]
        if kind == "call.admitted":
            a, b = ev["a"], ev["b"]
            if "/" in a or "/" in b:
                (ua, pa), (ub, pb) = a.split("/", 1), b.split("/", 1)
                legs = [self._leg(ua, pa, self.cores[ua].scn_line_to(ub).name),
                        self._leg(ub, self.cores[ub].scn_line_to(ua).name, pb)]
            else:
                legs = [self._leg(unit, a, b)]
            for leg in legs:
                self._move(now, leg[0], leg[1] + ["vcm_channels"] * leg[2], +1)
                self.admitted[leg[0]] += 1
            for leg in legs:
                if ev["answered"] and leg[2]:
                    self._move(now, leg[0], ["vcm_channels"] * leg[2], -1)
                    leg[2] = 0
            self.calls[ev["call"]] = legs
            self._count_source(ev["call"], "admitted")
        elif kind == "call.rejected":
            self.rejected[(unit, ev["reason"], ev["detail"] or "")] += 1
            if ev["detail"]:
                self.pool_refusals[(unit, ev["detail"], ev["reason"])] += 1
            self._count_source(ev["call"], "rejected")
        elif kind == "call.connected":
            for leg in self.calls[ev["call"]]:
                if leg[2]:
                    self._move(now, leg[0], ["vcm_channels"] * leg[2], -1)
                    leg[2] = 0
        elif kind == "call.held":
            for leg in self.calls[ev["call"]]:
                party = next(p for p in leg[4] if p.name == ev["party"])
                if party.is_ip and not leg[3]:
                    self._move(now, leg[0], ["vcm_channels"], +1)
                    leg[3] = 1
        elif kind == "call.resumed":
            for leg in self.calls[ev["call"]]:
                if leg[3]:
                    self._move(now, leg[0], ["vcm_channels"], -1)
                    leg[3] = 0
        elif kind == "call.ended":
            for leg in self.calls.pop(ev["call"]):
                self._move(now, leg[0], leg[1] + ["vcm_channels"] * (leg[2] + leg[3]), -1)
        elif kind == "conference.joined":
            party = self.cores[unit].party(ev["party"])
            pools = [p.pool_id for p in party.line_pools] + (["vcm_channels"] if party.is_ip else [])
            self._move(now, unit, pools, +1)
            self.members[(unit, ev["conference"], ev["party"])] = pools
        elif kind == "conference.left":
            self._move(now, unit, self.members.pop((unit, ev["conference"], ev["party"])), -1)
        elif kind in ("conference.rejected", "call.hold_rejected") and ev["detail"]:
            self.pool_refusals[(unit, ev["detail"], ev["reason"])] += 1

    def _count_source(self, call_id: object, outcome: str) -> None:
        if isinstance(call_id, int) and call_id >= ID_BLOCK:
            self.by_source[(call_id // ID_BLOCK - 1, outcome)] += 1

    def mean(self, key: tuple, end: float, span: float) -> float:
        return (self.area[key] + self.in_use[key] * (end - self.since[key])) / span


def run_with_events(path: Path, tmp_path: Path) -> tuple:
    loaded = load_scenario(path)
    events = tmp_path / "events.jsonl"
    result = asyncio.run(ScenarioRunner(loaded, RunOptions(events_path=events)).run())
    lines = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    return loaded, result.data, lines


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_call_figure_of_the_report_is_rebuilt_from_its_events(path, tmp_path):
    loaded, data, lines = run_with_events(path, tmp_path)
    start = loaded.scenario.start.timestamp()
    end = start + data["duration_s"]
    replay = Replay(loaded, start)
    for line in lines:
        replay.event(line)
    checked = 0
    for unit in data["units"]:
        name = unit["name"]
        reported = {p["pool"]: p for p in unit["pools"]}
        reported.update({f"ext:{e['extension']}": {**e, "refused": None} for e in unit["extensions"]})
        for (unit_name, pool_id) in sorted(k for k in replay.touched if k[0] == name):
            pool = reported[pool_id]
            key = (unit_name, pool_id)
            assert pool["peak"] == replay.peak[key], f"{key}: peak"
            assert pool["in_use_at_end"] == replay.in_use[key], f"{key}: in use at the end"
            assert pool["mean_in_use"] == pytest.approx(replay.mean(key, end, end - start), abs=1e-6), f"{key}: mean"
            if pool_id.startswith("ext:"):
                busy = replay.rejected.get((name, "extension_busy", pool_id), 0)
                assert pool["busy"] == busy, f"{key}: busy"
                continue
            if not pool_id.startswith(("sip_", "ip500_voice", "voicemail_pro_ports", "embedded_voicemail", "trunk:", "vcm")):
                continue
            refused = {reason: n for (u, p, reason), n in replay.pool_refusals.items() if (u, p) == key}
            assert pool["refused"] == refused, f"{key}: refusals"
            checked += 1
        calls = unit["calls"]
        assert calls["admitted"] == replay.admitted[name]
        rejections = {(r["reason"], r["detail"]): r["count"] for r in calls["rejections"]}
        assert rejections == {(r, d): n for (u, r, d), n in replay.rejected.items() if u == name}
    for index, traffic in enumerate(data["traffic"]):
        assert traffic["admitted"] == replay.by_source[(index, "admitted")]
        assert traffic["rejected"] == replay.by_source[(index, "rejected")]
    if any(line["kind"] == "call.admitted" for line in lines):
        assert checked, "a scenario with calls must have call pools to check"


def test_the_main_scenario_shows_its_trunk_peak_at_the_license_limit(tmp_path):
    """The bug this replay was written for: a call taking the trunk's channel and then being
    refused a SIP Trunk Channel license left the trunk's peak one too high (31 with 30 licenses)."""
    _, data, lines = run_with_events(ROOT / "scenarios" / "sip-trunks-and-vcm.yaml", tmp_path)
    pools = {p["pool"]: p for p in data["units"][0]["pools"]}
    assert pools["sip_trunk_channels"]["refused"]  # the license limit was hit...
    assert pools["trunk:sip1"]["peak"] == pools["sip_trunk_channels"]["peak"] == 30  # ...and nothing shows 31

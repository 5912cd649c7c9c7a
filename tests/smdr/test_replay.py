"""Replaying an SMDR export against a plan: exactly the calls beyond the licenses are refused.

The shipped export is replayed against plans with fewer SIP Trunk Channel licenses, and the
refused calls are compared with a brute-force count written here from the records alone:
in the order calls started, a call on the SIP line is refused when as many SIP calls
admitted before it are still up at its start (a call ending in the second another starts
has freed its channel)."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import pytest

from emulator.cli import main
from emulator.runtime.replay import REFUSED, SKIPPED
from emulator.scenario.loader import parse_scenario
from emulator.scenario.replay_sizing import replay_and_size
from emulator.scenario.runner import ScenarioRunner
from emulator.smdr.history import read_history

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "scenarios" / "replay-smdr-history.yaml"
EXPORT = ROOT / "scenarios" / "smdr" / "example-site.csv"


def plan_with(sip_licenses: int, *, drop: str | None = None):
    text = PLAN.read_text(encoding="utf-8").replace("{feature: sip_trunk_channels, instances: 4}",
                                                    f"{{feature: sip_trunk_channels, instances: {sip_licenses}}}")
    if drop is not None:
        text = "\n".join(line for line in text.splitlines() if drop not in line)
    return parse_scenario(text, PLAN)


def brute_force_refused(limit: int) -> set[int]:
    history = read_history(EXPORT)
    sip = history.devices.index("T9001")
    calls = []
    for call in range(history.calls):
        segments = history.segments(call)
        if any(sip in (history.callers[s], history.called[s]) for s in segments):
            start = history.starts[call]
            calls.append((start, history.call_ids[call], start + history.duration(call)))
    admitted, refused = [], set()
    for start, call_id, end in sorted(calls):
        if sum(1 for s, e in admitted if s <= start < e) >= limit:
            refused.add(call_id)
        else:
            admitted.append((start, end))
    return refused


def replayed(loaded):
    result = asyncio.run(ScenarioRunner(loaded).run())
    (replay,) = result.replays
    return result, replay


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 6, 8])
def test_exactly_the_calls_beyond_the_sip_licenses_are_refused(limit):
    result, replay = replayed(plan_with(limit))
    history = replay.history
    refused = {history.call_ids[c] for c in range(history.calls) if replay.outcomes[c] == REFUSED}
    expected = brute_force_refused(limit)
    assert refused == expected
    assert result.data["replay"][0]["rejections"] == (
        [{"reason": "license_exhausted", "detail": "sip_trunk_channels", "count": len(expected)}] if expected else [])
    sip = next(p for p in result.data["units"][0]["pools"] if p["pool"] == "sip_trunk_channels")
    assert sip["peak"] == limit and sip["in_use_at_end"] == 0


def test_enough_licenses_refuse_nothing_and_the_report_counts_every_line():
    result, replay = replayed(plan_with(30))
    data = result.data["replay"][0]
    assert (data["refused"], data["admitted"], data["calls"], data["skipped"], data["up_at_end"]) == (0, 400, 400, 0, 0)
    assert data["records"] + data["malformed_lines"] + data["header_lines"] + data["blank_lines"] == data["lines_read"]
    assert [m["line"] for m in data["malformed"]] == [123, 264]
    assert data["multi_segment_calls"] > 0


def test_a_device_the_plan_lacks_skips_its_calls_and_says_which():
    result, replay = replayed(plan_with(30, drop='extension: "205"'))
    data = result.data["replay"][0]
    history = replay.history
    with_205 = {c for c in range(history.calls) for s in history.segments(c)
                if "E205" in (history.devices[history.callers[s]], history.devices[history.called[s]])}
    assert {c for c in range(history.calls) if replay.outcomes[c] == SKIPPED} == with_205
    assert data["skipped"] == len(with_205) > 0 and data["skipped_devices"] == [{"device": "E205", "calls": len(with_205)}]
    assert data["offered"] == 400 - len(with_205)


def test_sizing_recommends_the_fewest_licenses_that_refuse_nothing():
    _, sizing = asyncio.run(replay_and_size(plan_with(4)))
    needed = {a.pool: a.needed for a in sizing.advice}["sip_trunk_channels"]
    assert sizing.together_refused == 0
    assert not brute_force_refused(needed) and brute_force_refused(needed - 1)
    assert replayed(plan_with(needed))[0].data["replay"][0]["refused"] == 0
    assert replayed(plan_with(needed - 1))[0].data["replay"][0]["refused"] > 0


def test_sizing_for_a_share_refuses_at_most_that_share_per_pool():
    _, sizing = asyncio.run(replay_and_size(plan_with(4), 0.05))
    advice = {a.pool: a for a in sizing.advice}
    sip = advice["sip_trunk_channels"]
    assert sizing.budget == 20 and sip.refused_alone <= 20 < len(brute_force_refused(sip.needed - 1))
    assert len(brute_force_refused(sip.needed)) == sip.refused_alone


def test_the_replay_command_writes_every_call_and_the_report(tmp_path, capsys):
    calls_csv, report = tmp_path / "calls.csv", tmp_path / "report.json"
    code = main(["replay", str(EXPORT), "--plan", str(PLAN), "--csv", str(calls_csv), "--report", str(report),
                 "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert data == json.loads(report.read_text())
    rows = list(csv.DictReader(calls_csv.open()))
    assert len(rows) == 400 and sum(r["outcome"] == "refused" for r in rows) == data["replay"][0]["refused"]
    assert {r["reason"] for r in rows if r["outcome"] == "refused"} == {"license_exhausted"}
    assert [r["start"] for r in rows] == sorted(r["start"] for r in rows)
    assert "left out" in err  # the plan's own replay section gives way to the file named


@pytest.mark.parametrize("args, message", [
    (["--line", "1=nope"], "lines.1: unit 'office' has no trunk 'nope'"),
    (["--line", "one"], "--line one: give LINE=TRUNK"),
    (["--unit", "branch"], "no unit named 'branch'"),
])
def test_bad_replay_input_is_one_line_and_exit_2(args, message, capsys):
    code = main(["replay", str(EXPORT), "--plan", str(PLAN), *args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and message in err, err


def test_a_file_without_records_is_one_line_naming_its_first_problem(tmp_path, capsys):
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\x00\x01\x02\nnot,a,record\n")
    code = main(["replay", str(junk), "--plan", str(PLAN)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "holds no call records (2 malformed lines; line 1: control character 0x00 at column 1" in err, err

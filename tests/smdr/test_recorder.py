"""SMDR out of a run: one record per call as it ends (and one per refused call), which reads
back as the very calls the run's events describe."""

from __future__ import annotations

import asyncio
import json
import math
from collections import Counter
from pathlib import Path

import pytest

from emulator.cli import main
from emulator.scenario.loader import load_scenario, parse_scenario
from emulator.scenario.runner import RunOptions, ScenarioRunner
from emulator.smdr.history import read_history
from emulator.smdr.record import parse_record

ROOT = Path(__file__).resolve().parents[2]

ONE_CALL = """
name: one call, rung, held and resumed
duration: 10m
units:
  - name: office
    licenses: [{feature: sip_trunk_channels, instances: 1}]
    vcm_modules: [{type: vcm32}]
    trunks: [{name: sip1, type: sip, channels: 4}]
    users:
      - {name: Ann, extension: "201", phone: "2420"}
      - {name: Bob, extension: "202", phone: "2420"}
events:
  - {at: 10s, call: {from: sip1, to: "201", answer_after: 7s, duration: 100s, id: c1}}
  - {at: 20s, call: {from: sip1, to: "202", id: c2}}
  - {at: 40s, hold: {id: c1, party: "201"}}
  - {at: 52s, resume: {id: c1}}
  - {at: 60s, call: {from: "202", to: "201", duration: 30.5s}}
expect:
  - calls: {outcome: rejected}
    equals: 1
"""


def run(loaded, tmp_path: Path):
    options = RunOptions(events_path=tmp_path / "events.jsonl", smdr_path=tmp_path / "smdr-{unit}.csv")
    result = asyncio.run(ScenarioRunner(loaded, options).run())
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    return result, events


def test_a_call_rung_held_and_resumed_and_a_refused_one(tmp_path):
    result, _ = run(parse_scenario(ONE_CALL, tmp_path / "one.yaml"), tmp_path)
    lines = (tmp_path / "smdr-office.csv").read_bytes().split(b"\r\n")
    assert lines[-1] == b"" and all(b"\n" not in line for line in lines)
    records = [parse_record(line.decode()) for line in lines[:-1]]
    refused, internal, inbound = records  # in the order they ended
    assert (refused.call_id, refused.connected_s, refused.ring_s, refused.party1_device, refused.party2_device,
            refused.party2_name, refused.direction) == (1000001, 0, 0, "E202", "T9001", "Line 1.0", "I")
    assert (inbound.call_id, inbound.ring_s, inbound.hold_s, inbound.connected_s, inbound.direction,
            inbound.is_internal, inbound.called_number) == (1000000, 7, 12, 100 - 12, "I", False, "201")
    assert (inbound.party1_device, inbound.party1_name, inbound.party2_device, inbound.party2_name) == (
        "E201", "Ann", "T9001", "Line 1.1")
    assert inbound.call_start - refused.call_start == -10
    assert (internal.direction, internal.is_internal, internal.caller, internal.called_number,
            internal.connected_s, internal.party2_device) == ("O", True, "202", "201", 31, "E201")
    assert result.data["smdr"]["records"] == 3 and result.data["smdr"]["calls_up_at_end"] == 0


@pytest.mark.parametrize("name", ["sip-trunks-and-vcm", "voicemail-pro-ports", "example1-ip500-scn"])
def test_the_records_of_a_run_read_back_as_the_calls_of_its_events(name, tmp_path):
    """Each unit's file holds every call that ended there (and every refusal), with its start,
    length and parties: checked against the run's own events."""
    loaded = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    result, events = run(loaded, tmp_path)
    admitted = {e["call"]: e for e in events if e["kind"] == "call.admitted"}
    expected: Counter = Counter()
    for e in events:
        if e["kind"] == "call.rejected":
            expected[(e["a"].rpartition("/")[0] or e["unit"], math.floor(e["time"]), 0)] += 1
        elif e["kind"] == "call.ended":
            offer = admitted[e["call"]]
            units = {p.rpartition("/")[0] or offer["unit"] for p in (offer["a"], offer["b"])}
            for unit in units:
                expected[(unit, math.floor(offer["time"]), e["time"] - offer["time"])] += 1
    found: Counter = Counter()
    for unit in result.data["units"]:
        history = read_history(tmp_path / f"smdr-{unit['name']}.csv")
        assert history.malformed == 0 and history.incomplete == 0
        for call in range(history.calls):
            found[(unit["name"], history.starts[call], history.duration(call))] += 1
    assert sum(found.values()) == sum(expected.values()) > 0
    assert result.data["smdr"]["records"] == sum(expected.values())
    # Times are whole seconds, rounded up field by field: a recorded length is the true one
    # rounded up, plus at most a second per rounded field (ring, connected, hold).
    unmatched = Counter(expected)
    for (unit, begin, length), n in found.items():
        for key in [k for k in unmatched if k[0] == unit and k[1] == begin and k[2] <= length < k[2] + 3]:
            take = min(n, unmatched[key])
            unmatched[key] -= take
            n -= take
            if not unmatched[key]:
                del unmatched[key]
            if not n:
                break
        assert n == 0, (unit, begin, length)
    assert not unmatched


def test_several_units_need_a_file_each(tmp_path, capsys):
    code = main(["run", str(ROOT / "scenarios" / "example1-ip500-scn.yaml"), "--smdr", str(tmp_path / "all.csv")])
    err = capsys.readouterr().err
    assert code == 2 and "--smdr: this scenario has 3 units: put {unit} in the file name" in err


def test_a_file_that_cannot_be_written_is_one_line(tmp_path, capsys):
    code = main(["run", str(ROOT / "scenarios" / "sip-trunks-and-vcm.yaml"), "--smdr", str(tmp_path / "no" / "x.csv")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--smdr" in err and "does not exist" in err

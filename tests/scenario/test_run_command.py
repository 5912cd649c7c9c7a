"""`ipo-emu run` and friends: exit codes, reports, events read back, plots, schema, sizing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator.cli import main

ROOT = Path(__file__).resolve().parents[2]
MAIN_SCENARIO = ROOT / "scenarios" / "sip-trunks-and-vcm.yaml"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_run_prints_the_report_and_exits_0(capsys):
    code, out, err = run(capsys, "run", MAIN_SCENARIO, "--no-progress")
    assert code == 0, err
    for text in ("License pools and resources", "sip_trunk_channels", "VCM:", "Traffic", "Expectations", "8 passed"):
        assert text in out


def test_failed_expectations_exit_1_with_an_account(capsys, tmp_path):
    text = MAIN_SCENARIO.read_text().replace("    at_least: 500", "    at_least: 50000")
    scenario = tmp_path / "strict.yaml"
    scenario.write_text(text)
    code, out, err = run(capsys, "run", scenario, "--no-progress")
    assert code == 1
    assert "FAIL" in out and "1 of 8 expectations failed" in err and "expected >= 50000" in err


def test_events_are_written_and_read_back(capsys, tmp_path):
    events, report = tmp_path / "events.jsonl", tmp_path / "report.json"
    code, _, err = run(capsys, "run", MAIN_SCENARIO, "--events", events, "--report", report, "--no-progress")
    assert code == 0, err
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    for line in lines:
        assert {"time", "t", "unit", "kind", "outcome", "reason"} <= line.keys()
    data = json.loads(report.read_text())
    admitted = data["units"][0]["calls"]["admitted"]
    assert sum(1 for line in lines if line["kind"] == "call.admitted") == admitted
    code, out, _ = run(capsys, "events", events, "--json")
    counts = json.loads(out)
    assert code == 0 and counts["events"] == len(lines)
    read_back = sum(c["count"] for c in counts["counts"] if c["kind"] == "call.admitted")
    assert read_back == admitted
    code, out, _ = run(capsys, "events", events, "--kind", "call.rejected")
    assert code == 0 and "no_vcm_channel" in out and "call.admitted" not in out


def test_a_damaged_events_file_is_named_by_line(capsys, tmp_path):
    events = tmp_path / "bad.jsonl"
    events.write_text('{"time": 1, "t": 0, "unit": "u", "kind": "call.admitted", "outcome": "admitted"}\n{"time": "x"\n')
    code, _, err = run(capsys, "events", events)
    assert code == 2 and f"{events}:2:" in err and err.count("\n") == 1


def test_the_same_seed_gives_the_same_events_and_another_seed_does_not(capsys, tmp_path):
    outputs = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        path = tmp_path / f"{name}.jsonl"
        assert run(capsys, "run", MAIN_SCENARIO, "--seed", seed, "--events", path, "--no-progress")[0] == 0
        outputs.append(path.read_text())
    assert outputs[0] == outputs[1] and outputs[0] != outputs[2]


def test_plot_is_drawn(capsys, tmp_path):
    pytest.importorskip("matplotlib", reason="the plot extra is not installed")
    png = tmp_path / "pools.png"
    code, _, err = run(capsys, "run", MAIN_SCENARIO, "--plot", png, "--no-progress")
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_realtime_run_follows_the_wall_clock(capsys, tmp_path):
    import time

    scenario = tmp_path / "short.yaml"
    scenario.write_text(MAIN_SCENARIO.read_text().replace("duration: 1h", "duration: 10m")
                        .replace("    at_least: 500", "    at_least: 50"))
    started = time.perf_counter()
    code, out, err = run(capsys, "run", scenario, "--realtime", "--speed", "3000", "--no-progress")
    elapsed = time.perf_counter() - started
    assert code in (0, 1), err
    assert "wall x3000" in out and 0.15 <= elapsed < 5


def test_validate_schema_and_size(capsys, tmp_path):
    code, out, _ = run(capsys, "validate", MAIN_SCENARIO)
    assert code == 0 and "valid" in out and "1 traffic source" in out
    code, out, _ = run(capsys, "schema")
    schema = json.loads(out)
    assert code == 0 and {"units", "traffic", "events", "expect", "duration"} <= schema["properties"].keys()
    code, _, _ = run(capsys, "schema", "--output", tmp_path / "s.json")
    assert code == 0 and json.loads((tmp_path / "s.json").read_text())["title"] == "Scenario"
    code, out, _ = run(capsys, "size", "--erlangs", "20", "--grade", "0.02", "--json")
    assert code == 0 and json.loads(out)["sip_trunk_channels"] == 28
    code, out, _ = run(capsys, "size", "--busy-hour-calls", "406", "--holding", "3m")
    assert code == 0 and "SIP Trunk Channels: 30" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["size"], "exactly one of --erlangs or --busy-hour-calls"),
    (["size", "--erlangs", "5", "--holding", "soon"], "--holding"),
    (["run", "scenarios/sip-trunks-and-vcm.yaml", "--events", "/nonexistent/dir/e.jsonl"], "does not exist"),
    (["run", "scenarios/sip-trunks-and-vcm.yaml", "--speed", "0"], "--speed"),
    (["events", "/nonexistent.jsonl"], "cannot read"),
])
def test_bad_options(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and err.count("\n") == 1


def test_the_progress_bar_does_not_disturb_the_run(capsys):
    code, out, err = run(capsys, "run", MAIN_SCENARIO, "--progress")
    assert code == 0 and "8 passed" in out

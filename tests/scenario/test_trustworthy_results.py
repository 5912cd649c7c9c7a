"""Results people can size licenses from: honest wall-clock runs, interrupts that keep the
report, offered load that stops with the source, warnings for traffic that was all refused."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from emulator.scenario.loader import load_scenario
from emulator.scenario.runner import RunOptions, ScenarioRunner

ROOT = Path(__file__).resolve().parents[2]
UNIT = """
units:
  - name: office
    licenses: [{feature: sip_trunk_channels, instances: 128}]
    vcm_modules: [{type: vcm64}, {type: vcm64}]
    trunks: [{name: sip1, type: sip, channels: 128}]
    users: [{name: a, extension: "201", phone: analog}]
"""


def scenario(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text("name: t\n" + UNIT + textwrap.dedent(body), encoding="utf-8")
    return path


def play(path: Path, **options) -> dict:
    return asyncio.run(ScenarioRunner(load_scenario(path), RunOptions(**options)).run()).data


def figures(data: dict) -> tuple:
    unit = data["units"][0]
    return ([(t["attempts"], t["admitted"], t["rejections"]) for t in data["traffic"]],
            [(p["pool"], p["peak"], p["in_use_at_end"], round(p["mean_in_use"], 9)) for p in unit["pools"]],
            unit["calls"])


def test_a_wall_clock_run_that_cannot_keep_up_decides_as_virtual_time_and_says_it_fell_behind(tmp_path):
    """Offered far faster than one core can decide: every event still runs, in time order,
    stamped with its own time, so the enforcement figures are exactly those of virtual time;
    and the run reports its lateness and that it fell behind."""
    path = scenario(tmp_path, """
        duration: 200ms
        traffic:
          - {name: flood, from: sip1, to: "201", calls_per_hour: 3600000000, holding: {distribution: fixed, mean: 50ms}}
        expect:
          - calls: {traffic: flood, outcome: admitted}
            at_least: 1
        """)
    virtual = play(path)
    wall = play(path, realtime=True, max_lag_s=0.05)
    assert figures(wall) == figures(virtual)
    assert virtual["traffic"][0]["attempts"] > 100_000  # ~200,000: far beyond real time here
    assert wall["kept_up"] is False and virtual["kept_up"] is True
    lag = wall["clock_lag"]
    assert lag["max_ms"] > 50 and lag["p50_ms"] <= lag["p99_ms"] <= lag["max_ms"]
    assert lag["callbacks"] == wall["callbacks"]
    assert any("fell behind" in w for w in wall["warnings"])


def test_a_wall_clock_run_that_keeps_up_says_so(tmp_path):
    path = scenario(tmp_path, """
        duration: 300ms
        traffic:
          - {name: light, from: sip1, to: "201", calls_per_hour: 36000, holding: {mean: 50ms}}
        expect:
          - calls: {traffic: light, outcome: admitted}
            at_least: 0
        """)
    data = play(path, realtime=True, max_lag_s=0.25)
    assert data["kept_up"] is True and data["clock_lag"]["max_ms"] < 250
    assert not any("fell behind" in w for w in data["warnings"])


def start_run(tmp_path: Path) -> tuple[subprocess.Popen, Path, Path]:
    report, events = tmp_path / "report.json", tmp_path / "events.jsonl"
    command = [sys.executable, "-m", "emulator", "run", str(ROOT / "scenarios" / "sip-trunks-and-vcm.yaml"),
               "--realtime", "--speed", "300", "--report", str(report), "--events", str(events), "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (not events.exists() or events.stat().st_size < 2000):
        time.sleep(0.05)
    assert events.exists(), "the run never started writing events"
    return process, report, events


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_ends_the_run_cleanly_and_keeps_the_report(tmp_path, signum, code):
    process, report, events = start_run(tmp_path)
    process.send_signal(signum)
    out, err = process.communicate(timeout=30)
    assert process.returncode == code, err
    assert "Traceback" not in err and f"interrupted by {signum.name}" in err
    assert f"INTERRUPTED by {signum.name}" in out and "License pools and resources" in out
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["interrupted"] == signum.name
    assert 0 < data["simulated_s"] < data["duration_s"]
    assert data["traffic"][0]["carried_erlangs"] is None  # cannot be clipped at the interrupt: not guessed
    text = events.read_text(encoding="utf-8")
    assert text.endswith("\n")
    lines = [json.loads(line) for line in text.splitlines()]
    admitted = sum(1 for line in lines if line["kind"] == "call.admitted")
    assert admitted == data["units"][0]["calls"]["admitted"]


def test_offered_load_stops_when_max_calls_runs_out(tmp_path):
    path = scenario(tmp_path, """
        duration: 1h
        traffic:
          - {name: short, from: sip1, to: "201", erlangs: 20, holding: {mean: 3m}, max_calls: 100}
        expect:
          - calls: {traffic: short, outcome: admitted}
            equals: 100
        """)
    data = play(path)
    t = data["traffic"][0]
    assert t["attempts"] == 100
    # 100 calls at 400 an hour take about a quarter of the hour: averaged over the hour the
    # offered load is about 5 E, not the 20 E of the rate; the carried load can never exceed it
    assert 3 < t["offered_erlangs"] < 8
    assert t["carried_erlangs"] <= t["offered_erlangs"] * 1.5
    assert t["busy_erlangs"] == pytest.approx(20)


def test_traffic_that_is_all_refused_is_flagged_unless_intended(tmp_path):
    body = """
        duration: 10m
        traffic:
          - {{name: doomed, from: sip1, to: "201", erlangs: 2, holding: {{mean: 1m}}{extra}}}
        expect:
          - calls: {{traffic: doomed, outcome: rejected, reason: not_licensed}}
            at_least: 1
        """
    text = (UNIT.replace("licenses: [{feature: sip_trunk_channels, instances: 128}]", "licenses: []"))
    path = tmp_path / "s.yaml"
    path.write_text("name: t\n" + text + textwrap.dedent(body.format(extra="")), encoding="utf-8")
    data = play(path)
    assert data["traffic"][0]["admitted"] == 0
    assert any("doomed: all" in w and "all_refused" in w for w in data["warnings"])
    path.write_text("name: t\n" + text + textwrap.dedent(body.format(extra=", all_refused: true")), encoding="utf-8")
    assert play(path)["warnings"] == []


def test_configured_features_count_no_refusal_before_the_key_is_read_or_twice_for_one_user():
    """mobility.yaml never pulls its key: nothing is refused for feature_key_absent. The
    trial's expiry leaves 10 users without Mobility: 10 refusals, not one per reassignment."""
    data = play(ROOT / "scenarios" / "mobility.yaml")
    pool = next(p for p in data["units"][0]["pools"] if p["pool"] == "mobility_features")
    assert pool["refused"] == {"license_exhausted": 10}


def test_a_scenario_cannot_issue_a_second_trial_of_a_feature_for_one_serial(tmp_path):
    path = scenario(tmp_path, """
        duration: 1h
        expect:
          - license: {feature: sip_trunk_channels}
            status: Valid
        """)
    text = path.read_text().replace("licenses: [{feature: sip_trunk_channels, instances: 128}]",
                                    "licenses: [{feature: softconsole, trial: true}, {feature: softconsole, trial: true}]")
    path.write_text(text)
    from emulator.scenario.loader import ScenarioError

    with pytest.raises(ScenarioError, match=r"licenses\[1\]: a softconsole trial for serial 12345678 is already "
                                            r"issued at units\[0\].licenses\[0\]"):
        load_scenario(path)


def cli(capsys, *argv):
    from emulator.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_events_to_standard_output_with_the_report_on_standard_error(capsys):
    code, out, err = cli(capsys, "run", ROOT / "scenarios" / "voicemail-pro-ports.yaml", "--events", "-",
                         "--no-progress")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines and all("kind" in line for line in lines)
    assert "License pools and resources" in err
    assert not Path("-").exists()


def test_an_unknown_event_kind_or_unit_is_an_error_not_an_empty_table(capsys, tmp_path):
    events = tmp_path / "e.jsonl"
    assert cli(capsys, "run", ROOT / "scenarios" / "voicemail-pro-ports.yaml", "--events", events,
               "--no-progress")[0] == 0
    code, _, err = cli(capsys, "events", events, "--kind", "call.rjected")
    assert code == 2 and "did you mean call.rejected?" in err and err.count("\n") == 1
    code, _, err = cli(capsys, "events", events, "--unit", "offfice")
    assert code == 2 and "(units: office)" in err


def test_size_warns_when_one_unit_cannot_take_the_recommendation(capsys):
    code, out, err = cli(capsys, "size", "-A", "500", "--json")
    data = json.loads(out)
    assert code == 0 and data["sip_trunk_channels"] == 527
    assert any("exceed what one IP500 (release 6.0) takes: 128" in w for w in data["warnings"])
    code, _, err = cli(capsys, "size", "-A", "500", "--unit", "IP500 V2")
    assert code == 0 and "takes: 148" in err
    code, _, err = cli(capsys, "size", "-A", "20")
    assert code == 0 and "warning" not in err


def test_a_trial_installed_on_the_timeline_counts_too(tmp_path):
    path = scenario(tmp_path, """
        duration: 1h
        events:
          - {at: 10m, install_license: {feature: sip_trunk_channels, instances: 2, trial: true}}
          - {at: 20m, install_license: {feature: sip_trunk_channels, instances: 2, trial: true}}
        expect:
          - license: {feature: sip_trunk_channels}
            status: Valid
        """)
    from emulator.scenario.loader import ScenarioError

    with pytest.raises(ScenarioError, match=r"events\[1\].install_license: a sip_trunk_channels trial .* already "
                                            r"issued at events\[0\]"):
        load_scenario(path)

"""ipo-emu load: a fleet as a load test, its CSV (columns as docs/load.md lists them) and its gates."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from emulator.cli import main
from emulator.scenario.csv_report import REFUSAL_COLUMNS, STATS_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
FLEET = str(ROOT / "scenarios" / "fleet-of-shops.yaml")


def test_csv_and_a_passing_gate(tmp_path, capsys):
    prefix = tmp_path / "shops"
    code = main(["load", FLEET, "--workers", "2", "--csv", str(prefix), "--max-blocking", "0.2", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["gates"] == {"max_blocking": 0.2, "max_p99_ms": None, "failed": []}
    stats = list(csv.DictReader((tmp_path / "shops_stats.csv").open()))
    assert tuple(stats[0]) == STATS_COLUMNS
    (traffic,) = [r for r in stats if r["kind"] == "traffic"]
    assert int(traffic["attempts"]) == data["traffic"][0]["attempts"] and traffic["copies"] == "200"
    sip = next(r for r in stats if r["kind"] == "pool" and r["name"] == "sip_trunk_channels")
    assert (sip["unit"], sip["peak"], sip["effective"]) == ("shop", "4", "4")
    refusals = list(csv.DictReader((tmp_path / "shops_refusals.csv").open()))
    assert tuple(refusals[0]) == REFUSAL_COLUMNS
    assert sum(int(r["count"]) for r in refusals) == data["traffic"][0]["rejected"]
    assert not (tmp_path / "shops_history.csv").exists()  # several processes sample nothing
    docs = (ROOT / "docs" / "load.md").read_text(encoding="utf-8")
    assert all(f"`{c}`" in docs for c in STATS_COLUMNS + REFUSAL_COLUMNS)


def test_one_process_writes_the_history_too(tmp_path, capsys):
    prefix = tmp_path / "one"
    assert main(["load", str(ROOT / "scenarios" / "sip-trunks-and-vcm.yaml"), "--csv", str(prefix)]) == 0
    history = list(csv.reader((tmp_path / "one_history.csv").open()))
    header = history[0]
    assert header[0] == "t" and "office/sip_trunk_channels in_use" in header
    column = header.index("office/sip_trunk_channels limit")
    assert {row[column] for row in history[1:]} == {"30"} and len(history) > 100


def test_a_failed_gate_is_exit_4_with_the_reason(capsys):
    assert main(["load", FLEET, "--max-blocking", "0.05"]) == 4
    err = capsys.readouterr().err
    assert "gate failed: traffic customers blocked 0.09" in err and "> --max-blocking 0.05" in err


def test_wall_clock_latency_percentiles_merged_over_workers_and_the_p99_gate(capsys):
    args = ["load", FLEET, "--realtime", "--speed", "3000", "--workers", "2", "--json"]
    assert main([*args, "--max-p99-ms", "250"]) == 0
    data = json.loads(capsys.readouterr().out)
    latency = data["admission_latency"]
    assert latency["calls"] == data["traffic"][0]["attempts"]  # every decision measured, in both workers
    assert 0 < latency["p50_ms"] <= latency["p90_ms"] <= latency["p99_ms"] <= latency["p99_9_ms"] <= latency["max_ms"]
    assert data["clock_lag"]["callbacks"] >= latency["calls"] and data["kept_up"]
    assert main([*args, "--max-p99-ms", "0"]) == 4
    assert "p99 admission latency" in capsys.readouterr().err


def test_the_p99_gate_needs_the_wall_clock(capsys):
    assert main(["load", FLEET, "--max-p99-ms", "1"]) == 2
    assert "--max-p99-ms: latency is measured on the wall clock; add --realtime" in capsys.readouterr().err


def test_live_rows_every_twentieth_add_up_to_the_report(capsys):
    assert main(["load", str(ROOT / "scenarios" / "sip-trunks-and-vcm.yaml"), "--json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    rows = [line.split() for line in captured.err.splitlines() if line.strip().endswith(tuple("0123456789")) or "%" in line]
    rows = [r for r in rows if r and r[0].endswith("%")]
    assert len(rows) == 20 and rows[-1][0] == "100%"
    calls = data["units"][0]["calls"]
    assert int(rows[-1][4].replace(",", "")) == calls["admitted"] + calls["rejected"]
    assert sum(int(r[2].replace(",", "")) for r in rows) == calls["admitted"] + calls["rejected"]


def test_violations_can_be_allowed_but_are_still_reported(monkeypatch, capsys, tmp_path):
    from tests import faults

    path = tmp_path / "busy.yaml"  # no expectations: only the invariants can fail it
    path.write_text("""
name: busy
duration: 1h
units:
  - name: office
    licenses: [{feature: sip_trunk_channels, instances: 2}]
    trunks: [{name: sip1, type: sip, channels: 10}]
    users: [{name: a, extension: "201", call_appearances: 10}]
traffic:
  - {name: in, from: sip1, to: "201", erlangs: 4, holding: {mean: 3m}}
""")
    faults.ignore_limits(monkeypatch)
    assert main(["load", str(path), "--no-console", "--json"]) == 1
    assert "invariant" in capsys.readouterr().err
    assert main(["load", str(path), "--no-console", "--allow-violations", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["invariants"]["violations"] and "allowed by --allow-violations" in err


def test_live_rows_of_several_workers_are_those_of_one_process(capsys):
    def rows(*extra: str) -> list[str]:
        assert main(["load", FLEET, "--json", *extra]) == 0
        err = capsys.readouterr().err
        return [line for line in err.splitlines() if line.strip()[:5].strip().endswith("%") or "done" in line]

    one = rows()
    assert len(one) == 21  # the heading, then a row every twentieth
    assert rows("--workers", "2") == one
    assert rows("--workers", "3") == one

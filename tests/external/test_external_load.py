"""`ipo-emu load --target` as users run it: `ipo-emu serve` and the load in their own
processes, through a real mosquitto on a free loopback port."""

from __future__ import annotations

import json
import signal
from pathlib import Path
import subprocess
import sys

import pytest

from tests.browser import open_page
from tests.external.shops import SHOPS
from tests.service.brokers import Mosquitto
from tests.service.test_serve_and_watch_cli import first_line, ipo_emu



@pytest.fixture
def mosquitto(tmp_path):
    broker = Mosquitto(tmp_path).start()
    yield broker
    broker.stop()


@pytest.fixture
def shops(tmp_path):
    path = tmp_path / "shops.yaml"
    path.write_text(SHOPS, encoding="utf-8")
    return path


def _serve(config, url, tmp_path, *extra):
    serve = ipo_emu("serve", str(config), "--mqtt", url, "--speed", "100", *extra, cwd=tmp_path)
    assert first_line(serve) == url
    return serve


def _stop(serve):
    serve.send_signal(signal.SIGINT)
    serve.communicate(timeout=30)


def _load(*args, timeout=90):
    return subprocess.run([sys.executable, "-m", "emulator", "load", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_every_decision_of_served_units_is_timed_and_judged(mosquitto, shops, tmp_path):
    serve = _serve(shops, mosquitto.url, tmp_path, "--commands-only")
    try:
        report, page = tmp_path / "external.json", tmp_path / "external.html"
        done = _load(str(shops), "--target", mosquitto.url, "--speed", "100", "--rate", "300", "--for", "3s",
                     "--report", str(report), "--max-p99-ms", "1000", "--html", str(page), "--csv", str(tmp_path / "ext"))
    finally:
        _stop(serve)
    assert done.returncode == 0, done.stderr + done.stdout
    data = json.loads(report.read_text())
    assert data["units"] == 3 and data["lost"] == 0 and not data["errors"]
    assert 600 <= data["offers"] <= 1200  # Poisson at 300/s for 3 s
    assert data["replies"] == data["offers"] + data["hang_ups"]
    assert data["offer_latency"]["count"] == data["offers"]
    # the hang-ups of the calls still up at the end go all at once: not timed
    assert data["hang_up_latency"]["count"] == data["hang_ups"] - data["hung_up_at_the_end"]
    assert data["send_lag"]["count"] == data["offers"] + data["hang_up_latency"]["count"]
    assert 0 < data["offer_latency"]["p50_ms"] <= data["offer_latency"]["p99_ms"] <= data["offer_latency"]["max_ms"]
    check = data["check"]
    assert check["violations"] == 0, check["findings"]
    by_name = {t["name"]: t for t in data["traffic"]}
    assert set(by_name) == {"customers", "direct"}
    # 4 SIP licenses a shop at 400 erlangs offered: most calls are refused, by that pool
    assert by_name["customers"]["refusals"]["license_exhausted/sip_trunk_channels"] > 0
    refused_by_extensions = sum(n for why, n in check["not_judged"].items() if why.startswith("refused"))
    assert check["judged"] + refused_by_extensions == data["offers"]
    assert check["judged"] > data["offers"] // 2
    assert check["states_matched"] >= 3  # at least each unit's last state, after our last command
    assert "offers" in done.stderr  # live rows
    assert "judged against the units' published state" in done.stdout
    timeline = data["timeline"]
    assert timeline["offered"][-1] == data["offers"]
    assert sum(series[-1] for series in timeline["refused"].values()) == sum(t["rejected"] for t in data["traffic"])
    assert max(timeline["pools"]["sip_trunk_channels"]["limit"]) == 3 * 4
    rendered = open_page(page)
    assert rendered.errors == [] and rendered.external == 0
    assert rendered.charts == 3 and rendered.drawn == 3, rendered  # licenses, blocking, round trips
    assert f"{data['offers']:,}" in rendered.text
    _check_csv(tmp_path / "ext", data)


def _check_csv(prefix, data):
    import csv

    from emulator.scenario.csv_report import EXTERNAL_HISTORY_COLUMNS, REFUSAL_COLUMNS, STATS_COLUMNS

    def rows(name):
        with open(f"{prefix}_{name}.csv", newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))

    stats = rows("stats")
    traffic = {r["name"]: r for r in stats if r["kind"] == "traffic"}
    assert sum(int(r["attempts"]) for r in traffic.values()) == data["offers"]
    assert traffic["customers"]["unit"] == "shop" and traffic["customers"]["copies"] == "3"
    pools = {r["name"]: r for r in stats if r["kind"] == "pool"}
    assert pools["sip_trunk_channels"]["effective"] == "4" and pools["sip_trunk_channels"]["peak"] == "4"
    refused = sum(int(r["count"]) for r in rows("refusals"))
    assert refused == sum(t["rejected"] for t in data["traffic"])
    assert int(pools["sip_trunk_channels"]["refused"]) == sum(
        int(r["count"]) for r in rows("refusals") if r["detail"] == "sip_trunk_channels")
    history = rows("history")
    assert len(history) == len(data["timeline"]["t"]) and int(history[-1]["answered"]) == data["offers"]
    assert sum(int(r["answered_in_interval"]) for r in history) == data["offers"]
    docs = (Path(__file__).resolve().parents[2] / "docs" / "load.md").read_text(encoding="utf-8")
    assert all(f"`{c}`" in docs for c in (*STATS_COLUMNS, *REFUSAL_COLUMNS, *EXTERNAL_HISTORY_COLUMNS))


def test_a_unit_with_traffic_of_its_own_fails_the_check(mosquitto, shops, tmp_path):
    serve = _serve(shops, mosquitto.url, tmp_path)  # its own traffic plays too
    try:
        report = tmp_path / "external.json"
        done = _load(str(shops), "--target", mosquitto.url, "--speed", "100", "--rate", "100", "--for", "2s",
                     "--report", str(report), "--no-console")
    finally:
        _stop(serve)
    assert done.returncode == 1, done.stderr
    findings = json.loads(report.read_text())["check"]["findings"]
    assert any("did something it was not asked" in f for f in findings), findings
    assert "violation" in done.stderr


def test_nothing_served_or_no_broker_is_one_line(mosquitto, shops, tmp_path):
    done = _load(str(shops), "--target", mosquitto.url, "--for", "1s")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "no retained state for shop-1, shop-2, shop-3 under ipo/" in done.stderr
    mosquitto.stop()
    done = _load(str(shops), "--target", mosquitto.url, "--for", "1s")
    assert done.returncode == 2 and "cannot connect" in done.stderr, done.stderr
    done = _load(str(shops), "--target", "http://x", "--for", "1s")
    assert done.returncode == 2 and "--target" in done.stderr, done.stderr
    done = _load(str(shops), "--target", mosquitto.url, "--workers", "2")
    assert done.returncode == 2 and "--workers: not with --target" in done.stderr, done.stderr
    done = _load(str(shops), "--target", mosquitto.url, "--csv", str(tmp_path / "missing" / "x"))
    assert done.returncode == 2 and "--csv" in done.stderr, done.stderr
    done = _load(str(shops), "--rate", "5")
    assert done.returncode == 2 and "--rate: for external mode; add --target" in done.stderr, done.stderr


def test_an_interrupted_load_still_hangs_up_judges_and_reports(mosquitto, shops, tmp_path):
    import time

    serve = _serve(shops, mosquitto.url, tmp_path, "--commands-only")
    try:
        report = tmp_path / "external.json"
        load = subprocess.Popen([sys.executable, "-m", "emulator", "load", str(shops), "--target", mosquitto.url,
                                 "--speed", "100", "--rate", "100", "--for", "60s", "--no-console", "--report",
                                 str(report)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(4)
        load.send_signal(signal.SIGINT)
        _, err = load.communicate(timeout=60)
    finally:
        _stop(serve)
    assert load.returncode == 130, err
    assert "interrupted by SIGINT" in err
    data = json.loads(report.read_text())
    assert data["interrupted_by"] == "SIGINT" and 0 < data["sending_s"] < 10
    assert data["check"]["violations"] == 0 and data["lost"] == 0  # every call hung up, every state matched

"""`ipo-emu load --html`: a self-contained page that a real browser renders without a script
error, whose charts are drawn from the run's own figures (the same for any number of workers)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser import open_page

ROOT = Path(__file__).resolve().parents[2]
SHOPS = ROOT / "scenarios" / "fleet-of-shops.yaml"


def _load(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emulator", "load", *args, "--no-console"], capture_output=True,
                          text=True, timeout=300)


def test_the_readme_line_writes_a_page_that_chromium_renders(tmp_path):
    import re
    import shlex

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (line,) = re.search(r"## Load testing\n\n```sh\n(.*?)```", readme, re.S).group(1).strip().splitlines()
    args = shlex.split(line.split("  #")[0])
    assert args[:3] == ["ipo-emu", "load", "scenarios/fleet-of-shops.yaml"] and args[-2] == "--html"
    # as written, but with the scenario found from anywhere and the page written in tmp_path
    done = subprocess.run([sys.executable, "-m", "emulator", "load", str(SHOPS), *args[3:]], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Fleet shop" in done.stdout  # the text report as ever, besides the page
    rendered = open_page(tmp_path / args[-1])
    assert rendered.errors == [] and rendered.external == 0
    assert rendered.charts == 2 and rendered.drawn == 2, rendered  # license use, blocking (virtual time: no latency)


def test_the_page_renders_in_chromium_with_its_charts_and_no_script_error(tmp_path):
    page, report = tmp_path / "shops.html", tmp_path / "shops.json"
    done = _load(str(SHOPS), "--realtime", "--speed", "20000", "--workers", "2", "--html", str(page),
                 "--report", str(report))
    assert done.returncode == 0, done.stderr
    assert f"wrote {page}" in done.stderr
    data = json.loads(report.read_text())
    rendered = open_page(page)
    assert rendered.errors == []
    assert rendered.external == 0  # self-contained: nothing fetched from anywhere
    # license use, blocking, admission latency: all drawn
    assert rendered.charts == 3 and rendered.drawn == 3, rendered
    assert rendered.traces >= 6
    attempts = sum(t["attempts"] for t in data["traffic"])
    assert f"{attempts:,}" in rendered.text
    assert "A fleet of 200 shops" in rendered.text and "4 of 4 hold" in rendered.text
    timeline = data["timeline"]
    assert timeline["offered"][-1] == attempts  # the chart's totals are the report's
    refused = sum(t["rejected"] for t in data["traffic"])
    assert sum(series[-1] for series in timeline["refused"].values()) == refused
    assert max(timeline["pools"]["sip_trunk_channels"]["limit"]) == 200 * 4
    assert len(timeline["latency_hdr"]) == len(timeline["t"])


def test_the_timeline_is_the_same_for_any_number_of_workers(tmp_path):
    timelines = []
    for workers in ("1", "2", "3"):
        report = tmp_path / f"w{workers}.json"
        done = _load(str(SHOPS), "--workers", workers, "--html", str(tmp_path / f"w{workers}.html"),
                     "--report", str(report))
        assert done.returncode == 0, done.stderr
        timelines.append(json.loads(report.read_text())["timeline"])
    assert timelines[0] == timelines[1] == timelines[2]
    assert 100 <= len(timelines[0]["t"]) <= 202
    assert timelines[0]["t"][-1] == 4 * 3600


def test_html_without_a_writable_place_fails_before_running(tmp_path):
    done = _load(str(SHOPS), "--html", str(tmp_path / "missing" / "r.html"))
    assert done.returncode == 2
    assert "--html" in done.stderr and done.stderr.strip().count("\n") == 0


@pytest.mark.parametrize("name", ["lost-feature-key-and-exchange.yaml", "trial-expiry-day-60.yaml",
                                  "licenses-over-capacity.yaml", "example1-ip500-scn.yaml", "sip-trunks-and-vcm.yaml",
                                  "ramp-to-saturation.yaml"])
def test_the_timeline_sums_every_units_pools_at_every_point(name):
    """Against the per-unit samples the run keeps for its plot (every unit, when there are at
    most 24): at each of the timeline's points, each pool's in-use and limit are their sums, also
    where licenses come, expire or stop validating during the run."""
    from emulator.scenario.loader import load_scenario
    from emulator.scenario.runner import SAMPLED_UNITS, RunOptions, ScenarioRunner

    loaded = load_scenario(ROOT / "scenarios" / name)
    data = asyncio.run(ScenarioRunner(loaded, RunOptions(timeline=True)).run()).data
    samples, timeline = data["samples"], data["timeline"]
    units = [u["name"] for u in data["units"]][:SAMPLED_UNITS]
    index = {t: i for i, t in enumerate(samples["t"])}
    checked = 0
    for point, t in enumerate(timeline["t"]):
        i = index[round(t, 6)]
        for pool, series in timeline["pools"].items():
            keys = [f"{u}/{pool}" for u in units if f"{u}/{pool}" in samples]
            if len(data["units"]) <= SAMPLED_UNITS:
                assert series["in_use"][point] == sum(samples[k][0][i] for k in keys), (t, pool)
                assert series["limit"][point] == sum(samples[k][1][i] for k in keys), (t, pool)
                checked += 1
    assert checked > 100 or len(data["units"]) > SAMPLED_UNITS
    assert timeline["offered"][-1] == sum(u["calls"]["admitted"] + u["calls"]["rejected"] for u in data["units"])

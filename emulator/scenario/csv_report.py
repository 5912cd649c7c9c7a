"""A run's figures as CSV, for the spreadsheets and dashboards load testers already use
(ipo-emu load --csv PREFIX). Columns are documented in docs/load.md; every value is one the
report has (a fleet's pools: the highest peak and the mean over its copies)."""

from __future__ import annotations

import csv
from pathlib import Path

from emulator.output_files import write_whole
from emulator.scenario.runner import fleet_of_copies

STATS_COLUMNS = ("kind", "name", "unit", "copies", "attempts", "admitted", "rejected", "busy", "blocked", "blocking",
                 "offered_erlangs", "carried_erlangs", "effective", "peak", "mean_in_use", "refused")
REFUSAL_COLUMNS = ("unit", "reason", "detail", "count")
STEP_COLUMNS = ("traffic", "step", "from_s", "to_s", "calls_per_hour", "offered_erlangs", "attempts", "admitted",
                "rejected", "busy", "blocked", "blocking")


def stats_rows(data: dict) -> list[dict]:
    rows = [{"kind": "traffic", "name": t["name"], "unit": t["unit"], "copies": t["copies"], "attempts": t["attempts"],
             "admitted": t["admitted"], "rejected": t["rejected"], "busy": t["busy"], "blocked": t["blocked"],
             "blocking": f"{t['blocking']:.6f}", "offered_erlangs": f"{t['offered_erlangs']:.4f}",
             "carried_erlangs": "" if t["carried_erlangs"] is None else f"{t['carried_erlangs']:.4f}",
             "refused": t["rejected"]} for t in data["traffic"]]
    for group, units in _groups(data).items():
        pools: dict[str, list[dict]] = {}
        for unit in units:
            for pool in unit["pools"]:
                pools.setdefault(pool["pool"], []).append(pool)
        for pool_id, entries in pools.items():
            rows.append({"kind": "pool", "name": pool_id, "unit": group, "copies": len(units),
                         "effective": max(p["effective"] for p in entries), "peak": max(p["peak"] for p in entries),
                         "mean_in_use": f"{sum(p['mean_in_use'] for p in entries) / len(units):.4f}",
                         "refused": sum(sum(p["refused"].values()) for p in entries)})
    return rows


def refusal_rows(data: dict) -> list[dict]:
    return [{"unit": unit["name"], **r} for unit in data["units"] for r in unit["calls"]["rejections"]]


def _groups(data: dict) -> dict[str, list[dict]]:
    """Units by fleet (a fleet's copies together, under its name) or alone."""
    copy_of = fleet_of_copies(data)
    groups: dict[str, list[dict]] = {}
    for unit in data["units"]:
        groups.setdefault(copy_of.get(unit["name"], unit["name"]), []).append(unit)
    return groups


def write_csv(prefix: Path, data: dict) -> list[Path]:
    """PREFIX_stats.csv, PREFIX_refusals.csv, PREFIX_steps.csv when a traffic source ramps and,
    when the run sampled its pools, PREFIX_history.csv; each whole or not at all."""
    written = [_table(Path(f"{prefix}_stats.csv"), STATS_COLUMNS, stats_rows(data)),
               _table(Path(f"{prefix}_refusals.csv"), REFUSAL_COLUMNS, refusal_rows(data))]
    steps = [{"traffic": t["name"], **s, "blocking": f"{s['blocking']:.6f}"}
             for t in data["traffic"] for s in t.get("steps", [])]
    if steps:
        written.append(_table(Path(f"{prefix}_steps.csv"), STEP_COLUMNS, steps))
    samples = data.get("samples") or {}
    series = [name for name in samples if name != "t"]
    if samples.get("t") and series:
        columns = ("t", *(f"{name} {what}" for name in series for what in ("in_use", "limit")))
        rows = [{"t": t, **{f"{name} in_use": samples[name][0][i] for name in series},
                 **{f"{name} limit": samples[name][1][i] for name in series}} for i, t in enumerate(samples["t"])]
        written.append(_table(Path(f"{prefix}_history.csv"), columns, rows))
    return written


EXTERNAL_HISTORY_COLUMNS = ("t", "answered", "refused", "answered_in_interval", "refused_in_interval", "p50_ms",
                            "p99_ms", "max_ms")


def write_external_csv(prefix: Path, data: dict) -> list[Path]:
    """External mode (ipo-emu load --target): PREFIX_stats.csv and PREFIX_refusals.csv with the
    columns of a scenario run's, and PREFIX_history.csv with a row a second (docs/load.md)."""
    stats = [{"kind": "traffic", "name": t["name"], "unit": t["unit"], "copies": t["copies"],
              "attempts": t["attempts"], "admitted": t["admitted"], "rejected": t["rejected"], "busy": t["busy"],
              "blocked": t["blocked"], "blocking": f"{t['blocking']:.6f}", "refused": t["rejected"]}
             for t in data["traffic"]]
    stats += [{"kind": "pool", "name": p["pool"], "unit": "(driven units)", "copies": p["units"],
               "effective": p["effective"], "peak": p["peak"], "refused": p["refused"]} for p in data["pools"]]
    written = [_table(Path(f"{prefix}_stats.csv"), STATS_COLUMNS, stats),
               _table(Path(f"{prefix}_refusals.csv"), REFUSAL_COLUMNS, data["refusals"])]
    timeline = data["timeline"]
    pools = sorted(timeline["pools"])
    columns = (*EXTERNAL_HISTORY_COLUMNS, *(f"{p} {what}" for p in pools for what in ("in_use", "limit")))
    from hdrh.histogram import HdrHistogram

    rows = []
    refused = [sum(series[i] for series in timeline["refused"].values()) for i in range(len(timeline["t"]))]
    for i, t in enumerate(timeline["t"]):
        h = HdrHistogram.decode(timeline["latency_hdr"][i].encode())
        counted = h.get_total_count()
        rows.append({"t": t, "answered": timeline["offered"][i], "refused": refused[i],
                     "answered_in_interval": timeline["offered"][i] - (timeline["offered"][i - 1] if i else 0),
                     "refused_in_interval": refused[i] - (refused[i - 1] if i else 0),
                     "p50_ms": f"{h.get_value_at_percentile(50) / 1000:.3f}" if counted else "",
                     "p99_ms": f"{h.get_value_at_percentile(99) / 1000:.3f}" if counted else "",
                     "max_ms": f"{h.get_max_value() / 1000:.3f}" if counted else "",
                     **{f"{p} in_use": timeline["pools"][p]["in_use"][i] for p in pools},
                     **{f"{p} limit": timeline["pools"][p]["limit"][i] for p in pools}})
    written.append(_table(Path(f"{prefix}_history.csv"), columns, rows))
    return written


def _table(path: Path, columns: tuple[str, ...], rows: list[dict]) -> Path:
    """One CSV file, whole or not at all."""
    def write(fh) -> None:
        out = csv.DictWriter(fh, columns, lineterminator="\n", extrasaction="ignore")
        out.writeheader()
        out.writerows(rows)

    write_whole(path, write)
    return path

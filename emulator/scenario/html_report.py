"""`--html report.html`: one self-contained page a person opens in any browser, offline.

Charts of license use, blocking and latency over the run, drawn by plotly.js (the page
carries its own copy: no network, nothing to install), above the figures of the text
report: traffic, pools, gates, invariants, expectations. Every number on the page is one
of the report's (`--report` holds the same), or a difference of two of its cumulative counts.

Built from the report's data and its `timeline` (scenario/timeline.py): a scenario run or a
load test (any number of workers), or an external load (emulator/external/driver.py), which
keeps a timeline of the same shape.
"""

from __future__ import annotations

import datetime
import html
import itertools
from collections.abc import Iterable

MAX_POOL_CHARTS = 8
"""Pools charted, the busiest first (every pool is in the tables)."""


class HtmlUnavailableError(RuntimeError):
    """plotly is not installed (the `html` extra)."""


def write_html(path, data: dict, *, title: str, kind: str) -> None:
    """kind: 'scenario' (simulated seconds) or 'external' (wall seconds)."""
    from emulator.output_files import write_whole

    page = render_html(data, title=title, kind=kind)
    write_whole(path, lambda fh: fh.write(page))


def render_html(data: dict, *, title: str, kind: str) -> str:
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise HtmlUnavailableError("--html needs plotly: pip install 'ipo-emu[html]'") from None
    timeline = data.get("timeline") or {}
    seconds = "wall-clock seconds from the start" if kind == "external" else "simulated seconds from the start"
    charts = []
    if timeline.get("t"):
        charts += [_pools_chart(timeline, seconds), _blocking_chart(timeline, seconds)]
        if timeline.get("latency_hdr"):
            charts.append(_latency_chart(timeline, seconds, kind))
    charts = [c for c in charts if c is not None]
    sections = "\n".join(_figure_html(fig, f"chart-{i}") for i, fig in enumerate(charts))
    if not charts:
        sections = "<p class='note'>No figures over time were kept for this run.</p>"
    body = "\n".join([
        f"<h1>{_e(title)}</h1>",
        f"<p class='note'>{_e(_subtitle(data, kind))}</p>",
        _summary(data, kind),
        "<h2>Over time</h2>", sections,
        _tables(data, kind),
        f"<p class='note'>Written by ipo-emu on {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC. "
        "The same figures are in the JSON report (--report).</p>",
    ])
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{_e(title)}</title>"
        f"<style>{_STYLE}</style><script>{get_plotlyjs()}</script></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


# -- charts -----------------------------------------------------------------------------------------


def _pools_chart(timeline: dict, seconds: str):
    from plotly.subplots import make_subplots
    import plotly.graph_objects as go

    pools = [(name, series) for name, series in timeline["pools"].items() if max(series["in_use"], default=0) > 0]
    pools.sort(key=lambda p: -max(p[1]["in_use"]))
    pools = pools[:MAX_POOL_CHARTS]
    if not pools:
        return None
    fig = make_subplots(rows=len(pools), cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        subplot_titles=[name for name, _ in pools])
    for row, (name, series) in enumerate(pools, start=1):
        fig.add_trace(go.Scatter(x=timeline["t"], y=series["in_use"], name=f"{name} in use", mode="lines",
                                 line={"shape": "hv", "width": 1.5}), row=row, col=1)
        fig.add_trace(go.Scatter(x=timeline["t"], y=series["limit"], name=f"{name} limit", mode="lines",
                                 line={"shape": "hv", "dash": "dash", "color": "#c0392b", "width": 1}), row=row, col=1)
    fig.update_xaxes(title_text=seconds, row=len(pools), col=1)
    fig.update_layout(title="Licenses and resources in use (summed over the units), against their limits",
                      height=180 + 170 * len(pools), showlegend=False, margin={"l": 60, "r": 20, "t": 80, "b": 50})
    return fig


def _blocking_chart(timeline: dict, seconds: str):
    from plotly.subplots import make_subplots
    import plotly.graph_objects as go

    t, offered = timeline["t"], timeline["offered"]
    if len(t) < 2 or not offered[-1]:
        return None
    ends = t[1:]
    new_offered = _steps(offered)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    total_refused = [0] * len(ends)
    for reason, series in sorted(timeline["refused"].items()):
        step = _steps(series)
        total_refused = [a + b for a, b in zip(total_refused, step, strict=True)]
        fig.add_trace(go.Bar(x=ends, y=step, name=f"refused: {reason}", opacity=0.6), secondary_y=True)
    blocking = [r / o if o else None for r, o in zip(total_refused, new_offered, strict=True)]
    fig.add_trace(go.Scatter(x=ends, y=blocking, name="blocking (refused / offered)", mode="lines+markers",
                             line={"color": "#2c3e50"}, marker={"size": 3}), secondary_y=False)
    fig.update_layout(title="Blocking per interval, and refusals by reason", barmode="stack", height=420,
                      margin={"l": 60, "r": 60, "t": 60, "b": 50}, legend={"orientation": "h", "y": -0.25})
    fig.update_yaxes(title_text="blocking", rangemode="tozero", secondary_y=False)
    fig.update_yaxes(title_text="refused calls", rangemode="tozero", secondary_y=True)
    fig.update_xaxes(title_text=f"{seconds} (end of each interval)")
    return fig


def _latency_chart(timeline: dict, seconds: str, kind: str):
    import plotly.graph_objects as go
    from hdrh.histogram import HdrHistogram

    points: dict[str, list] = {"p50": [], "p99": [], "max": []}
    xs = []
    for t, encoded in zip(timeline["t"], timeline["latency_hdr"], strict=True):
        h = HdrHistogram.decode(encoded.encode())
        if not h.get_total_count():
            continue
        xs.append(t)
        points["p50"].append(h.get_value_at_percentile(50) / 1000)
        points["p99"].append(h.get_value_at_percentile(99) / 1000)
        points["max"].append(h.get_max_value() / 1000)
    if not xs:
        return None
    fig = go.Figure()
    for name, ys in points.items():
        fig.add_trace(go.Scatter(x=xs, y=ys, name=name, mode="lines+markers", marker={"size": 3}))
    what = "offer round trip (command due to reply)" if kind == "external" else "admission latency (call due to decided)"
    fig.update_layout(title=f"{what.capitalize()} per interval, ms", height=380, yaxis_title="ms",
                      xaxis_title=f"{seconds} (end of each interval)", margin={"l": 60, "r": 20, "t": 60, "b": 50})
    return fig


def _steps(cumulative: list[int]) -> list[int]:
    return [b - a for a, b in itertools.pairwise(cumulative)]


def _figure_html(fig, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


# -- figures as tables --------------------------------------------------------------------------


def _subtitle(data: dict, kind: str) -> str:
    if kind == "external":
        return (f"External load of {data['units']} served unit(s) through {data['target']} (prefix "
                f"{data['prefix']}), {data['sending_s']:g} s at {data['rate_per_s']:g} calls/s asked")
    return (f"{data['clock']} clock, {data['duration_s']:g} s from {data['start']}, seed {data['seed']}; "
            f"ran in {data['wall_s']:.3f} s wall")


def _summary(data: dict, kind: str) -> str:
    rows: list[tuple[str, str]] = []
    if kind == "external":
        rows += [("calls offered", f"{data['offers']:,} ({data['achieved_rate_per_s']:,.1f}/s)"),
                 ("replies / lost", f"{data['replies']:,} / {data['lost']:,}"),
                 ("decisions judged", f"{data['check']['judged']:,}"),
                 ("violations", f"{data['check']['violations']:,}")]
        latency = data["offer_latency"]
        if latency.get("count"):
            rows.append(("offer round trip", _percentiles(latency)))
        if data.get("interrupted_by"):
            rows.append(("interrupted", f"by {data['interrupted_by']}"))
        if data.get("fell_behind"):
            rows.append(("fell behind", "the sender could not keep to its schedule: the rate asked was not offered"))
    else:
        attempts = sum(t["attempts"] for t in data["traffic"])
        refused = sum(t["rejected"] for t in data["traffic"])
        rows += [("units", f"{len(data['units']):,}"), ("call attempts", f"{attempts:,}"),
                 ("refused", f"{refused:,}" + (f" ({refused / attempts:.2%})" if attempts else "")),
                 ("invariant violations", f"{len(data['invariants']['violations']):,}")]
        if data.get("admission_latency"):
            rows.append(("admission latency", _percentiles(data["admission_latency"])))
        if data.get("interrupted"):
            rows.append(("interrupted", f"by {data['interrupted']} after {data['simulated_s']:g} s of "
                                        f"{data['duration_s']:g} s"))
        if data.get("clock_lag") and not data.get("kept_up", True):
            rows.append(("fell behind", "the wall clock fell behind: timings cannot be trusted"))
        expectations = data.get("expectations") or []
        if expectations:
            ok = sum(e["ok"] for e in expectations)
            rows.append(("expectations", f"{ok} of {len(expectations)} hold"))
    gates = data.get("gates") or {}
    if gates.get("failed"):
        rows.append(("gates failed", "; ".join(gates["failed"])))
    elif gates and (gates.get("max_blocking") is not None or gates.get("max_p99_ms") is not None):
        rows.append(("gates", "all hold"))
    bad = {"violations", "gates failed", "interrupted", "fell behind", "invariant violations"}
    cells = "".join(f"<tr{' class=bad' if k in bad and v not in ('0',) else ''}><th>{_e(k)}</th><td>{_e(v)}</td></tr>"
                    for k, v in rows)
    return f"<table class='summary'>{cells}</table>"


def _percentiles(h: dict) -> str:
    return (f"p50 {h['p50_ms']:.3f} ms, p90 {h['p90_ms']:.3f}, p99 {h['p99_ms']:.3f}, "
            f"p99.9 {h['p99_9_ms']:.3f}, max {h['max_ms']:.3f} ms")


def _tables(data: dict, kind: str) -> str:
    parts = []
    if kind == "external":
        parts.append(_table("Decisions by traffic source", ["traffic", "unit", "attempts", "admitted", "busy user",
                                                             "blocked", "blocking", "refusals (reason/pool)"],
                            ([t["name"], t["unit"], f"{t['attempts']:,}", f"{t['admitted']:,}", f"{t['busy']:,}",
                              f"{t['blocked']:,}", f"{t['blocking']:.4f}",
                              ", ".join(f"{k} {v:,}" for k, v in t["refusals"].items())]
                             for t in data["traffic"])))
        parts.append(_table("Pools of the driven units (last published state; refusals during the run)",
                            ["pool", "units", "highest limit", "highest peak", "refused"],
                            ([p["pool"], f"{p['units']:,}", f"{p['effective']:,}", f"{p['peak']:,}",
                              f"{p['refused']:,}"] for p in data["pools"] if p["peak"] or p["refused"])))
        findings = data["check"]["findings"]
        if findings:
            parts.append(_table("Violations (first 200)", ["finding"], ([f] for f in findings)))
        return "\n".join(parts)
    parts.append(_table("Traffic", ["traffic", "unit", "copies", "attempts", "admitted", "refused", "blocking",
                                    "offered E/copy", "carried E/copy"],
                        ([t["name"], t["unit"], f"{t.get('copies', 1):,}", f"{t['attempts']:,}", f"{t['admitted']:,}",
                          f"{t['rejected']:,}", f"{t['blocking']:.4f}", f"{t['offered_erlangs']:.3f}",
                          "" if t["carried_erlangs"] is None else f"{t['carried_erlangs']:.3f}"]
                         for t in data["traffic"])))
    for t in data["traffic"]:
        if t.get("steps"):
            parts.append(_table(f"Ramp steps of {t['name']}", ["step", "from s", "to s", "calls/h per copy",
                                                               "offered E per copy", "attempts", "admitted",
                                                               "busy user", "blocked", "blocking"],
                                ([str(s["step"]), f"{s['from_s']:g}", f"{s['to_s']:g}", f"{s['calls_per_hour']:g}",
                                  f"{s['offered_erlangs']:.2f}", f"{s['attempts']:,}", f"{s['admitted']:,}",
                                  f"{s['busy']:,}", f"{s['blocked']:,}", f"{s['blocking']:.4f}"]
                                 for s in t["steps"])))
    pools: dict[str, dict] = {}
    for unit in data["units"]:
        for pool in unit["pools"]:
            entry = pools.setdefault(pool["pool"], {"units": 0, "effective": 0, "peak": 0, "refused": {}})
            entry["units"] += 1
            entry["effective"] = max(entry["effective"], pool["effective"])
            entry["peak"] = max(entry["peak"], pool["peak"])
            for reason, n in pool["refused"].items():
                entry["refused"][reason] = entry["refused"].get(reason, 0) + n
    parts.append(_table("Pools over the units (highest limit and peak of any unit; refusals of all)",
                        ["pool", "units", "highest limit", "highest peak", "refused"],
                        ([p, f"{e['units']:,}", f"{e['effective']:,}", f"{e['peak']:,}",
                          ", ".join(f"{k} {v:,}" for k, v in e["refused"].items()) or "-"]
                         for p, e in pools.items() if e["peak"] or e["refused"] or e["effective"])))
    violations = data["invariants"]["violations"]
    if violations:
        parts.append(_table("Invariant violations", ["violation"], ([v] for v in violations)))
    expectations = data.get("expectations") or []
    if expectations:
        parts.append(_table("Expectations", ["", "expectation", "actual", "expected"],
                            (["✔" if e["ok"] else "✘", e["text"], str(e["actual"]), str(e["expected"])]
                             for e in expectations)))
    return "\n".join(parts)


def _table(title: str, columns: list[str], rows: Iterable[list[str]]) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(str(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<h2>{_e(title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#222;
padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem}
.note{color:#666}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:left;vertical-align:top}
thead th{background:#f4f6f8}
table.summary th{background:#f4f6f8;width:14rem}
tr.bad td{color:#b03a2e;font-weight:600}
"""

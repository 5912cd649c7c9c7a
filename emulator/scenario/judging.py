"""Judging a scenario's expectations from its report's figures, and merging the reports of a
run split into shards (ipo-emu run --workers).

Expectations are judged on the report's data, never on live objects: so a figure that
passes is one the report shows, and the shards of a run, merged, are judged exactly like
one process's run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from emulator.scenario.schema import Expectation, Scenario
from emulator.scenario.sizing import erlang_b
from emulator.rules.unit_core import APPEARANCE_POOL


@dataclass
class ExpectationResult:
    text: str
    ok: bool
    actual: Any
    expected: str


def judge_all(scenario: Scenario, units_named, data: dict) -> list[ExpectationResult]:
    return [judge(scenario, units_named, data, i, e) for i, e in enumerate(scenario.expect)]


def judge(scenario: Scenario, units_named, data: dict, index: int, exp: Expectation) -> ExpectationResult:
    """units_named(name): the units a name stands for (a fleet's copies)."""
    kind = exp.kind
    sel = getattr(exp, kind)
    unit_name = scenario.unit_name(getattr(sel, "unit", None))
    names = set(units_named(unit_name))
    units = [u for u in data["units"] if u["name"] in names]
    text = f"{kind}({', '.join(f'{k}={v}' for k, v in sel.model_dump(exclude_none=True).items() if v != {})})"
    if kind == "license":
        statuses = [lic["status"] for u in units for lic in u["licenses"] if lic["feature"] == sel.feature]
        ok = bool(statuses) and all(s == exp.status for s in statuses)
        shown = statuses if len(statuses) <= 4 else dict(Counter(statuses))  # a fleet's: counted
        return ExpectationResult(text, ok, shown or "no such key installed", f"status {exp.status}")
    if kind == "blocking":
        row = next(t for t in data["traffic"] if t["name"] == sel.traffic)
        if sel.step is not None:  # one step of a ramp: the calls offered during it
            step = row["steps"][sel.step - 1] if sel.step <= len(row["steps"]) else None
            if step is None:
                return ExpectationResult(text, False, "the run ended before this step", "the step to run")
            measured, offered = step["blocking"], step["offered_erlangs"]
        else:
            counted = row["after_warm_up"]["counted"]
            measured = row["after_warm_up"]["blocked"] / counted if counted else 0.0
            offered = row["busy_erlangs"]  # per copy: each copy of a fleet alike
        if exp.erlang_b is not None:
            target = erlang_b(exp.erlang_b, offered)
            expected = f"Erlang-B({exp.erlang_b}, {offered:.2f} E) = {target:.4f} ± {exp.tolerance:g}"
        else:
            target = exp.equals
            expected = f"{target:g} ± {exp.tolerance:g}"
        return ExpectationResult(text, abs(measured - target) <= exp.tolerance, round(measured, 6), expected)
    actual = _count(data, index, kind, sel, units)
    checks = []
    if exp.equals is not None:
        checks.append((actual == exp.equals, f"= {exp.equals:g}"))
    if exp.at_least is not None:
        checks.append((actual >= exp.at_least, f">= {exp.at_least:g}"))
    if exp.at_most is not None:
        checks.append((actual <= exp.at_most, f"<= {exp.at_most:g}"))
    return ExpectationResult(text, all(ok for ok, _ in checks), actual, " and ".join(t for _, t in checks))


def _count(data: dict, index: int, kind: str, sel: Any, units: list[dict]) -> float:
    if kind == "peak":  # a fleet: the highest copy's
        return max((_peak(u, sel.pool) for u in units), default=0)
    if kind == "events":
        return data["expectation_counts"].get(str(index), 0)
    if sel.traffic is not None:
        row = next(t for t in data["traffic"] if t["name"] == sel.traffic)
        admitted, rejections = row["admitted"], row["rejections"]
    else:  # a fleet: its copies add up
        admitted = sum(u["calls"]["admitted"] for u in units)
        rejections = [r for u in units for r in u["calls"]["rejections"]]
    rejected = sum(r["count"] for r in rejections
                   if (sel.reason is None or r["reason"] == sel.reason.value)
                   and (sel.detail is None or r["detail"] == sel.detail))
    if sel.outcome == "admitted":
        return admitted
    if sel.outcome == "rejected":
        return rejected
    return admitted + sum(r["count"] for r in rejections)


def _peak(unit: dict, pool: str) -> int:
    for row in unit["pools"]:
        if row["pool"] == pool:
            return row["peak"]
    if pool.startswith(APPEARANCE_POOL):  # call appearances: reported per busy user, when used
        return next((e["peak"] for e in unit["extensions"] if e["extension"] == pool[4:]), 0)
    return 0  # a pool the report leaves out was never used

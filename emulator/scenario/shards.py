"""A run split over processes (ipo-emu run --workers N): shards of units, run apart, merged.

Units that share nothing run apart without changing what any of them decides: a Small
Community Network (units joined by lines or a central voicemail) always stays in one shard,
and a fleet's copies are spread over the shards in runs of consecutive copies. Each copy
draws its calls from the seed, the source and its own number, so every unit's figures, and
hence the totals, are the same for any number of workers.

Each worker loads the scenario file itself (the same file, secret and random seed give the same
keys) and runs its shard on a virtual clock; the parent merges the shards' reports and
judges the expectations on the merged figures (judging.py), as for one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from emulator.runtime.network import networks_of
from emulator.scenario.judging import judge_all
from emulator.scenario.live_console import LiveConsole, ShardedConsole, shard_console
from emulator.scenario.loader import LoadedScenario
from emulator.scenario.timeline import merge_timelines
from emulator.scenario.runner import (
    RunOptions,
    RunResult,
    ScenarioRunner,
    step_row,
    traffic_row,
    traffic_warnings,
)

MAX_WORKERS = 256


def plan_shards(loaded: LoadedScenario, workers: int) -> list[list[str]]:
    """Unit names per shard: networks whole, fleets cut into runs of copies, balanced by units."""
    in_fleet = {c for copies in loaded.copies.values() for c in copies}
    groups: list[list[str]] = []
    for network in networks_of([u for u in loaded.units if u.name not in in_fleet]):
        groups.append([u.name for u in network])
    for copies in loaded.copies.values():
        size = -(-len(copies) // workers)
        groups += [copies[i:i + size] for i in range(0, len(copies), size)]
    shards: list[list[str]] = [[] for _ in range(workers)]
    for group in sorted(groups, key=len, reverse=True):
        min(shards, key=len).extend(group)
    order = {name: i for i, name in enumerate(loaded.unit_order)}
    return [sorted(shard, key=order.__getitem__) for shard in shards if shard]


def run_shard(text: str, path: str, secret: bytes | None, revoked: dict, names: list[str], seed: int | None,
              realtime: bool = False, speed: float = 1.0, max_lag_s: float = 0.25, timeline: bool = False,
              console_queue=None, shard_index: int = 0) -> dict:
    """In a worker process, here or on a Dask worker elsewhere: this shard's report (without
    samples). Given the file's text (a remote worker cannot read the file); on the wall clock
    each worker keeps its own clock."""
    from emulator.scenario.loader import parse_scenario

    shard = parse_scenario(text, Path(path), secret, only=set(names))  # (only its own units are built)
    shard.revoked = revoked
    options = RunOptions(seed=seed, realtime=realtime, speed=speed, max_lag_s=max_lag_s, timeline=timeline,
                         pool_samples=False,
                         console=shard_console(console_queue, shard_index) if console_queue is not None else None)
    result = asyncio.run(ScenarioRunner(shard, options).run())
    return {k: v for k, v in result.data.items() if k not in ("samples", "expectations")}


def run_in_shards(loaded: LoadedScenario, workers: int, *, secret: bytes | None, seed: int | None,
                  realtime: bool = False, speed: float = 1.0, max_lag_s: float = 0.25,
                  cluster: str | None = None, timeline: bool = False, console: LiveConsole | None = None) -> RunResult:
    """Called with no event loop running. Here, workers are forked where the platform can
    (they start with everything imported), else spawned; with `cluster`, the shards are
    tasks of that Dask scheduler's workers, wherever they run."""
    shards = plan_shards(loaded, workers)
    text = loaded.path.read_text(encoding="utf-8")
    args = [(text, str(loaded.path), secret, loaded.revoked, shard, seed, realtime, speed, max_lag_s, timeline)
            for shard in shards]
    if cluster is not None:
        parts = _on_cluster(cluster, args)
    else:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        context = multiprocessing.get_context(method)
        with contextlib.ExitStack() as stack:
            if console is not None:  # the workers send their counts; rows are printed here
                queue = stack.enter_context(context.Manager()).Queue()
                rows = ShardedConsole(console, len(shards), queue).start()
                stack.callback(rows.stop)
                args = [(*a, queue, i) for i, a in enumerate(args)]
            pool = stack.enter_context(ProcessPoolExecutor(max_workers=len(shards), mp_context=context))
            parts = [future.result() for future in [pool.submit(run_shard, *a) for a in args]]
    data = merge(loaded, parts)
    data["workers"] = {"count": len(shards), "units_per_worker": [len(s) for s in shards]}
    expectations = judge_all(loaded.scenario, loaded.units_named, data)
    data["expectations"] = [{"text": r.text, "ok": r.ok, "actual": r.actual, "expected": r.expected}
                            for r in expectations]
    data["passed"] = all(r.ok for r in expectations) and not data["invariants"]["violations"]
    return RunResult(data, expectations)


class ClusterError(RuntimeError):
    """The Dask cluster cannot be used (the message says why, in one line)."""


def _on_cluster(address: str, args: list[tuple]) -> list[dict]:
    try:
        from distributed import Client
    except ImportError:
        raise ClusterError("--cluster needs Dask distributed: pip install 'ipo-emu[cluster]'") from None
    try:
        client = Client(address, timeout=10)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"--cluster {address}: cannot reach the scheduler ({exc})") from None
    with client:
        futures = [client.submit(run_shard, *a, pure=False) for a in args]
        return client.gather(futures)


def merge(loaded: LoadedScenario, parts: list[dict]) -> dict:
    """One report from the shards' reports: units in the file's order, a traffic source's
    counts added up over the shards and its per-copy erlangs averaged by copies."""
    order = {name: i for i, name in enumerate(loaded.unit_order)}
    units = sorted((u for p in parts for u in p["units"]), key=lambda u: order[u["name"]])
    rows: dict[str, list[dict]] = {}
    for part in parts:
        for row in part["traffic"]:
            rows.setdefault(row["name"], []).append(row)
    grade = loaded.scenario.sizing.grade_of_service
    traffic = []
    for spec in loaded.scenario.traffic:
        shard_rows = rows.get(spec.name, [])
        traffic.append(_merge_rows(spec.name, loaded.scenario.unit_name(spec.unit), shard_rows, grade,
                                   spec.all_refused))
    counts: Counter[str] = Counter()
    for part in parts:
        counts.update(part["expectation_counts"])
    first = parts[0]
    warnings = list(dict.fromkeys(w for p in parts for w in p["warnings"] if not w.startswith("traffic ")))
    invariants = {"units_checked": sum(p["invariants"]["units_checked"] for p in parts),
                  "violations": [v for p in parts for v in p["invariants"]["violations"]]}
    lag_free = all(p["kept_up"] for p in parts)  # (each worker judged its own clock against --max-lag)
    latency = _merge_latency(parts)
    return {**first, **latency, "units": units, "traffic": traffic, "expectation_counts": dict(counts),
            "invariants": invariants,
            "warnings": warnings + traffic_warnings(traffic), "kept_up": lag_free,
            "interrupted": next((p["interrupted"] for p in parts if p["interrupted"]), None),
            "wall_s": max(p["wall_s"] for p in parts), "callbacks": sum(p["callbacks"] for p in parts),
            "events_written": None, "samples": {"t": []}, "file": str(loaded.path),
            "timeline": merge_timelines([p.get("timeline") for p in parts]),
            "fleets": {name: {"copies": len(c), "first": c[0], "last": c[-1]} for name, c in loaded.copies.items()}}


def _merge_latency(parts: list[dict]) -> dict:
    """On the wall clock: the workers' HDR histograms added up (admissions, callback lateness)."""
    if not parts[0].get("admission_latency"):
        return {}
    from hdrh.histogram import HdrHistogram

    from emulator.runtime.clock import percentiles_ms

    admissions, lateness = (HdrHistogram.decode(parts[0]["admission_latency"][k].encode()) for k in ("hdr", "lateness_hdr"))
    for part in parts[1:]:
        admissions.add(HdrHistogram.decode(part["admission_latency"]["hdr"].encode()))
        lateness.add(HdrHistogram.decode(part["admission_latency"]["lateness_hdr"].encode()))
    lag = parts[0]["clock_lag"]
    return {"admission_latency": {"calls": admissions.get_total_count(), **percentiles_ms(admissions),
                                  "hdr": admissions.encode().decode("ascii"),
                                  "lateness_hdr": lateness.encode().decode("ascii")},
            "clock_lag": {"callbacks": lateness.get_total_count(), **percentiles_ms(lateness),
                          "limit_ms": lag["limit_ms"]}}


def _merge_rows(name: str, unit: str, rows: list[dict], grade: float, all_refused: bool) -> dict:
    copies = sum(r["copies"] for r in rows) or 1
    rejections: Counter[tuple[str, str]] = Counter()
    for r in rows:
        for j in r["rejections"]:
            rejections[(j["reason"], j["detail"])] += j["count"]

    def total(key: str) -> int:
        return sum(r[key] for r in rows)

    def per_copy(key: str) -> float | None:
        if any(r[key] is None for r in rows):
            return None
        return sum(r[key] * r["copies"] for r in rows) / copies

    return traffic_row(name, unit, copies=copies, all_refused=all_refused, grade=grade, attempts=total("attempts"),
                       admitted=total("admitted"), rejected=total("rejected"), busy=total("busy"),
                       rejections=rejections, offered_erlangs=per_copy("offered_erlangs") or 0.0,
                       busy_erlangs=per_copy("busy_erlangs") or 0.0, carried_erlangs=per_copy("carried_erlangs"),
                       warm_up_blocked=sum(r["after_warm_up"]["blocked"] for r in rows),
                       warm_up_counted=sum(r["after_warm_up"]["counted"] for r in rows),
                       steps=_merge_steps([r["steps"] for r in rows]))


def _merge_steps(parts: list[list[dict]]) -> list[dict]:
    """A ramp's steps over the shards: counts added up (the steps are the same everywhere)."""
    parts = [p for p in parts if p]
    if not parts:
        return []
    return [step_row(first["step"], first["from_s"], first["to_s"], first["calls_per_hour"], first["offered_erlangs"],
                     *(sum(p[i][key] for p in parts) for key in ("attempts", "rejected", "busy")))
            for i, first in enumerate(parts[0][:min(len(p) for p in parts)])]


__all__ = ["MAX_WORKERS", "merge", "plan_shards", "run_in_shards"]

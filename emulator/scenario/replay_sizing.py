"""Sizing from a replayed history: how many of each pool the recorded calls needed.

Every figure comes from replaying the calls through the units again, with pools pinned to
a what-if limit (CountedPool.pin), never from a model beside them:

1. the plan as written: its report, and which pools the calls use;
2. every pool the calls use pinned without limit: each pool's peak is what refuses nothing
   (a call's extension appearances stay as configured: phones are not sized here);
3. with --max-refused above 0, for each pool alone (the others without limit) the fewest
   instances that refuse at most that share of the calls, by bisection on replays;
4. all the recommendations together, replayed once more: what they refuse between them is
   reported as measured, even when it is more than any one of them alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from emulator.licensing.pool import LicensePool
from emulator.scenario.loader import LoadedScenario
from emulator.scenario.runner import RunOptions, RunResult, ScenarioRunner
from emulator.rules.unit_core import APPEARANCE_POOL

UNLIMITED = 1_000_000


@dataclass
class PoolAdvice:
    unit: str
    pool: str
    kind: str
    """licenses, line channels, VCM channels or instances: what to buy or configure."""
    planned: int
    """The plan's effective limit."""
    capacity: int | None
    """The control unit's cap (None where the pool has none)."""
    needed: int
    refused_alone: int
    """Calls this pool alone refuses at `needed` (the other pools without limit)."""

    def as_dict(self) -> dict:
        return {"unit": self.unit, "pool": self.pool, "kind": self.kind, "planned": self.planned,
                "capacity": self.capacity, "needed": self.needed, "refused_alone": self.refused_alone,
                "exceeds_capacity": self.capacity is not None and self.needed > self.capacity}


@dataclass
class ReplaySizing:
    max_refused: float
    calls: int
    """Calls offered (replayed and not skipped), the base of the share."""
    budget: int
    """Refusals allowed per pool: floor(max_refused x calls)."""
    advice: list[PoolAdvice]
    together_refused: int
    together_rejections: list[dict]
    replays: int

    def as_dict(self) -> dict:
        return {"max_refused": self.max_refused, "calls": self.calls, "budget": self.budget,
                "pools": [a.as_dict() for a in self.advice], "together_refused": self.together_refused,
                "together_share": self.together_refused / self.calls if self.calls else 0.0,
                "together_rejections": self.together_rejections, "replays": self.replays}


def _kind(pool_id: str, pool: object) -> str:
    if pool_id.startswith("trunk:"):
        return "line channels"
    if pool_id == "vcm_channels":
        return "VCM channels"
    return "licenses" if isinstance(pool, LicensePool) else "instances"


class _Replayer:
    def __init__(self, loaded: LoadedScenario, progress: Callable[[str], None] | None) -> None:
        self.loaded = loaded
        self.progress = progress
        self.replays = 0

    async def run(self, pins: dict[str, dict[str, int]], what: str) -> tuple[ScenarioRunner, RunResult]:
        self.replays += 1
        if self.progress is not None:
            self.progress(f"replay {self.replays}: {what}")
        runner = ScenarioRunner(self.loaded, RunOptions(pins=pins, pool_samples=False))
        result = await runner.run()
        return runner, result


def _offered(result: RunResult) -> int:
    return sum(r["offered"] for r in result.data["replay"])


def _refused_by(result: RunResult, unit: str, pool: str) -> int:
    return sum(j["count"] for r in result.data["replay"] if r["unit"] == unit for j in r["rejections"]
               if j["detail"] == pool)


async def replay_and_size(loaded: LoadedScenario, max_refused: float = 0.0, *,
                          progress: Callable[[str], None] | None = None) -> tuple[RunResult, ReplaySizing]:
    """The plan's own run, and the sizing of every pool its replayed calls use."""
    if not 0 <= max_refused < 1:
        raise ValueError("the share of calls that may be refused is a fraction from 0 to below 1")
    replayer = _Replayer(loaded, progress)
    runner, plan_result = await replayer.run({}, "the plan as written")
    units = sorted({loaded.scenario.unit_name(r.unit) for r in loaded.scenario.replay})
    pools = {unit: runner.network[unit].pools() for unit in units}
    sized = {unit: sorted(p for p in runner.network[unit].core.calls.pools_used() if not p.startswith(APPEARANCE_POOL))
             for unit in units}
    unlimited = {unit: {p: UNLIMITED for p in sized[unit]} for unit in units}
    runner, free_result = await replayer.run(unlimited, "every pool without limit")
    peaks = {(unit, p): runner.network[unit].pools()[p].peak for unit in units for p in sized[unit]}
    calls = _offered(free_result)
    budget = math.floor(max_refused * calls + 1e-9)
    advice = []
    for unit in units:
        for pool_id in sized[unit]:
            needed, refused = peaks[(unit, pool_id)], 0
            if budget:
                low, high = 0, needed  # at `high` nothing is refused
                while low < high:
                    middle = (low + high) // 2
                    pins = {u: dict(p) for u, p in unlimited.items()}
                    pins[unit][pool_id] = middle
                    _, result = await replayer.run(pins, f"{pool_id} at {middle}")
                    refused_here = _refused_by(result, unit, pool_id)
                    if refused_here <= budget:
                        high, refused = middle, refused_here
                    else:
                        low = middle + 1
                needed = high
            pool = pools[unit][pool_id]
            advice.append(PoolAdvice(unit, pool_id, _kind(pool_id, pool), pool.effective,
                                     getattr(pool, "capacity", None), needed, refused))
    together = {unit: {a.pool: a.needed for a in advice if a.unit == unit} for unit in units}
    _, together_result = await replayer.run(together, "every recommendation together")
    rejections: dict[tuple[str, str], int] = {}
    for replay in together_result.data["replay"]:
        for j in replay["rejections"]:
            rejections[(j["reason"], j["detail"])] = rejections.get((j["reason"], j["detail"]), 0) + j["count"]
    return plan_result, ReplaySizing(
        max_refused, calls, budget, advice, sum(r["refused"] for r in together_result.data["replay"]),
        [{"reason": r, "detail": d, "count": n} for (r, d), n in sorted(rejections.items())], replayer.replays)

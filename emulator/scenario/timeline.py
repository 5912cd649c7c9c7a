"""Whole-run figures over time, for the HTML report (`--html`): what a chart of license use,
blocking and latency needs, for every unit of a fleet together.

At each of the run's samples: calls offered and refused so far (refusals by reason), and
every pool's in-use and limit summed over all the units (a fleet's 200 copies of
sip_trunk_channels make one line); on the wall clock, the admission latency of the calls
decided since the previous sample, as an HDR histogram. Counts are cumulative, so shards
(--workers, --cluster) merge by adding them up point by point, and the histograms merge
exactly; the chart takes differences between points for "per interval" figures.

Kept only when asked for: summing every unit at every sample costs time on a big fleet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from operator import attrgetter

from emulator.licensing.pool import CountedPool
from emulator.rules.unit_core import APPEARANCE_POOL

_ADMITTED, _IN_USE = attrgetter("admitted"), attrgetter("in_use")
_EFFECTIVE, _CEILING = attrgetter("effective"), attrgetter("ceiling")



class Timeline:
    def __init__(self, window=None) -> None:
        """window: the wall clock's histogram of admissions since the last sample (None in
        virtual time); read and reset at each sample."""
        self.window = window
        self.t: list[float] = []
        self.offered: list[int] = []
        self.refused: dict[str, list[int]] = {}
        self.in_use: dict[str, list[int]] = {}
        self.limit: dict[str, list[int]] = {}
        self._pool_count = -1
        self._by_pool: dict[str, list] = {}
        """pool id -> that pool of every unit (call appearances left out): summed at each sample."""
        self._limits_seen = -1
        self._limits: dict[str, int] = {}
        self._live: dict[str, list] = {}
        """The pools of _by_pool that ever had a limit somewhere: the only ones that can be in use."""
        self.latency: list[str] = []
        """Per sample: the encoded histogram (microseconds) of the admissions since the last."""

    def sample(self, t: float, units: Sequence) -> None:
        n = len(self.t)
        cores = [unit.core for unit in units]
        pool_count = sum(len(core.engine.pools) for core in cores)
        if pool_count != self._pool_count:  # first time, or a license made a pool: look again
            self._pool_count = pool_count
            by_pool: dict[str, list] = {}
            for core in cores:
                for pool_id, pool in core.all_pools().items():
                    if not pool_id.startswith(APPEARANCE_POOL):
                        by_pool.setdefault(pool_id, []).append(pool)
            self._by_pool = by_pool
            self._limits_seen = -1
        if CountedPool.limits_changed != self._limits_seen:  # limits move with licenses and keys only
            self._limits_seen = CountedPool.limits_changed
            self._limits = {pool_id: sum(map(_EFFECTIVE, pools)) for pool_id, pools in self._by_pool.items()}
            # a pool that never had a limit in any unit holds nothing (in use <= the highest limit)
            self._live = {pool_id: pools for pool_id, pools in self._by_pool.items() if any(map(_CEILING, pools))}
        tables = [core.calls for core in cores]
        offered = sum(map(_ADMITTED, tables))
        refused: Counter[str] = Counter()
        for table in tables:
            for (reason, _), count in table.rejections.items():
                refused[reason] += count
        offered += sum(refused.values())
        in_use = dict.fromkeys(self._by_pool, 0)
        in_use.update((pool_id, sum(map(_IN_USE, pools))) for pool_id, pools in self._live.items())
        limit = self._limits
        self.t.append(round(t, 6))
        self.offered.append(offered)
        for series, now in ((self.refused, refused), (self.in_use, in_use), (self.limit, limit)):
            for key in now.keys() - series.keys():
                series[key] = [0] * n
            for key, values in series.items():
                values.append(now.get(key, 0))
        if self.window is not None:
            self.latency.append(self.window.encode().decode("ascii"))
            self.window.reset()

    def as_dict(self) -> dict:
        out = {"t": self.t, "offered": self.offered, "refused": self.refused,
               "pools": {p: {"in_use": self.in_use[p], "limit": self.limit[p]} for p in sorted(self.in_use)}}
        if self.window is not None:
            out["latency_hdr"] = self.latency
        return out


def merge_timelines(parts: list[dict]) -> dict | None:
    """Shards' timelines added up point by point (they sample at the same simulated times)."""
    parts = [p for p in parts if p]
    if not parts:
        return None
    length = min(len(p["t"]) for p in parts)
    first = parts[0]
    out = {"t": first["t"][:length], "offered": [sum(p["offered"][i] for p in parts) for i in range(length)],
           "refused": {}, "pools": {}}
    for reason in sorted({r for p in parts for r in p["refused"]}):
        out["refused"][reason] = [sum(p["refused"].get(reason, [0] * length)[i] for p in parts) for i in range(length)]
    for pool in sorted({q for p in parts for q in p["pools"]}):
        empty = {"in_use": [0] * length, "limit": [0] * length}
        out["pools"][pool] = {k: [sum(p["pools"].get(pool, empty)[k][i] for p in parts) for i in range(length)]
                              for k in ("in_use", "limit")}
    if all("latency_hdr" in p for p in parts):
        from hdrh.histogram import HdrHistogram

        merged = []
        for i in range(length):
            h = HdrHistogram.decode(parts[0]["latency_hdr"][i].encode())
            for p in parts[1:]:
                h.add(HdrHistogram.decode(p["latency_hdr"][i].encode()))
            merged.append(h.encode().decode("ascii"))
        out["latency_hdr"] = merged
    return out

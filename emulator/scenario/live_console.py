"""ipo-emu load's live rows: every twentieth of the run, what happened since the last row and
in total, per license pool in use and per refusal reason (like SIPp's periodic statistics)."""

from __future__ import annotations

from collections import Counter
from typing import TextIO


class LiveConsole:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._last_attempts = 0
        self._last_refusals: Counter[str] = Counter()
        self.rows = 0

    def __call__(self, runner, fraction: float) -> None:
        attempts = admitted = 0
        refusals: Counter[str] = Counter()
        in_use: Counter[str] = Counter()
        for unit in runner.network.units.values():
            attempts += unit.stats.calls_offered
            admitted += unit.stats.calls_admitted
            for (reason, _), n in unit.stats.call_rejections.items():
                refusals[reason] += n
            for pool_id, pool in unit.core.engine.pools.items():
                in_use[pool_id] += pool.in_use
        new = attempts - self._last_attempts
        new_refused = sum(refusals.values()) - sum(self._last_refusals.values())
        reasons = ", ".join(f"{r} {n - self._last_refusals[r]:,}" for r, n in refusals.most_common()
                            if n - self._last_refusals[r]) or "-"
        pools = ", ".join(f"{p} {n:,}" for p, n in sorted(in_use.items()) if n) or "-"
        if self.rows == 0:
            self.stream.write(f"{'done':>5} {'t':>10} {'calls':>10} {'refused':>9} {'all calls':>11} "
                              f"{'all refused':>11}  refused by (this row) | licenses in use\n")
        self.rows += 1
        self.stream.write(f"{fraction:>5.0%} {runner.clock.time() - runner.start:>9.0f}s {new:>10,} {new_refused:>9,} "
                          f"{attempts:>11,} {attempts - admitted:>11,}  {reasons} | {pools}\n")
        self.stream.flush()
        self._last_attempts, self._last_refusals = attempts, refusals

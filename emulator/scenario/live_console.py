"""ipo-emu load's live rows: every twentieth of the run, what happened since the last row and
in total, per license pool in use and per refusal reason (like SIPp's periodic statistics).

A row is made from counts (counts_of): the units of one process, or the sum of the counts
every worker sends at the same point of the run (`--workers N`), so several processes print
the same rows one would.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import TextIO


def counts_of(runner) -> dict:
    """What a row needs, from one process's units: plain data, to send between processes."""
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
    return {"t": runner.clock.time() - runner.start, "attempts": attempts, "admitted": admitted,
            "refusals": dict(refusals), "in_use": dict(in_use)}


class LiveConsole:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._last_attempts = 0
        self._last_refusals: Counter[str] = Counter()
        self.rows = 0

    def __call__(self, runner, fraction: float) -> None:
        self.row(fraction, counts_of(runner))

    def row(self, fraction: float, counts: dict) -> None:
        attempts, admitted = counts["attempts"], counts["admitted"]
        refusals = Counter(counts["refusals"])
        new = attempts - self._last_attempts
        new_refused = sum(refusals.values()) - sum(self._last_refusals.values())
        reasons = ", ".join(f"{r} {n - self._last_refusals[r]:,}" for r, n in refusals.most_common()
                            if n - self._last_refusals[r]) or "-"
        pools = ", ".join(f"{p} {n:,}" for p, n in sorted(counts["in_use"].items()) if n) or "-"
        if self.rows == 0:
            self.stream.write(f"{'done':>5} {'t':>10} {'calls':>10} {'refused':>9} {'all calls':>11} "
                              f"{'all refused':>11}  refused by (this row) | licenses in use\n")
        self.rows += 1
        self.stream.write(f"{fraction:>5.0%} {counts['t']:>9.0f}s {new:>10,} {new_refused:>9,} "
                          f"{attempts:>11,} {attempts - admitted:>11,}  {reasons} | {pools}\n")
        self.stream.flush()
        self._last_attempts, self._last_refusals = attempts, refusals


class ShardedConsole:
    """Rows of several worker processes: each sends (shard, fraction, counts) at every twentieth
    of its run into `queue`; a row is printed once every shard has reached that point, with
    their counts added up."""

    def __init__(self, console: LiveConsole, shards: int, queue) -> None:
        self.console = console
        self.shards = shards
        self.queue = queue
        self._thread = threading.Thread(target=self._read, name="live-rows", daemon=True)
        self._waiting: dict[float, list[dict]] = {}

    def start(self) -> ShardedConsole:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.queue.put(None)
        self._thread.join(timeout=5)

    def _read(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            _, fraction, counts = item
            key = round(fraction, 9)
            parts = self._waiting.setdefault(key, [])
            parts.append(counts)
            if len(parts) < self.shards:
                continue
            del self._waiting[key]
            merged = {"t": max(p["t"] for p in parts), "attempts": sum(p["attempts"] for p in parts),
                      "admitted": sum(p["admitted"] for p in parts), "refusals": Counter(), "in_use": Counter()}
            for p in parts:
                merged["refusals"].update(p["refusals"])
                merged["in_use"].update(p["in_use"])
            self.console.row(fraction, merged)


def shard_console(queue, shard: int):
    """A worker's console callback: its counts go to the parent, which prints the rows."""

    def send(runner, fraction: float) -> None:
        queue.put((shard, fraction, counts_of(runner)))

    return send

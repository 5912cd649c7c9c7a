"""Counted pools with loss semantics (refuse at once, never queue).

CountedPool is any limited resource (VCM channels, a trunk's channels); LicensePool is one
whose limit comes from licenses and the control unit's capacity.
"""

from __future__ import annotations

from emulator.reasons import Reason


class PoolUnderflowError(ValueError):
    """More instances released than are in use: a caller's bookkeeping bug."""


class CountedPool:
    """A limit, what is in use, and why a request beyond the limit is refused.

    in_use can exceed effective only after the limit drops: held instances stay held, and
    nothing is granted again until in_use is back below the limit.

    Every change is stamped with the time it happens, so the pool also keeps the exact
    time-weighted integral of in_use (instance-seconds, area_until): the mean in use over
    any window is that integral over the window's length, reproducible from the events
    alone. It costs one addition per change: the integral of in_use up to t equals the sum
    of release times minus the sum of acquire times, plus in_use x t for what is still held
    (`time_sum` keeps the two sums). `peak` is raised only once a whole admission has
    committed (see take_all).
    """

    __slots__ = ("pool_id", "effective", "in_use", "peak", "refusals", "_refusal", "time_sum", "pinned", "ceiling")

    limits_changed = 0
    """Counts every change of any pool's limit in this process (rare: licenses, keys, pins), so
    a reader of many pools' limits knows when to read them again (scenario/timeline.py)."""

    def __init__(self, pool_id: str, limit: int = 0, refusal: Reason = Reason.NOT_LICENSED) -> None:
        self.pool_id = pool_id
        self.effective = limit
        self.in_use = 0
        self.peak = 0
        self.refusals: dict[Reason, int] = {}
        self._refusal = refusal
        self.time_sum = 0.0  # release times minus acquire times, one term per instance
        self.pinned: int | None = None
        self.ceiling = limit
        """The highest limit the pool has had: its peak can never be above it (an invariant)."""
        if limit:
            CountedPool.limits_changed += 1

    def try_acquire(self, now: float, count: int = 1) -> Reason | None:
        """Take count instances at `now`; None when granted, else the reason for refusing."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        in_use = self.in_use + count
        if in_use <= self.effective:
            self.time_sum -= now * count
            self.in_use = in_use
            if in_use > self.peak:
                self.peak = in_use
            return None
        reason = self._refusal
        self.refusals[reason] = self.refusals.get(reason, 0) + 1
        return reason

    def release(self, now: float, count: int = 1) -> None:
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        if count > self.in_use:
            raise PoolUnderflowError(
                f"pool {self.pool_id}: releasing {count} with only {self.in_use} in use"
            )
        self.time_sum += now * count
        self.in_use -= count

    def area_until(self, now: float) -> float:
        """The integral of in_use from the pool's creation up to `now` (instance-seconds)."""
        return self.time_sum + self.in_use * now

    @property
    def available(self) -> int:
        return max(0, self.effective - self.in_use)

    @property
    def refusal_reason(self) -> Reason:
        """What a refusal would say now."""
        return self._refusal

    def count_refusal(self) -> Reason:
        """Count a refusal with the current reason, and return it."""
        reason = self._refusal
        self.refusals[reason] = self.refusals.get(reason, 0) + 1
        return reason

    def set_resource_limit(self, limit: int, refusal: Reason) -> None:
        """A plain resource: the limit is what the hardware or configuration provides."""
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        self._refusal = refusal
        self._set_effective(limit if self.pinned is None else self.pinned)

    def _set_effective(self, limit: int) -> None:
        if limit != self.effective:
            self.effective = limit
            CountedPool.limits_changed += 1
            if limit > self.ceiling:
                self.ceiling = limit

    def pin(self, limit: int) -> None:
        """What if this pool had `limit` instances, whatever licenses and hardware say: for
        sizing (ipo-emu replay --size). The limit holds through later license changes."""
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        self.pinned = limit
        self._set_effective(limit)


class LicensePool(CountedPool):
    """Instances of one license pool on one control unit: effective = min(licensed + free, capacity)."""

    __slots__ = ("consumed", "capacity", "licensed", "free")

    def __init__(self, pool_id: str, consumed: str, capacity: int | None) -> None:
        super().__init__(pool_id)
        self.consumed = consumed
        self.capacity = capacity
        self.licensed = 0
        self.free = 0

    def pin(self, limit: int) -> None:
        super().pin(limit)
        self._refusal = Reason.LICENSE_EXHAUSTED if limit else Reason.NOT_LICENSED

    def set_limit(self, licensed: int, free: int, empty_reason: Reason) -> None:
        """Recompute the limit from the licensed and free instances (engine use)."""
        self.licensed = licensed
        self.free = free
        if self.pinned is not None:
            return
        total = licensed + free
        cap = self.capacity
        self._set_effective(total if cap is None else min(total, cap))
        if self.effective == 0:
            self._refusal = empty_reason
        elif cap is not None and total > cap:
            self._refusal = Reason.CAPACITY_REACHED
        else:
            self._refusal = Reason.LICENSE_EXHAUSTED


def take_all(pools: tuple[CountedPool, ...], now: float, commit: bool = True) -> CountedPool | None:
    """One instance of every pool at `now`, or of none: returns the pool that refused, else None.

    The one admission path of every call, conference party and application: a refusal is
    counted in the refusing pool only, and peaks are raised only after every pool has
    granted, so a call refused by a later pool never shows in an earlier pool's peak.
    Undoing by position handles a pool listed twice (two VCM channels).

    commit=False takes the instances provisionally, without raising peaks: for an admission
    that another unit must also grant (a call across a network); raise_peaks() commits it.
    """
    taken = 0
    new_peak = False
    for pool in pools:
        in_use = pool.in_use
        if in_use >= pool.effective:
            for earlier in pools[:taken]:
                earlier.in_use -= 1
                earlier.time_sum += now
            reason = pool._refusal
            pool.refusals[reason] = pool.refusals.get(reason, 0) + 1
            return pool
        pool.in_use = in_use + 1
        pool.time_sum -= now
        if in_use >= pool.peak:
            new_peak = True
        taken += 1
    if new_peak and commit:  # rare: peaks stop moving once a load settles
        for pool in pools:
            if pool.in_use > pool.peak:
                pool.peak = pool.in_use
    return None


def raise_peaks(pools: tuple[CountedPool, ...]) -> None:
    """Commit a provisional take_all: peaks now count what it took."""
    for pool in pools:
        if pool.in_use > pool.peak:
            pool.peak = pool.in_use


def give_all(pools: tuple[CountedPool, ...], now: float) -> None:
    """Give back, at `now`, one instance of every pool (what take_all took)."""
    for pool in pools:
        in_use = pool.in_use
        if in_use < 1:
            raise PoolUnderflowError(f"pool {pool.pool_id}: releasing 1 with none in use")
        pool.in_use = in_use - 1
        pool.time_sum += now

"""Counted pools with loss semantics (refuse at once, never queue).

CountedPool is any limited resource (VCM channels, a trunk's channels); LicensePool is one
whose limit comes from licenses and the control unit's capacity.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

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

    __slots__ = ("pool_id", "effective", "in_use", "peak", "refusals", "_refusal", "time_sum", "pinned", "ceiling",
                 "shares")

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
        self.shares: list[tuple[object, int]] = []
        """(owner, instances): owners (a call's route) that keep the time sum of the instances
        they take from this pool themselves, one addition per admission instead of one per
        pool; area_until adds them in."""
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
        """The integral of in_use from the pool's creation up to `now` (instance-seconds).

        Summed exactly (math.fsum), so the figure does not depend on the order the shares
        were made in (routes are made when first needed, which differs between paths)."""
        return math.fsum([self.time_sum, self.in_use * now, *(owner.time_sum * n for owner, n in self.shares)])

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


class PoolCode:
    """The source text of an all-or-nothing admission over a fixed tuple of pools: the one rule
    every admission follows (calls, conference parties, applications), written out once per
    tuple so that admitting is a handful of attribute operations instead of a loop.

    The rule: one instance of every listed pool at `now`, or none. Every pool is checked before
    any is taken, in the listed order (a pool listed twice, e.g. two VCM channels, is checked
    for both), and the first that cannot grant is the refusal, counted in that pool only.
    Peaks are raised only when the whole admission is committed, so a refused call never
    shows in an earlier pool's peak. Giving back checks every pool before changing any, so a
    bookkeeping bug raises PoolUnderflowError and leaves the pools as they were.

    `names[i]` is the variable the generated code reads pool i from (`distinct` are the pools
    in first-listed order); `refusal` is the statement run when pool `{p}` refuses.
    """

    __slots__ = ("distinct", "names", "_taken", "_totals")

    def __init__(self, pools: tuple[CountedPool, ...], prefix: str = "p") -> None:
        self.distinct: list[CountedPool] = []
        self._taken: list[tuple[int, int]] = []  # (distinct index, instances taken so far), per listed pool
        totals: dict[int, int] = {}
        index_of: dict[int, int] = {}  # id(pool) -> its index in distinct
        for pool in pools:
            index = index_of.get(id(pool))
            if index is None:
                index = index_of[id(pool)] = len(self.distinct)
                self.distinct.append(pool)
            totals[index] = totals.get(index, 0) + 1
            self._taken.append((index, totals[index]))
        self._totals = totals
        self.names = [f"{prefix}{i}" for i in range(len(self.distinct))]

    @property
    def shape(self) -> tuple[tuple[int, int], ...]:
        """What the code depends on (not which pools): code is compiled once per shape."""
        return tuple(self._taken)

    def totals(self) -> dict[int, int]:
        """Instances taken of each distinct pool (by index), in first-listed order."""
        return self._totals

    def take(self, refusal: str, owned: PoolCode | None = None, owner: str = "") -> list[str]:
        """Lines that check every pool (running `refusal` for the first that cannot grant),
        then take them all at `now`; `u<name>` keep the counts before, for commit().

        owned: instances whose time sum `owner` keeps (CountedPool.shares), the pools of
        `owned` being among these; the rest are stamped in their pools."""
        owned_totals = {}
        if owned is not None:
            for index, total in owned.totals().items():
                owned_totals[self.distinct.index(owned.distinct[index])] = total
        lines, loaded = [], set()
        for index, so_far in self._taken:
            name = self.names[index]
            if index not in loaded:
                lines.append(f"u{name} = {name}.in_use")
                loaded.add(index)
            check = f"u{name} >= {name}.effective" if so_far == 1 else f"u{name} + {so_far} > {name}.effective"
            lines.append(f"if {check}: {refusal.format(p=name)}")
        for index, total in self.totals().items():
            name = self.names[index]
            lines.append(f"{name}.in_use = u{name} + {total}")
            stamped = total - owned_totals.get(index, 0)
            if stamped:
                lines.append(f"{name}.time_sum -= now" if stamped == 1 else f"{name}.time_sum -= now * {stamped}")
        if owned_totals:
            lines.append(f"{owner}.time_sum -= now")
        return lines

    def commit(self) -> list[str]:
        """Lines that raise the peaks to what take() took."""
        lines = []
        for index, total in self.totals().items():
            name = self.names[index]
            above = f"u{name}" if total == 1 else f"u{name} + {total - 1}"  # (u + total > peak)
            lines.append(f"if {above} >= {name}.peak: {name}.peak = u{name} + {total}")
        return lines

    def give(self, owner: str = "") -> list[str]:
        """Lines that give back, at `now`, what take() took (checked before anything changes);
        with `owner`, it keeps the time sum of them all (see take)."""
        totals = self.totals()
        lines, left, taken = [], [], []
        for index, total in totals.items():
            name = self.names[index]
            lines.append(f"g{name} = {name}.in_use - {total}")
            left.append(f"g{name}")
            taken.append(f"({name}, {total})")
        if left:
            lines.append(f"if {' or '.join(f'{g} < 0' for g in left)}: _underflow({', '.join(taken)})")
        for index, total in totals.items():
            name = self.names[index]
            lines.append(f"{name}.in_use = g{name}")
            if not owner:
                lines.append(f"{name}.time_sum += now" if total == 1 else f"{name}.time_sum += now * {total}")
        if owner:
            lines.append(f"{owner}.time_sum += now")
        return lines


FACTORIES: dict[tuple, Callable[..., Any]] = {}
"""Compiled generated code, by what its text depends on (its shape): admissions of pools,
calls' routes, traffic sources' loops. Generated code is compiled once per shape."""


def factory_for(key: tuple, source: Callable[[], str], filename: str, names: dict[str, Any] | None = None) -> Callable[..., Any]:
    """The compiled `factory` of the text source() gives for `key` (written and compiled on the
    first need only)."""
    factory = FACTORIES.get(key)
    if factory is None:
        factory = FACTORIES[key] = compile_factory(source(), "factory", filename, names)
    return factory


def compile_factory(source: str, name: str, filename: str, names: dict[str, Any] | None = None) -> Callable[..., Any]:
    """Compile generated source (a `def name(...)` building closures) and return that function;
    `names` are globals the source uses besides the helpers here."""
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), {"_underflow": _underflow, "_refused": _refused, **(names or {})},  # noqa: S102
         namespace)
    return namespace[name]


def indent(lines: list[str], depth: int) -> str:
    pad = "    " * depth
    return "".join(f"{pad}{line}\n" for line in lines) or f"{pad}pass\n"


def _underflow(*given: tuple[CountedPool, int]) -> None:
    """Raise for the first pool (of (pool, instances given back)) that has fewer in use."""
    for pool, count in given:
        if count > pool.in_use:
            raise PoolUnderflowError(f"pool {pool.pool_id}: releasing {count} with only {pool.in_use} in use")


def _refused(pool: CountedPool) -> CountedPool:
    """Count a refusal in the pool that refused, and return it."""
    pool.count_refusal()
    return pool


class Admission:
    """take(now, commit=True) and give(now) for one fixed tuple of pools (see PoolCode).

    take returns the pool that refused, else None. commit=False takes the instances
    provisionally, without raising peaks: for an admission another unit must also grant (a
    call across a network); raise_peaks() commits it.
    """

    __slots__ = ("pools", "take", "give")

    def __init__(self, pools: tuple[CountedPool, ...]) -> None:
        self.pools = pools
        code = PoolCode(pools)

        def source() -> str:
            return (f"def factory({', '.join(code.names)}):\n"
                    f"    def take(now, commit=True):\n{indent(code.take('return _refused({p})'), 2)}"
                    f"        if commit:\n{indent(code.commit(), 3)}"
                    f"        return None\n"
                    f"    def give(now):\n{indent(code.give(), 2)}"
                    f"    return take, give\n")

        factory = factory_for(("pools", code.shape), source, f"<admission of {len(pools)} pools>")
        self.take, self.give = factory(*code.distinct)


def take_all(pools: tuple[CountedPool, ...], now: float, commit: bool = True) -> CountedPool | None:
    """One instance of every pool at `now`, or of none: returns the pool that refused, else None.

    For callers that admit a tuple once in a while (applications, conference parties); the
    calls' routes keep their compiled admission (rules/calls.py). Both follow PoolCode.
    """
    return Admission(pools).take(now, commit)


def raise_peaks(pools: tuple[CountedPool, ...]) -> None:
    """Commit a provisional take_all: peaks now count what it took."""
    for pool in pools:
        if pool.in_use > pool.peak:
            pool.peak = pool.in_use


def give_all(pools: tuple[CountedPool, ...], now: float) -> None:
    """Give back, at `now`, one instance of every pool listed (what take_all took)."""
    Admission(pools).give(now)

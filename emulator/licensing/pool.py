"""A license pool: counted instances with loss semantics (refuse at once, never queue)."""

from __future__ import annotations

from emulator.reasons import Reason


class PoolUnderflowError(ValueError):
    """More instances released than are in use: a caller's bookkeeping bug."""


class LicensePool:
    """Instances of one pool on one control unit.

    effective = min(licensed + free, capacity). The engine sets licensed and the reason to
    give when refusing; callers only try_acquire and release. in_use can exceed effective
    only after the limit drops (expiry, lost key): held instances stay held, and nothing is
    granted again until in_use is back below the limit.
    """

    __slots__ = (
        "pool_id",
        "consumed",
        "capacity",
        "licensed",
        "free",
        "effective",
        "in_use",
        "peak",
        "granted",
        "refusals",
        "_refusal",
    )

    def __init__(self, pool_id: str, consumed: str, capacity: int | None) -> None:
        self.pool_id = pool_id
        self.consumed = consumed
        self.capacity = capacity
        self.licensed = 0
        self.free = 0
        self.effective = 0
        self.in_use = 0
        self.peak = 0
        self.granted = 0
        self.refusals: dict[Reason, int] = {}
        self._refusal = Reason.NOT_LICENSED

    def try_acquire(self, count: int = 1) -> Reason | None:
        """Take count instances; None when granted, else the reason for refusing."""
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        in_use = self.in_use + count
        if in_use <= self.effective:
            self.in_use = in_use
            self.granted += count
            if in_use > self.peak:
                self.peak = in_use
            return None
        reason = self._refusal
        self.refusals[reason] = self.refusals.get(reason, 0) + 1
        return reason

    def release(self, count: int = 1) -> None:
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        if count > self.in_use:
            raise PoolUnderflowError(
                f"pool {self.pool_id}: releasing {count} with only {self.in_use} in use"
            )
        self.in_use -= count

    @property
    def available(self) -> int:
        return max(0, self.effective - self.in_use)

    @property
    def refusal_reason(self) -> Reason:
        """What a refusal would say now."""
        return self._refusal

    def set_limit(self, licensed: int, free: int, empty_reason: Reason) -> None:
        """Recompute the limit from the licensed and free instances (engine use)."""
        self.licensed = licensed
        self.free = free
        total = licensed + free
        cap = self.capacity
        self.effective = total if cap is None else min(total, cap)
        if self.effective == 0:
            self._refusal = empty_reason
        elif cap is not None and total > cap:
            self._refusal = Reason.CAPACITY_REACHED
        else:
            self._refusal = Reason.LICENSE_EXHAUSTED

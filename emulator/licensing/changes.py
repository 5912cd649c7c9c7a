"""What the engine tells its caller changed, h11-style: plain immutable records.

The shell turns them into log events and messages; the core never logs.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator.licensing.status import LicenseStatus


@dataclass(frozen=True, slots=True)
class LicenseStatusChanged:
    at: float
    key: str
    feature_id: str | None
    old: LicenseStatus | None  # None: newly installed
    new: LicenseStatus
    detail: str


@dataclass(frozen=True, slots=True)
class PoolLimitChanged:
    at: float
    pool_id: str
    licensed: int
    effective: int
    in_use: int


@dataclass(frozen=True, slots=True)
class FeatureKeyChanged:
    at: float
    state: str  # "present", "absent", "grace_expired"
    serial: str | None


Change = LicenseStatusChanged | PoolLimitChanged | FeatureKeyChanged

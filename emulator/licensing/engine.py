"""The license engine of one control unit: sans-IO, no clock of its own.

It answers "is an instance of this license available on this unit, now?" from the
installed keys, the feature key's serial and presence, the release's catalogue and the
unit's capacities. Every method that can change something takes `now` (Unix seconds);
what changed is queued and handed over by take_changes(), as h11 hands over events.
"""

from __future__ import annotations

from collections.abc import Mapping

from dataclasses import dataclass
from datetime import UTC, datetime

from firmware_models import ControlUnitModel, FeatureCodes, Release, feature_codes
from emulator.licensing.changes import (
    Change,
    FeatureKeyChanged,
    LicenseStatusChanged,
    PoolLimitChanged,
)
from emulator.licensing.key_signing import KeyAuthority
from emulator.licensing.license_key import DecodedKey, decode_key
from emulator.licensing.pool import LicensePool
from emulator.licensing.serials import normalize_serial
from emulator.licensing.status import EMPTY_POOL_REASONS, LicenseStatus
from emulator.reasons import Reason

_UNREAD, _PRESENT, _ABSENT = "unread", "present", "absent"


@dataclass(slots=True)
class InstalledLicense:
    decoded: DecodedKey
    status: LicenseStatus = LicenseStatus.UNKNOWN
    detail: str = "feature key not read yet"
    _verified_serial: str | None = None
    _signature_ok: bool = False
    _announced: bool = False

    @property
    def key(self) -> str:
        return self.decoded.text

    @property
    def feature_id(self) -> str | None:
        return self.decoded.feature_id

    @property
    def instances(self) -> int:
        return self.decoded.fields.instances if self.decoded.fields else 0

    @property
    def expires_at(self) -> int | None:
        return self.decoded.expires_at


class TimeWentBackwardsError(ValueError):
    """The caller's clock moved backwards; the engine only moves forward."""


class LicenseEngine:
    def __init__(
        self,
        release: Release,
        unit: ControlUnitModel,
        authority: KeyAuthority,
        *,
        grace_period_s: float | None = None,
        codes: FeatureCodes | None = None,
        now: float = 0.0,
        revoked: Mapping[str, str] | None = None,
    ) -> None:
        """revoked: key text -> what replaced it, for keys the issuer registry records as
        exchanged to another feature key (a unit that can see the registry refuses them)."""
        self.release = release
        self.unit = unit
        self._authority = authority
        self._codes = codes or feature_codes()
        self._specs = release.licenses_by_id()
        grace = release.feature_key.grace_period_s.value if grace_period_s is None else grace_period_s
        if grace < 0:
            raise ValueError("grace period must be >= 0 seconds")
        self.grace_period_s = float(grace)
        self._now = float(now)
        self._key_state = _UNREAD
        self._serial: str | None = None
        self._absent_since: float | None = None
        self._grace_reported = False
        self._licenses: dict[str, InstalledLicense] = {}
        self._free: dict[str, int] = {}
        self._revoked: Mapping[str, str] = revoked or {}
        self._changes: list[Change] = []
        self._deadline: float | None = None
        self.pools: dict[str, LicensePool] = {}
        for pool_id, spec in release.pools.items():
            cap = None
            if spec.capped_by is not None and spec.capped_by in unit.capacities:
                cap = unit.capacity(spec.capped_by)
            self.pools[pool_id] = LicensePool(pool_id, spec.consumed, cap)

    # -- feature key -------------------------------------------------------------------

    @property
    def feature_key_serial(self) -> str | None:
        """The serial licenses are validated against now (None once absent past grace)."""
        return self._validating_serial(self._now)

    @property
    def feature_key_state(self) -> str:
        return self._key_state

    @property
    def grace_ends_at(self) -> float | None:
        """When the licenses stop validating, while the key is absent (None when present)."""
        if self._key_state == _ABSENT and self._absent_since is not None:
            return self._absent_since + self.grace_period_s
        return None

    def feature_key_read(self, serial: str, now: float) -> None:
        """The unit read its feature key and got this serial."""
        self._tick(now)
        serial = normalize_serial(serial)
        if self._key_state == _PRESENT and serial == self._serial:
            return
        self._key_state, self._serial, self._absent_since = _PRESENT, serial, None
        self._grace_reported = False
        self._changes.append(FeatureKeyChanged(now, "present", serial))
        self._evaluate(now)

    def feature_key_lost(self, now: float) -> None:
        """The unit could not read its feature key (removed, faulty, not answering)."""
        self._tick(now)
        if self._key_state == _ABSENT:
            return
        self._key_state, self._absent_since = _ABSENT, now
        self._grace_reported = False
        self._changes.append(FeatureKeyChanged(now, "absent", self._serial))
        self._evaluate(now)

    # -- licenses ----------------------------------------------------------------------

    def install(self, key_text: str, now: float) -> InstalledLicense:
        """Add a key to the configuration; installing the same key twice changes nothing."""
        self._tick(now)
        decoded = decode_key(key_text, self._codes.by_code)
        existing = self._licenses.get(decoded.text)
        if existing is not None:
            return existing
        lic = InstalledLicense(decoded)
        self._licenses[decoded.text] = lic
        self._evaluate(now)
        return lic

    def uninstall(self, key_text: str, now: float) -> bool:
        self._tick(now)
        decoded = decode_key(key_text, self._codes.by_code)
        if self._licenses.pop(decoded.text, None) is None:
            return False
        self._evaluate(now)
        return True

    def licenses(self) -> list[InstalledLicense]:
        return list(self._licenses.values())

    # -- pools -------------------------------------------------------------------------

    def pool(self, pool_id: str) -> LicensePool:
        try:
            return self.pools[pool_id]
        except KeyError:
            raise LookupError(f"unknown license pool {pool_id!r} in release {self.release.release}") from None

    def acquire(self, pool_id: str, now: float, count: int = 1) -> Reason | None:
        """Take instances of a pool at time now; None when granted, else why not."""
        if self._deadline is not None and now >= self._deadline:
            self.advance(now)
        pool = self.pools.get(pool_id)
        if pool is None:
            raise LookupError(f"unknown license pool {pool_id!r} in release {self.release.release}")
        return pool.try_acquire(now, count)

    def release_instances(self, pool_id: str, now: float, count: int = 1) -> None:
        self.pool(pool_id).release(now, count)

    def set_free_instances(self, pool_id: str, count: int, now: float) -> None:
        """Instances a pool has without any license (e.g. the free channels of a card)."""
        if count < 0:
            raise ValueError("free instances must be >= 0")
        self._tick(now)
        self.pool(pool_id)
        self._free[pool_id] = count
        self._evaluate(now)

    # -- time --------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When, if no event comes first, something will change by itself (aioquic's get_timer)."""
        return self._deadline

    def advance(self, now: float) -> None:
        """Let time pass: trials expire, the grace period of an absent key runs out.

        Deadlines passed over are handled one by one at their own time, so the changes
        are the same however coarsely the caller advances.
        """
        self._tick(now)
        while self._deadline is not None and self._deadline <= now:
            self._evaluate(self._deadline)

    def take_changes(self) -> list[Change]:
        changes, self._changes = self._changes, []
        return changes

    # -- evaluation --------------------------------------------------------------------

    def _tick(self, now: float) -> None:
        if now < self._now:
            raise TimeWentBackwardsError(f"time went backwards: {now} < {self._now}")
        self._now = now

    def _validating_serial(self, now: float) -> str | None:
        if self._key_state == _PRESENT:
            return self._serial
        if self._key_state == _ABSENT and self._absent_since is not None:
            if now < self._absent_since + self.grace_period_s:
                return self._serial
        return None

    def _evaluate(self, now: float) -> None:
        serial = self._validating_serial(now)
        if self._key_state == _ABSENT and serial is None and not self._grace_reported:
            self._grace_reported = True
            self._changes.append(FeatureKeyChanged(now, "grace_expired", self._serial))
        new_status: dict[str, tuple[LicenseStatus, str]] = {
            text: self._own_status(lic, serial, now) for text, lic in self._licenses.items()
        }
        self._apply_prerequisites(new_status)
        for text, (status, detail) in new_status.items():
            lic = self._licenses[text]
            if not lic._announced or (status, detail) != (lic.status, lic.detail):
                old = lic.status if lic._announced else None
                lic.status, lic.detail, lic._announced = status, detail, True
                self._changes.append(
                    LicenseStatusChanged(now, lic.key, lic.feature_id, old, status, detail)
                )
        self._refill_pools(now, key_gone=self._key_state != _UNREAD and serial is None)
        self._deadline = self._compute_deadline(now)

    def _own_status(
        self, lic: InstalledLicense, serial: str | None, now: float
    ) -> tuple[LicenseStatus, str]:
        decoded = lic.decoded
        if decoded.error is not None:
            return LicenseStatus.INVALID, decoded.error
        if self._key_state == _UNREAD:
            return LicenseStatus.UNKNOWN, "feature key not read yet"
        if serial is None:
            return LicenseStatus.INVALID, "feature key absent"
        if lic._verified_serial != serial:
            lic._verified_serial = serial
            lic._signature_ok = self._authority.verify(serial, decoded.payload, decoded.tag)
        if not lic._signature_ok:
            return LicenseStatus.INVALID, f"not issued for feature key {serial}, or altered"
        spec = self._specs.get(decoded.feature_id or "")
        if spec is None or spec.obsolete:
            return LicenseStatus.OBSOLETE, f"not used by release {self.release.release}"
        if spec.obsolete_for(self.unit.id):
            return LicenseStatus.OBSOLETE, f"not used by release {self.release.release} on {self.unit.name}"
        if not spec.supported_on(self.unit.id):
            return LicenseStatus.OBSOLETE, f"not supported on {self.unit.name}"
        revoked = self._revoked.get(decoded.text)
        if revoked is not None:
            return LicenseStatus.REVOKED, f"exchanged: {revoked}"
        if decoded.fields is not None and now < decoded.fields.issued_at:
            return LicenseStatus.NOT_YET_VALID, f"issued for {utc_text(decoded.fields.issued_at)}"
        expires_at = decoded.expires_at
        if expires_at is not None and now >= expires_at:
            return LicenseStatus.EXPIRED, f"expired at {utc_text(expires_at)}"
        return LicenseStatus.VALID, ""

    def _apply_prerequisites(self, statuses: dict[str, tuple[LicenseStatus, str]]) -> None:
        """Mark Dormant every Valid license whose prerequisite is not Valid, to a fixed point."""
        changed = True
        while changed:
            changed = False
            valid_ids = {
                self._licenses[text].feature_id
                for text, (status, _) in statuses.items()
                if status is LicenseStatus.VALID
            }
            for text, (status, _) in statuses.items():
                if status is not LicenseStatus.VALID:
                    continue
                spec = self._specs[self._licenses[text].feature_id or ""]
                missing = [req for req in spec.requires if req not in valid_ids]
                if missing:
                    statuses[text] = (LicenseStatus.DORMANT, "needs a valid " + ", ".join(missing))
                    changed = True

    def _refill_pools(self, now: float, *, key_gone: bool) -> None:
        licensed = dict.fromkeys(self.pools, 0)
        seen: dict[str, set[LicenseStatus]] = {pool_id: set() for pool_id in self.pools}
        for lic in self._licenses.values():
            spec = self._specs.get(lic.feature_id or "")
            if spec is None:
                continue
            for pool_id, per_instance in spec.pool_grants().items():
                if lic.status is LicenseStatus.VALID:
                    licensed[pool_id] += lic.instances * per_instance
                else:
                    seen[pool_id].add(lic.status)
        for pool_id, pool in self.pools.items():
            empty_reason = Reason.FEATURE_KEY_ABSENT if key_gone else _empty_reason(seen[pool_id])
            before = (pool.licensed, pool.effective)
            pool.set_limit(licensed[pool_id], self._free.get(pool_id, 0), empty_reason)
            if (pool.licensed, pool.effective) != before:
                self._changes.append(
                    PoolLimitChanged(now, pool_id, pool.licensed, pool.effective, pool.in_use)
                )

    def _compute_deadline(self, now: float) -> float | None:
        candidates = []
        if self._key_state == _ABSENT and self._absent_since is not None:
            grace_end = self._absent_since + self.grace_period_s
            if grace_end > now:
                candidates.append(grace_end)
        for lic in self._licenses.values():
            expires_at = lic.expires_at
            if expires_at is not None and expires_at > now and lic.status in (
                LicenseStatus.VALID,
                LicenseStatus.DORMANT,
            ):
                candidates.append(float(expires_at))
            fields = lic.decoded.fields
            if lic.status is LicenseStatus.NOT_YET_VALID and fields is not None and fields.issued_at > now:
                candidates.append(float(fields.issued_at))  # it becomes valid then
        return min(candidates, default=None)


def _empty_reason(statuses: set[LicenseStatus]) -> Reason:
    for status, reason in EMPTY_POOL_REASONS:
        if status in statuses:
            return reason
    return Reason.NOT_LICENSED


def utc_text(unix_seconds: float) -> str:
    """ISO 8601 in UTC to the second, e.g. 2026-01-31T09:00:00Z."""
    return datetime.fromtimestamp(unix_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

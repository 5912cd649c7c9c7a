"""Shared fixtures: release data, a key authority, and helpers to make keys."""

from __future__ import annotations

import pytest

from emulator.licensing import KeyAuthority, LicenseEngine, LicenseFields
from firmware_models import feature_codes, load_release

T0 = 1_800_000_000  # 2027-01-15T08:00:00Z: a fixed "now" for deterministic tests
SERIAL = "12345678"
OTHER_SERIAL = "87654321"


@pytest.fixture(scope="session")
def authority() -> KeyAuthority:
    return KeyAuthority.development()


@pytest.fixture(scope="session")
def r60():
    return load_release("6.0")


@pytest.fixture(scope="session")
def r42():
    return load_release("4.2")


def make_key(authority: KeyAuthority, feature: str, instances: int = 1, *, serial: str = SERIAL,
             issued_at: int = T0 - 86_400, validity_days: int = 0, trial: bool = False) -> str:
    code = feature_codes().by_id[feature]
    if trial and not validity_days:
        validity_days = 60
    return authority.issue(LicenseFields(code, instances, issued_at, validity_days, trial), serial)


def make_engine(release, authority, unit: str = "IP500", keys=(), *, serial: str | None = SERIAL,
                now: float = T0, **kwargs) -> LicenseEngine:
    engine = LicenseEngine(release, release.unit(unit), authority, now=now, **kwargs)
    if serial is not None:
        engine.feature_key_read(serial, now)
    for key in keys:
        engine.install(key, now)
    return engine

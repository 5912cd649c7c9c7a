"""Building units for rule tests from short descriptions."""

from __future__ import annotations

from emulator.config import UnitConfig
from emulator.licensing import KeyAuthority
from emulator.rules import UnitCore
from tests.conftest import SERIAL, T0, make_key

AUTHORITY = KeyAuthority.development()


def keys(*specs, serial: str = SERIAL) -> list[str]:
    """specs: (feature, instances) or (feature, instances, {make_key kwargs})."""
    out = []
    for spec in specs:
        feature, instances, *rest = spec
        out.append(make_key(AUTHORITY, feature, instances, serial=serial, **(rest[0] if rest else {})))
    return out


def user(ext: str, phone: str = "analog", **kw) -> dict:
    """A user. Rule tests give extensions 10 call appearances (the most a user can have), so
    that they test the rule at hand, not busy extensions; tests of busy extensions pass
    call_appearances=None for the phone's own number."""
    kw.setdefault("call_appearances", 10)
    return {"name": kw.pop("name", f"user{ext}"), "extension": ext, "phone": phone,
            **{k: v for k, v in kw.items() if v is not None}}


def build(*, release: str = "6.0", model: str = "IP500", licenses=(), users=(), trunks=(), vcm=(),
          serial: str | None = SERIAL, now: float = T0, **extra) -> UnitCore:
    config = UnitConfig(name=extra.pop("name", "unit1"), model=model, release=release, licenses=list(licenses),
                        users=list(users), trunks=list(trunks),
                        vcm_modules=[v if isinstance(v, dict) else {"type": v} for v in vcm], **extra)
    core = UnitCore(config, AUTHORITY, now=now)
    if serial is not None:
        core.feature_key_read(serial, now)
    core.take_events()
    return core


def sip(name: str = "sip1", channels: int = 30, codec: str = "g711") -> dict:
    return {"name": name, "type": "sip", "channels": channels, "codec": codec}


def in_use(core: UnitCore, pool: str) -> int:
    return core.all_pools()[pool].in_use

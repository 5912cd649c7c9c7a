"""A unit's retained state as the payloads of docs/mqtt.md (UnitStatus, UnitLicenses).

Plain dicts, built on demand: the publisher compares their encoding with what it last sent,
so an unchanged unit costs no message.
"""

from __future__ import annotations

from emulator.licensing import utc_text
from emulator.runtime import ControlUnit
from emulator.runtime.control_unit import worth_reporting


def unit_status(unit: ControlUnit, service: str, *, online: bool, clock: str) -> dict:
    engine = unit.core.engine
    return {"unit": unit.name, "online": online, "service": service, "model": unit.core.model.name,
            "release": unit.core.release.release, "feature_key": unit.config.feature_key,
            "feature_key_state": engine.feature_key_state, "serial": engine.feature_key_serial,
            "grace_ends_at": engine.grace_ends_at, "time": unit.clock.time(), "clock": clock}


def unit_licenses(unit: ControlUnit) -> dict:
    core = unit.core
    pools = []
    for pool_id, pool in unit.pools().items():
        if not worth_reporting(pool_id, pool):
            continue
        pools.append({"pool": pool_id, "licensed": getattr(pool, "licensed", None),
                      "capacity": getattr(pool, "capacity", None), "effective": pool.effective,
                      "in_use": pool.in_use, "peak": pool.peak,
                      "refused": {reason.value: n for reason, n in pool.refusals.items()}})
    keys = [{"key": lic.key, "feature": lic.feature_id, "instances": lic.instances, "status": lic.status.value,
             "detail": lic.detail, "expires_at": utc_text(lic.expires_at) if lic.expires_at else None}
            for lic in core.engine.licenses()]
    stats = unit.stats
    return {"unit": unit.name, "time": unit.clock.time(), "calls_up": core.calls.active_count(),
            "calls_admitted": stats.calls_admitted, "calls_rejected": stats.calls_rejected,
            "pools": pools, "keys": keys}

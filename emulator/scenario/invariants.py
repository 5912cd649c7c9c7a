"""What must hold at the end of any run, whatever the load (and fails it when it does not):

- no pool peaked above the highest limit it ever had;
- every pool the calls use holds exactly what the active calls and conference members hold,
  by their own records: nothing leaked, nothing given back twice;
- every refused call has a reason.

Checked on the live units at the end of a run (a fleet's copies, every shard's units), and
listed in the report as `invariants`.
"""

from __future__ import annotations


def check(network, data: dict) -> list[str]:
    violations = []
    for name, unit in network.units.items():
        pools = unit.pools()
        for pool_id, pool in pools.items():
            if pool.peak > pool.ceiling:
                violations.append(f"unit {name}: {pool_id} peaked at {pool.peak}, above the highest limit it had "
                                  f"({pool.ceiling})")
        calls = unit.core.calls
        held = calls.held()
        for pool_id in sorted(calls.pools_used() | set(held)):
            pool = pools.get(pool_id)
            if pool is not None and pool.in_use != held[pool_id]:
                violations.append(f"unit {name}: {pool_id} has {pool.in_use} in use, but its calls hold "
                                  f"{held[pool_id]} ({'leaked' if pool.in_use > held[pool_id] else 'given back twice'})")
    for unit in data["units"]:
        for rejection in unit["calls"]["rejections"]:
            if not rejection["reason"]:
                violations.append(f"unit {unit['name']}: {rejection['count']} calls refused without a reason")
    return violations

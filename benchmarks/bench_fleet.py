"""Fleets: calls/s and memory as the number of units grows (1 to 10,000 units, light traffic each).

Each unit is a small IP500 (4 SIP Trunk Channel licenses, a trunk, a rotary hunt group of six
analog phones) with its own feature key and keys, offered 2 E of Poisson traffic from its own
source, all on one virtual clock through one Network (the path scenarios take). The same total
number of attempts is spread over the fleet, so the figures compare directly: the cost per
call should not grow with the number of units. Printed: set-up per unit (the unit, and its
source with the routes it calls on, compiled), calls/s (and the ratio to the one-unit
figure, measured in the same run), memory per idle unit and per active call.

    python benchmarks/bench_fleet.py                 # 1, 10, 100, 1,000 and 10,000 units
    python benchmarks/bench_fleet.py --attempts 50000 --sizes 1 100 1000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulator.config import UnitConfig  # noqa: E402
from emulator.licensing import KeyAuthority, LicenseFields  # noqa: E402
from emulator.runtime import Network, VirtualClock  # noqa: E402
from emulator.runtime.traffic import CallSource  # noqa: E402
from firmware_models import feature_codes  # noqa: E402

T0 = 1_800_000_000.0
HOLD_S = 180.0
ERLANGS = 2.0


def fleet(units: int) -> list[UnitConfig]:
    authority, code = KeyAuthority.development(), feature_codes().by_id["sip_trunk_channels"]
    members = [str(201 + j) for j in range(6)]
    configs = []
    for i in range(units):
        serial = str(20_000_000 + i)
        key = authority.issue(LicenseFields(code, 4, int(T0) - 86_400), serial)
        configs.append(UnitConfig(name=f"u{i}", feature_key=f"virtual:{serial}", licenses=[key],
                                  vcm_modules=[{"type": "vcm32"}], trunks=[{"name": "sip1", "type": "sip", "channels": 8}],
                                  users=[{"name": f"a{m}", "extension": m} for m in members],
                                  groups=[{"name": "g", "extension": "500", "hunting": "rotary", "members": members}]))
    return configs


async def build(units: int) -> tuple[Network, VirtualClock, float]:
    configs = fleet(units)
    started = time.perf_counter()
    clock = VirtualClock(T0)
    network = Network(configs, clock)
    await network.start()
    gc.freeze()  # as the scenario runner does once the units are built (emulator/scenario/runner.py open)
    return network, clock, (time.perf_counter() - started) / units


def sources(network: Network, clock: VirtualClock, attempts_per_unit: int) -> list[CallSource]:
    out = []
    for i, name in enumerate(network.units):
        offer, hang_up, _ = network.call_functions(name, ["sip1", "500"])
        source = CallSource(clock, offer, hang_up, from_mix=[("sip1", 1.0)], to_mix=[("500", 1.0)],
                            rate_steps=[(T0, ERLANGS / HOLD_S)], mean_hold_s=HOLD_S, max_calls=attempts_per_unit,
                            seed=i, id_offset=(i + 1) * 10**9,
                            calls=network.anonymous_calls(name, ["sip1", "500"]))
        source.start()
        out.append(source)
    return out


def throughput(units: int, attempts: int) -> tuple[float, float, int]:
    async def go() -> tuple[float, float, int]:
        network, clock, setup = await build(units)
        started = time.perf_counter()
        srcs = sources(network, clock, max(1, attempts // units))  # (compiles each unit's routes)
        setup += (time.perf_counter() - started) / units
        gc.freeze()  # as the scenario runner does for the run (emulator/scenario/runner.py run_clock)
        try:
            started = time.perf_counter()
            await clock.run()
            wall = time.perf_counter() - started
        finally:
            gc.unfreeze()
        total = sum(s.attempts for s in srcs)
        return setup, total / wall, total

    return asyncio.run(go())


def memory(units: int) -> tuple[float, float]:
    """(bytes per idle unit, bytes per active call), with tracemalloc."""
    async def go() -> tuple[float, float]:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        network, clock, _ = await build(units)
        idle = (tracemalloc.get_traced_memory()[0] - before) / units
        for name in network.units:  # warm the routes to every member, then measure calls held open
            offer, hang_up, _ = network.call_functions(name, ["sip1", "500"])
            for round_ in range(2):  # rotary hunting: members 1-3, then 4-6 (4 licenses)
                warm = [("warm", round_, m) for m in range(3)]
                for call_id in warm:
                    assert offer(call_id, "sip1", "500", T0)[0]
                for call_id in warm:
                    hang_up(call_id, T0)
        gc.collect()
        mid = tracemalloc.get_traced_memory()[0]
        calls = 0
        for i, name in enumerate(network.units):
            offer, _, _ = network.call_functions(name, ["sip1", "500"])
            for c in range(4):
                assert offer(i * 10 + c, "sip1", "500", T0)[0]
                clock.schedule(T0 + 3600.0 + c, lambda arg, when: None, None)  # its hang-up timer
                calls += 1
        per_call = (tracemalloc.get_traced_memory()[0] - mid) / calls
        tracemalloc.stop()
        return idle, per_call

    return asyncio.run(go())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=200_000, help="attempts in all, spread over the fleet")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100, 1_000, 10_000])
    args = parser.parse_args(argv)
    print(f"{'units':>7}  {'set-up/unit':>12}  {'calls/s':>10}  {'vs 1 unit':>9}  {'attempts':>9}")
    reference = None
    for units in args.sizes:
        setup, rate, total = throughput(units, args.attempts)
        reference = reference or rate
        print(f"{units:>7,}  {setup * 1e3:>9.2f} ms  {rate:>10,.0f}  {rate / reference:>8.2f}x  {total:>9,}")
    idle, per_call = memory(min(1_000, max(args.sizes)))
    print(f"memory: {idle / 1024:.1f} KiB per idle unit, {per_call:.0f} bytes per active call")
    return 0


if __name__ == "__main__":
    sys.exit(main())

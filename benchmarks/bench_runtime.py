"""Runtime speed: an M/M/N/N load through a fully enforcing control unit, against SimPy.

    python benchmarks/bench_runtime.py                 # 1,000,000 attempts, N=30, A=20.3 E
    python benchmarks/bench_runtime.py --calls 100000  # a quicker run

The emulator side is an IP500 (6.0) with 30 SIP Trunk Channel licenses, a 64-channel SIP
trunk and a VCM 64 card, taking SIP calls to a rotary hunt group of analog extensions:
every call hunts a member and takes a trunk channel, a SIP license, the member's call
appearance and a VCM channel for its whole length, and is counted by reason. Time is
virtual. The references run in the same process: an idiomatic SimPy model (a process per
call and a counter) and the plain-CPython floor (a heap of departure times and a counter),
both drawing from random.Random(seed) as ../shared/bench does. The emulator draws its
numbers in blocks (emulator/runtime/draws.py), so its sample path is another one: it must
block exactly the calls the floor's model blocks when fed the emulator's draws (checked,
untimed), and SimPy and the floor must block the same calls. Each emulator run is paired
with the reference runs right after it, and the ratios reported are the medians of the
pairs' ratios: a shared machine's speed drifts, and a pair sees the same conditions.

Targets: emulator >= 4x the SimPy model and >= 0.5x the plain floor; memory per active
call <= 1 KB.
A busy hour on a fully loaded IP500 (128 SIP channels) is timed as well.
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import heapq
import json
import math
import random
import statistics
import sys
import time
import tracemalloc
from math import log
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulator.config import UnitConfig  # noqa: E402
from emulator.licensing import KeyAuthority, LicenseFields  # noqa: E402
from emulator.runtime import ControlUnit, VirtualClock  # noqa: E402
from emulator.runtime.traffic import poisson_calls  # noqa: E402
from emulator.scenario.sizing import erlang_b  # noqa: E402
from firmware_models import feature_codes  # noqa: E402

T0 = 1_800_000_000.0
SERIAL = "12345678"
GROUP = "500"


def unit_config(channels: int, trunk_channels: int, vcm: list[str]) -> UnitConfig:
    authority = KeyAuthority.development()
    code = feature_codes().by_id["sip_trunk_channels"]
    key = authority.issue(LicenseFields(code, channels, int(T0) - 86_400), SERIAL)
    # The calls go to a rotary hunt group with more analog members than there are channels:
    # no caller finds every member busy, so the licenses alone decide, as in the reference.
    members = [str(1000 + i) for i in range(trunk_channels + 32)]
    return UnitConfig(licenses=[key], vcm_modules=[{"type": t} for t in vcm],
                      trunks=[{"name": "sip1", "type": "sip", "channels": trunk_channels}],
                      users=[{"name": f"agent{m}", "extension": m, "phone": "analog"} for m in members],
                      groups=[{"name": "agents", "extension": GROUP, "hunting": "rotary", "members": members}])


async def _emulate(config: UnitConfig, erlangs: float, hold: float, calls: int, seed: int) -> tuple[int, float, ControlUnit]:
    clock = VirtualClock(T0)
    unit = ControlUnit(config, clock)
    await unit.start()
    offer, hang_up, _ = unit.call_functions()
    source = poisson_calls(clock, offer, hang_up, "sip1", GROUP,
                           rate_per_s=erlangs / hold, mean_hold_s=hold, calls=calls, seed=seed,
                           unit_calls=unit.anonymous_calls())
    source.start()
    started = time.perf_counter()
    await clock.run()
    wall = time.perf_counter() - started
    rejected = unit.stats.calls_rejected
    assert rejected == source.attempts - source.admitted and not unit.core.calls.active_count()
    for pool in unit.pools().values():
        assert pool.in_use == 0, pool.pool_id
    return rejected, wall, unit


def emulator_run(config: UnitConfig, erlangs: float, hold: float, calls: int, seed: int) -> tuple[int, float]:
    blocked, wall, _ = asyncio.run(_emulate(config, erlangs, hold, calls, seed))
    return blocked, wall


def simpy_run(channels: int, erlangs: float, hold: float, calls: int, seed: int) -> tuple[int, float]:
    """The reference: one SimPy process per admitted call, a counter of busy channels."""
    import simpy

    env = simpy.Environment()
    rand = random.Random(seed).random
    mean_interval = 1.0 / (erlangs / hold)  # the same arithmetic as the emulator's source
    busy = blocked = 0

    def call(duration: float):
        nonlocal busy
        yield env.timeout(duration)
        busy -= 1

    def arrivals():
        nonlocal busy, blocked
        for _ in range(calls):
            yield env.timeout(-log(1.0 - rand()) * mean_interval)
            if busy < channels:
                busy += 1
                env.process(call(-log(1.0 - rand()) * hold))
            else:
                blocked += 1

    started = time.perf_counter()
    env.run(until=env.process(arrivals()))
    return blocked, time.perf_counter() - started


def floor_run(channels: int, erlangs: float, hold: float, calls: int, seed: int) -> tuple[int, float]:
    """The plain-CPython floor: a heap of departure times only, merged with the arrivals by
    comparing against its top; a counter of busy channels and nothing else (no licenses, no
    accounting). The same draws in the same order as the other two."""
    rand, log = random.Random(seed).random, math.log
    push, pop, replace = heapq.heappush, heapq.heappop, heapq.heapreplace
    interval = 1.0 / (erlangs / hold)
    heap: list[float] = []
    blocked, t = 0, 0.0
    started = time.perf_counter()
    for _ in range(calls):
        t += -log(1.0 - rand()) * interval
        if heap and heap[0] <= t:  # a channel is free: reuse its slot
            replace(heap, t + -log(1.0 - rand()) * hold)
            while heap[0] <= t:
                pop(heap)
        elif len(heap) < channels:
            push(heap, t + -log(1.0 - rand()) * hold)
        else:
            blocked += 1
    return blocked, time.perf_counter() - started


def same_draws_run(channels: int, erlangs: float, hold: float, calls: int, seed: int) -> int:
    """The floor's model fed the emulator's random numbers (the seed's exponentials, in the same
    order): the calls it blocks are exactly those the emulator must block. Untimed: a check."""
    from emulator.runtime.draws import Draws

    exponential = Draws(seed).exponential
    interval = 1.0 / (erlangs / hold)
    heap: list[float] = []
    blocked, t = 0, T0
    for _ in range(calls):
        t += exponential() * interval
        while heap and heap[0] <= t:
            heapq.heappop(heap)
        if len(heap) < channels:
            heapq.heappush(heap, t + exponential() * hold)
        else:
            blocked += 1
    return blocked


def memory_per_active_call(active: int = 128) -> float:
    """Bytes allocated per call held open (record, call-table entry, hang-up timer), measured
    with the IP500's maximum of 128 SIP calls up at once."""
    config = unit_config(128, 128, ["vcm64", "vcm64"])

    async def measure() -> float:
        clock = VirtualClock(T0)
        unit = ControlUnit(config, clock)
        await unit.start()
        offer, hang_up = unit.offer_call_now, unit.hang_up_now
        for i in range(400):  # warm caches (routes to every member, decisions) before measuring
            offer(i, "sip1", GROUP)
            hang_up(i)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(active):
            assert offer(i, "sip1", GROUP)[0]
            clock.schedule(T0 + 3600.0 + i, hang_up, (i,))
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return (after - before) / active

    return asyncio.run(measure())


def busy_hour(calls_per_hour: int = 2_560, hold: float = 180.0) -> tuple[float, int, int]:
    """One virtual hour at 128 E offered to an IP500 with 128 SIP channels licensed (fully loaded): (wall s, attempts, blocked)."""
    config = unit_config(128, 128, ["vcm64", "vcm64"])

    async def run() -> tuple[float, int, int]:
        clock = VirtualClock(T0)
        unit = ControlUnit(config, clock)
        await unit.start()
        offer, hang_up, _ = unit.call_functions()
        source = poisson_calls(clock, offer, hang_up, "sip1", GROUP,
                               rate_per_s=calls_per_hour / 3600.0, mean_hold_s=hold, calls=10**9, seed=7)
        source.start()
        started = time.perf_counter()
        await clock.run(until=T0 + 3600.0)
        return time.perf_counter() - started, source.attempts, unit.stats.calls_rejected

    return asyncio.run(run())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--channels", type=int, default=30)
    parser.add_argument("--erlangs", type=float, default=20.3)
    parser.add_argument("--hold", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=5, help="pairs of runs (default 5)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        import simpy  # noqa: F401
    except ImportError:
        print("this benchmark needs SimPy: pip install -e '.[bench]'", file=sys.stderr)
        return 2

    config = unit_config(args.channels, 64, ["vcm64"])
    warm_up = max(1000, args.calls // 20)  # untimed, for both: imports, caches, the interpreter's specialisation
    emulator_run(config, args.erlangs, args.hold, warm_up, args.seed)
    simpy_run(args.channels, args.erlangs, args.hold, warm_up, args.seed)
    floor_run(args.channels, args.erlangs, args.hold, warm_up, args.seed)
    emu_walls, simpy_walls, floor_walls, ratios, floor_ratios = [], [], [], [], []
    expected = same_draws_run(args.channels, args.erlangs, args.hold, args.calls, args.seed)
    for _ in range(args.repeat):
        emu_blocked, emu_wall = emulator_run(config, args.erlangs, args.hold, args.calls, args.seed)
        ref_blocked, ref_wall = simpy_run(args.channels, args.erlangs, args.hold, args.calls, args.seed)
        floor_blocked, floor_wall = floor_run(args.channels, args.erlangs, args.hold, args.calls, args.seed)
        if emu_blocked != expected or ref_blocked != floor_blocked:
            print(f"FAIL: blocked: emulator {emu_blocked} (its draws in the reference model: {expected}), "
                  f"SimPy {ref_blocked}, floor {floor_blocked}", file=sys.stderr)
            return 1
        emu_walls.append(emu_wall)
        simpy_walls.append(ref_wall)
        floor_walls.append(floor_wall)
        ratios.append(ref_wall / emu_wall)
        floor_ratios.append(floor_wall / emu_wall)
    emu_rate = args.calls / statistics.median(emu_walls)
    simpy_rate = args.calls / statistics.median(simpy_walls)
    floor_rate = args.calls / statistics.median(floor_walls)
    ratio = statistics.median(ratios)
    floor_ratio = statistics.median(floor_ratios)
    per_call = memory_per_active_call()
    hour_wall, hour_attempts, hour_blocked = busy_hour()
    results = {
        "calls": args.calls, "channels": args.channels, "erlangs": args.erlangs, "blocked": emu_blocked,
        "reference_blocked": floor_blocked, "erlang_b": erlang_b(args.channels, args.erlangs),
        "blocking": emu_blocked / args.calls,
        "emulator_calls_per_s": emu_rate, "simpy_calls_per_s": simpy_rate, "ratio": ratio,
        "pair_ratios": [round(r, 3) for r in ratios],
        "floor_calls_per_s": floor_rate, "ratio_to_floor": floor_ratio,
        "floor_pair_ratios": [round(r, 3) for r in floor_ratios],
        "bytes_per_active_call": per_call,
        "busy_hour_wall_s": hour_wall, "busy_hour_attempts": hour_attempts, "busy_hour_blocked": hour_blocked,
    }
    checks = {
        "emulator >= 4x SimPy process-per-call": results["ratio"] >= 4.0,
        "emulator >= 0.5x the plain floor": results["ratio_to_floor"] >= 0.5,
        "memory per active call <= 1 KB": per_call <= 1024,
        "busy hour on a 128-channel IP500 < 1 s": hour_wall < 1.0,
    }
    if args.json:
        print(json.dumps({**results, "targets": checks}, indent=2))
    else:
        print(f"M/M/{args.channels}/{args.channels} at {args.erlangs} E, {args.calls:,} attempts, seed {args.seed}; "
              f"Erlang B {erlang_b(args.channels, args.erlangs):.4%}")
        print(f"blocked: emulator {emu_blocked:,} ({results['blocking']:.4%}), as the reference model given its "
              f"draws; SimPy and the floor {floor_blocked:,} ({floor_blocked / args.calls:.4%}) from random.Random")
        print(f"emulator (full enforcement)  {emu_rate:>10,.0f} calls/s")
        print(f"SimPy (process per call)     {simpy_rate:>10,.0f} calls/s")
        print(f"plain floor (departure heap) {floor_rate:>10,.0f} calls/s")
        print(f"vs SimPy (median of pairs)   {results['ratio']:>10.2f}x   pairs: "
              + ", ".join(f"{r:.2f}" for r in ratios))
        print(f"vs the floor (median)        {floor_ratio:>10.2f}x   pairs: "
              + ", ".join(f"{r:.2f}" for r in floor_ratios))
        print(f"memory per active call       {per_call:>10.0f} bytes")
        print(f"busy hour, IP500 128 ch      {hour_wall:>10.3f} s wall for {hour_attempts:,} attempts "
              f"({hour_blocked} blocked)")
        for name, ok in checks.items():
            print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

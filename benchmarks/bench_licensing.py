"""Licensing core speed: key validation and pool acquire+release, against references in the same run.

    python benchmarks/bench_licensing.py            # full run (targets from issue #2)
    python benchmarks/bench_licensing.py --quick    # a smoke run, 10x smaller

Targets: key validation >= 50,000 keys/s; pool acquire+release >= 1,000,000 pairs/s.
Each figure is also given as a ratio to a reference measured in the same process
(a bare HMAC-SHA256 for validation, a bare counter loop for the pool), since absolute
numbers on a shared 2-core machine vary from run to run. Median of --repeat runs.
Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulator.licensing import KeyAuthority, LicenseFields, LicensePool, decode_key  # noqa: E402
from emulator.licensing.key_signing import DEVELOPMENT_SECRET  # noqa: E402
from emulator.reasons import Reason  # noqa: E402
from firmware_models import feature_codes, load_release  # noqa: E402

SERIAL = "12345678"
T0 = 1_800_000_000


def make_keys(count: int) -> list[str]:
    authority = KeyAuthority.development()
    codes = sorted(feature_codes().by_code)
    rng = random.Random(1)
    return [authority.issue(LicenseFields(rng.choice(codes), rng.randint(1, 500), T0 - rng.randint(0, 10**7)), SERIAL)
            for _ in range(count)]


def bench_validation(keys: list[str]) -> float:
    """decode (normalise, base-32, unpack, feature lookup) + verify the tag: what install does per key."""
    authority = KeyAuthority.development()
    by_code = feature_codes().by_code
    start = time.perf_counter()
    valid = 0
    for text in keys:
        decoded = decode_key(text, by_code)
        if decoded.error is None and authority.verify(SERIAL, decoded.payload, decoded.tag):
            valid += 1
    elapsed = time.perf_counter() - start
    assert valid == len(keys)
    return len(keys) / elapsed


def bench_raw_hmac(keys: list[str]) -> float:
    """Reference: one stdlib HMAC-SHA256 per key over a message of the same size, nothing else."""
    messages = [b"ipo-emu/license-key/v1\x00" + SERIAL.encode() + b"\x00" + k.encode()[:10] for k in keys]
    start = time.perf_counter()
    for msg in messages:
        hmac.digest(DEVELOPMENT_SECRET, msg, hashlib.sha256)
    return len(keys) / (time.perf_counter() - start)


def bench_pool(pairs: int) -> float:
    pool = LicensePool("sip_trunk_channels", "while_in_use", 128)
    pool.set_limit(128, 0, Reason.NOT_LICENSED)
    acquire, release = pool.try_acquire, pool.release
    start = time.perf_counter()
    for now in range(pairs):
        acquire(now)
        release(now)
    elapsed = time.perf_counter() - start
    assert pool.in_use == 0 and pool.peak == 1
    return pairs / elapsed


def bench_engine(pairs: int) -> float:
    """Through the engine: pool lookup by id and the deadline check on every acquire."""
    from emulator.licensing import LicenseEngine

    release = load_release("6.0")
    authority = KeyAuthority.development()
    engine = LicenseEngine(release, release.unit("IP500"), authority, now=T0)
    engine.feature_key_read(SERIAL, T0)
    engine.install(authority.issue(LicenseFields(feature_codes().by_id["sip_trunk_channels"], 128, T0 - 10), SERIAL), T0)
    acquire, release_ = engine.acquire, engine.release_instances
    now = float(T0)
    start = time.perf_counter()
    for _ in range(pairs):
        acquire("sip_trunk_channels", now)
        release_("sip_trunk_channels", now)
    return pairs / (time.perf_counter() - start)


def bench_counter_loop(pairs: int) -> float:
    """Reference: the cheapest Python loop doing the same bookkeeping inline."""
    in_use, limit = 0, 128
    start = time.perf_counter()
    for _ in range(pairs):
        if in_use < limit:
            in_use += 1
        in_use -= 1
    return pairs / (time.perf_counter() - start)


def median_of(repeat: int, fn, *args) -> float:
    return statistics.median(fn(*args) for _ in range(repeat))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x fewer keys and pairs (smoke run)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the median is reported")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    n_keys = 5_000 if args.quick else 50_000
    n_pairs = 100_000 if args.quick else 1_000_000

    keys = make_keys(n_keys)
    results = {
        "keys": n_keys,
        "pairs": n_pairs,
        "validation_keys_per_s": median_of(args.repeat, bench_validation, keys),
        "raw_hmac_per_s": median_of(args.repeat, bench_raw_hmac, keys),
        "pool_pairs_per_s": median_of(args.repeat, bench_pool, n_pairs),
        "engine_pairs_per_s": median_of(args.repeat, bench_engine, n_pairs),
        "counter_loop_pairs_per_s": median_of(args.repeat, bench_counter_loop, n_pairs),
    }
    results["validation_vs_raw_hmac"] = results["validation_keys_per_s"] / results["raw_hmac_per_s"]
    results["pool_vs_counter_loop"] = results["pool_pairs_per_s"] / results["counter_loop_pairs_per_s"]
    results["engine_vs_counter_loop"] = results["engine_pairs_per_s"] / results["counter_loop_pairs_per_s"]
    checks = {
        "key validation >= 50,000 keys/s": results["validation_keys_per_s"] >= 50_000,
        "pool acquire+release >= 1,000,000 pairs/s": results["pool_pairs_per_s"] >= 1_000_000,
    }
    if args.json:
        print(json.dumps({**results, "targets": checks}, indent=2))
    else:
        print(f"key validation        {results['validation_keys_per_s']:>12,.0f} keys/s   "
              f"({results['validation_vs_raw_hmac']:.2f}x a bare HMAC-SHA256 at {results['raw_hmac_per_s']:,.0f}/s)")
        print(f"pool acquire+release  {results['pool_pairs_per_s']:>12,.0f} pairs/s  "
              f"({results['pool_vs_counter_loop']:.2f}x an inline counter loop at "
              f"{results['counter_loop_pairs_per_s']:,.0f}/s)")
        print(f"engine acquire+release{results['engine_pairs_per_s']:>12,.0f} pairs/s  "
              f"({results['engine_vs_counter_loop']:.2f}x the inline counter loop)")
        for name, ok in checks.items():
            print(f"{'PASS' if ok else 'FAIL'}  {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Load testing at scale: a fleet of 10,000 shops on 1 vs 2 worker processes, and wall-clock
admission latency at about 20,000 attempts/s in one process.

1. `ipo-emu run FLEET --workers 1` against `--workers 2`, whole processes, alternating: wall
   time and the ratio (target: 2 workers at least 1.7x as fast on this 2-core machine); the
   totals must be equal.
2. `ipo-emu load scenarios/fleet-of-shops.yaml --realtime --speed 9000`: 200 shops at about
   20,000 call attempts a second of real time; admission latency from each call's due time,
   p50/p99/p99.9/max (target: p99 under 1 ms).

    python benchmarks/bench_load.py             # 3 alternating pairs
    python benchmarks/bench_load.py --pairs 1 --shops 2000
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOPS = ROOT / "scenarios" / "fleet-of-shops.yaml"


def fleet(folder: Path, shops: int) -> Path:
    text = SHOPS.read_text(encoding="utf-8")
    text = text.replace("count: 200", f"count: {shops}").replace("duration: 4h", "duration: 2h")
    text = text.replace("erlangs: 2", "erlangs: 0.5").split("\nexpect:")[0]
    path = folder / "fleet.yaml"
    path.write_text(text + "\nexpect:\n  - peak: {unit: shop, pool: sip_trunk_channels}\n    at_most: 4\n",
                    encoding="utf-8")
    return path


def timed(args: list[str]) -> tuple[float, dict]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "emulator", *args, "--json"], capture_output=True, check=True)
    return time.perf_counter() - started, json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--shops", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = fleet(Path(tmp), args.shops)
        one, two = [], []
        for _ in range(args.pairs):
            wall1, data1 = timed(["run", str(path), "--workers", "1"])
            wall2, data2 = timed(["run", str(path), "--workers", "2"])
            totals = [[(t["attempts"], t["admitted"], t["rejected"]) for t in d["traffic"]] for d in (data1, data2)]
            if totals[0] != totals[1]:
                sys.exit(f"the totals differ: {totals}")
            one.append(wall1)
            two.append(wall2)
        attempts = data1["traffic"][0]["attempts"]
        ratios = [a / b for a, b in zip(one, two, strict=True)]
        print(f"{args.shops:,} shops, {attempts:,} attempts: 1 worker {statistics.median(one):.2f} s, "
              f"2 workers {statistics.median(two):.2f} s (whole processes, median of {args.pairs}); "
              f"speed-up {statistics.median(ratios):.2f}x (target >= 1.7)")
    _, data = timed(["load", str(SHOPS), "--realtime", "--speed", "9000", "--no-console"])
    latency = data["admission_latency"]
    rate = data["traffic"][0]["attempts"] / data["wall_s"]
    print(f"wall clock, one process, {rate:,.0f} attempts/s: admission latency p50 {latency['p50_ms']:.3f} ms, "
          f"p99 {latency['p99_ms']:.3f} ms, p99.9 {latency['p99_9_ms']:.3f} ms, max {latency['max_ms']:.3f} ms "
          f"(target p99 < 1 ms); kept up: {data['kept_up']}")


if __name__ == "__main__":
    main()

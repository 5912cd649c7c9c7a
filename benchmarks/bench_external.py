"""External mode through a loopback mosquitto: the highest call rate it sustains, and its p99.

`ipo-emu serve scenarios/fleet-of-shops.yaml --commands-only` (200 shops) runs in one process
and `ipo-emu load ... --target` in another, both through a mosquitto started here on a free
port. The rate steps up; a step is sustained when the load offered at least 97% of the rate
asked, every command got its reply, every decision was judged consistent, the sender kept
up, and the p99 offer round trip stayed under --p99-limit. Prints each step and the highest
sustained rate with its round-trip percentiles.

    python benchmarks/bench_external.py
    python benchmarks/bench_external.py --rates 500 1000 2000 --seconds 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHOPS = ROOT / "scenarios" / "fleet-of-shops.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[250, 500, 1000, 2000, 3000, 4000, 6000, 8000])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--p99-limit", type=float, default=50.0, help="ms")
    args = parser.parse_args()
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        conf = folder / "mosquitto.conf"
        conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n", encoding="utf-8")
        broker = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"mqtt://127.0.0.1:{port}"
        time.sleep(0.5)
        serve = subprocess.Popen([sys.executable, "-m", "emulator", "serve", str(SHOPS), "--mqtt", url,
                                  "--commands-only", "--speed", "100", "--service-id", "bench"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            if serve.stdout.readline().decode().strip() != url:
                sys.exit("serve did not start")
            time.sleep(2)
            best = None
            print(f"{'asked/s':>8} {'offered/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'max ms':>8} "
                  f"{'lost':>5} {'violations':>10}  sustained")
            for rate in args.rates:
                report = folder / f"r{rate:g}.json"
                done = subprocess.run([sys.executable, "-m", "emulator", "load", str(SHOPS), "--target", url,
                                       "--speed", "100", "--rate", f"{rate:g}", "--for", f"{args.seconds:g}s",
                                       "--no-console", "--report", str(report)],
                                      capture_output=True, text=True, timeout=args.seconds + 120)
                if not report.exists():
                    sys.exit(f"load at {rate:g}/s failed: {done.stderr.strip()}")
                data = json.loads(report.read_text())
                latency = data["offer_latency"]
                ok = (data["achieved_rate_per_s"] >= 0.97 * rate and not data["lost"]
                      and not data["check"]["violations"] and not data["fell_behind"]
                      and latency["p99_ms"] < args.p99_limit)
                print(f"{rate:>8g} {data['achieved_rate_per_s']:>10.1f} {latency['p50_ms']:>8.2f} "
                      f"{latency['p99_ms']:>8.2f} {latency['p99_9_ms']:>9.2f} {latency['max_ms']:>8.2f} "
                      f"{data['lost']:>5} {data['check']['violations']:>10}  {'yes' if ok else 'no'}", flush=True)
                if ok:
                    best = (rate, data)
                else:
                    break
            if best is None:
                print("no rate was sustained")
            else:
                rate, data = best
                latency = data["offer_latency"]
                print(f"highest sustained: {rate:g} calls/s offered ({data['offers']:,} calls, "
                      f"{data['check']['judged']:,} decisions judged), offer round trip p50 {latency['p50_ms']:.2f} ms, "
                      f"p99 {latency['p99_ms']:.2f} ms, max {latency['max_ms']:.2f} ms")
        finally:
            serve.send_signal(signal.SIGINT)
            try:
                serve.wait(timeout=30)
            except subprocess.TimeoutExpired:
                serve.kill()
            broker.terminate()
            broker.wait(timeout=10)


if __name__ == "__main__":
    main()

"""The SIP front door under SIPp: the highest call rate one trunk sustains, and the latency
from INVITE to final response (p50/p99), against SIPp's own C UAS as the yardstick.

`ipo-emu serve --sip` runs a unit with 128 SIP Trunk Channel licenses, a 128-channel SIP
line, 128 VCM channels and a hunt group of 48 digital phones; SIPp (sip-tester) offers calls
held 50 ms at rising rates, each for a few seconds. A rate is sustained when SIPp started at
least 95 % of the calls it was asked for, none failed, and p99 stayed under 100 ms. The same
steps are run against `sipp -sn uas` (answers every call, in C) for the ratio.

    python benchmarks/bench_sip.py                       # 100 to 3,200 calls/s
    python benchmarks/bench_sip.py --rates 100 200 --seconds 3
"""

from __future__ import annotations

import argparse
import csv
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_mqtt import Mosquitto  # noqa: E402  (a loopback mosquitto on a free port)
SCENARIO = ROOT / "tests" / "sip" / "sipp" / "uac-busy-is-an-answer.xml"
HOLD_MS = 50


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        return udp.getsockname()[1]


def config(folder: Path) -> Path:
    users = "\n".join(f'      - {{name: d{i}, extension: "{200 + i}", phone: "2420"}}' for i in range(48))
    members = ", ".join(f'"{200 + i}"' for i in range(48))
    path = folder / "bench-office.yaml"
    path.write_text(f"""units:
  - name: office
    licenses: [{{feature: sip_trunk_channels, instances: 128}}]
    vcm_modules: [{{type: vcm64}}, {{type: vcm64}}]
    trunks: [{{name: sip1, type: sip, channels: 128, incoming_call_route: "500"}}]
    users:
{users}
    groups: [{{name: all, extension: "500", hunting: rotary, members: [{members}]}}]
""", encoding="utf-8")
    return path


def sipp_step(port: int, rate: int, seconds: float, folder: Path) -> dict:
    calls = int(rate * seconds)
    run = folder / f"r{rate}-{port}-{time.monotonic_ns()}"
    run.mkdir()
    started = time.perf_counter()
    done = subprocess.run(["sipp", f"127.0.0.1:{port}", "-sf", str(SCENARIO), "-s", "500", "-i", "127.0.0.1",
                           "-p", str(free_port()), "-r", str(rate), "-m", str(calls), "-l", str(max(200, rate)),
                           "-d", str(HOLD_MS), "-nostdin", "-trace_stat", "-trace_msg",
                           "-timeout", str(int(seconds * 4 + 20)), "-timeout_error"],
                          cwd=run, capture_output=True, timeout=seconds * 4 + 60)
    elapsed = time.perf_counter() - started
    stats = list(csv.reader(next(run.glob("*_.csv")).read_text().splitlines(), delimiter=";"))
    row = dict(zip(stats[0], stats[-1], strict=False))
    latencies = sorted(invite_latencies_ms(next(run.glob("*_messages.log"))))
    successful, failed = int(row.get("SuccessfulCall(C)", 0)), int(row.get("FailedCall(C)", 0))
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) >= 100 else [float("nan")] * 99
    return {"rate": rate, "calls": calls, "successful": successful, "failed": failed, "exit": done.returncode,
            "achieved": successful / elapsed if elapsed else 0.0, "elapsed": elapsed,
            "p50_ms": quantiles[49], "p99_ms": quantiles[98], "samples": len(latencies)}


def invite_latencies_ms(log: Path) -> list[float]:
    """From SIPp's message log (microsecond timestamps): per call, the first INVITE sent to
    the first final response to it received (SIPp's --trace_rtt counts whole milliseconds,
    too coarse on loopback)."""
    sent: dict[str, float] = {}
    out: list[float] = []
    stamp, direction, first, call_id = 0.0, "", "", None
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("-----------------------------------------------"):
            try:
                stamp = datetime.strptime(" ".join(line.split()[-2:]), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            except ValueError:  # a separator without its time (SIPp under load): the block is not used
                stamp = float("nan")
            direction, first, call_id = "", "", None
        elif not direction and (" message sent" in line or " message received" in line):
            direction = "sent" if " sent" in line else "received"
        elif direction and not first:
            first = line.strip()
        elif first and call_id is None and line.lower().startswith(("call-id:", "i:")):
            call_id = line.split(":", 1)[1].strip()
            if direction == "sent" and first.startswith("INVITE ") and call_id not in sent:
                sent[call_id] = stamp
            elif direction == "received" and first.startswith("SIP/2.0 ") and call_id in sent:
                code = first.split()[1]
                if code.isdigit() and int(code) >= 200 and sent[call_id] >= 0 and stamp == stamp:
                    out.append((stamp - sent[call_id]) * 1000)
                    sent[call_id] = -1.0  # measured: later responses (200 to the BYE) are not its answer
    return out


def sustained(step: dict) -> bool:
    return step["failed"] == 0 and step["successful"] >= 0.95 * step["calls"] and step["p99_ms"] < 100


def serve(folder: Path, port: int, broker_url: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "serve", str(config(folder)), "--sip",
                             f"127.0.0.1:{port}", "--mqtt", broker_url, "--max-lag", "5s"],
                            cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    said = b""
    while b"answers on" not in said:
        chunk = proc.stderr.read1(4096)
        if not chunk:
            raise RuntimeError(f"ipo-emu serve ended: {said.decode(errors='replace')}")
        said += chunk
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=int, nargs="+", default=[100, 200, 400, 800, 1600, 3200])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    if shutil.which("sipp") is None:
        sys.exit("SIPp is not installed: apt-get install sip-tester")
    folder = Path(tempfile.mkdtemp(prefix="bench-sip-"))
    # A real broker: the embedded one (amqtt) runs in serve's own event loop, and its handling of
    # a publish now and then stalls the loop for 100 ms, which is not the front door's latency.
    broker = Mosquitto(folder)
    try:
        results = measure(folder, args, f"mqtt://127.0.0.1:{broker.port}")
    finally:
        broker.stop()
    report(results, args.rates)


def measure(folder: Path, args: argparse.Namespace, broker_url: str) -> dict:
    results = {}
    for name in ("ipo-emu serve --sip", "sipp -sn uas"):
        port = free_port()
        server = (serve(folder, port, broker_url) if name.startswith("ipo-emu") else
                  subprocess.Popen(["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(port), "-nostdin"],
                                   cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.5)
        steps = []
        try:
            sipp_step(port, 100, 2.0, folder)  # warm-up, not counted: the server's first seconds are its set-up
            for rate in args.rates:
                step = sipp_step(port, rate, args.seconds, folder)
                steps.append(step)
                print(f"{name:20} {rate:6,} calls/s asked: {step['achieved']:8,.0f}/s done, {step['failed']} failed, "
                      f"p50 {step['p50_ms']:.2f} ms, p99 {step['p99_ms']:.2f} ms"
                      f"{'' if sustained(step) else '   (not sustained)'}", flush=True)
                if not sustained(step):
                    break
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        results[name] = steps
    return results


def report(results: dict, rates: list[int]) -> None:
    best = {name: max((s["rate"] for s in steps if sustained(s)), default=0) for name, steps in results.items()}
    ours, yardstick = best["ipo-emu serve --sip"], best["sipp -sn uas"]
    print(f"highest sustained: ipo-emu {ours:,} calls/s, SIPp's UAS {yardstick:,} calls/s"
          + (f" (ratio {ours / yardstick:.2f})" if yardstick else ""))
    common = [r for r in rates if any(s["rate"] == r and sustained(s) for s in results["ipo-emu serve --sip"])
              and any(s["rate"] == r and sustained(s) for s in results["sipp -sn uas"])]
    for rate in common:
        a = next(s for s in results["ipo-emu serve --sip"] if s["rate"] == rate)
        b = next(s for s in results["sipp -sn uas"] if s["rate"] == rate)
        print(f"at {rate:,} calls/s: p50 {a['p50_ms']:.2f} vs {b['p50_ms']:.2f} ms, p99 {a['p99_ms']:.2f} vs "
              f"{b['p99_ms']:.2f} ms (ratios {a['p50_ms'] / b['p50_ms']:.2f}, {a['p99_ms'] / b['p99_ms']:.2f})")


if __name__ == "__main__":
    main()

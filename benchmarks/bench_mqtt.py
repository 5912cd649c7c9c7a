"""Live units over MQTT: command round trips, events published, and admission with MQTT on/off.

Needs mosquitto (Debian package `mosquitto`); it starts its own on a free loopback port.

1. Command round trip: `ipo-emu serve` runs in its own process against mosquitto; this
   process sends offer_call/hang_up commands (MQTT 5, response topic + correlation data) at a
   fixed rate, open loop, and times each reply from the moment its command was due (so a
   late sender counts against the figure). 100/s, 1,000/s, then doubling until a rate is not
   sustained (a reply missing, p99 above 100 ms, or the rate not reached). Latencies go into
   an HDR histogram.
2. Events: the same served unit under traffic it cannot keep up with; events published per
   second, in batches, from the service's own counters.
3. Admission with MQTT on vs off, in this process, paired, alternating: the same scenario
   (same seed, same calls) on the wall clock, run flat out (the clock behind by design),
   once by the scenario runner with no subscriber (decisions only), once with events built
   but not published (an --events file to /dev/null), and once served over MQTT (events
   built, journaled nowhere, published in batches). Calls decided per second of wall time
   and the ratios are printed; target: MQTT on within 20 % of off. Flat out, the unit makes
   more events than one broker link takes: the service's counts of events published and
   dropped (the oldest waiting, counted; --journal would keep them) are printed too.

    python benchmarks/bench_mqtt.py              # about a minute
    python benchmarks/bench_mqtt.py --quick      # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiomqtt  # noqa: E402
from hdrh.histogram import HdrHistogram  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402

from emulator.scenario.loader import load_scenario  # noqa: E402
from emulator.scenario.runner import RunOptions, ScenarioRunner  # noqa: E402
from emulator.service.broker_address import parse_broker_url  # noqa: E402
from emulator.service.service import ServeOptions, Service  # noqa: E402

UNIT = """
name: bench
duration: {duration}
units:
  - name: office
    licenses: [{{feature: sip_trunk_channels, instances: 30}}]
    vcm_modules: [{{type: vcm32, codec: g711}}]
    trunks: [{{name: sip1, type: sip, channels: 40, codec: g711}}]
    users: [{users}]
    groups: [{{name: all, extension: "500", hunting: rotary, members: [{members}]}}]
{traffic}
"""
TRAFFIC = """traffic:
  - name: load
    from: sip1
    to: "500"
    erlangs: 25
    holding: {mean: 60s}
"""


def config(folder: Path, *, traffic: bool, duration: str = "1h") -> Path:
    members = [str(201 + i) for i in range(40)]
    text = UNIT.format(duration=duration, users=", ".join(f"{{name: u{m}, extension: \"{m}\"}}" for m in members),
                       members=", ".join(f'"{m}"' for m in members), traffic=TRAFFIC if traffic else "")
    path = folder / f"bench-{'traffic' if traffic else 'idle'}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Mosquitto:
    def __init__(self, folder: Path) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            sys.exit("bench_mqtt: mosquitto is not installed (apt-get install -y mosquitto)")
        self.port = free_port()
        conf = folder / "mosquitto.conf"
        conf.write_text(f"listener {self.port} 127.0.0.1\nset_tcp_nodelay true\nallow_anonymous true\nlog_dest stderr\n"
                        "log_type error\nmax_queued_messages 0\n", encoding="utf-8")
        self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(500):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.1).close()
                return
            except OSError:
                time.sleep(0.01)
        sys.exit("bench_mqtt: mosquitto did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


# -- 1. command round trips ---------------------------------------------------------------------

async def round_trips(port: int, rate: float, seconds: float) -> dict:
    count = max(10, int(rate * seconds))
    replies: dict[bytes, float] = {}
    due: dict[bytes, float] = {}
    reply_topic = f"bench/{uuid.uuid4().hex[:8]}"
    async with aiomqtt.Client("127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V5,
                              identifier=f"bench-{uuid.uuid4().hex[:6]}", max_queued_incoming_messages=0,
                              socket_options=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)) as client:
        await client.subscribe(reply_topic, qos=1)
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        async def read() -> None:
            async for message in client.messages:
                key = message.properties.CorrelationData
                replies[key] = loop.time()
                if len(replies) == count:
                    done.set()

        reader = asyncio.ensure_future(read())
        start = loop.time() + 0.05
        for i in range(count):
            at = start + i / rate
            delay = at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            key = f"k{i}".encode()
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic, props.CorrelationData = reply_topic, key
            verb, body = (("offer_call", {"a": "sip1", "b": "500", "call_id": f"b{i}"}) if i % 2 == 0
                          else ("hang_up", {"call_id": f"b{i - 1}"}))
            due[key] = at
            await client.publish(f"ipo/office/cmd/{verb}", json.dumps(body).encode(), qos=0, properties=props)
        sent_by = loop.time()
        try:
            await asyncio.wait_for(done.wait(), 5)
        except TimeoutError:
            pass
        reader.cancel()
    histogram = HdrHistogram(1, 60_000_000, 2)
    for key, got in replies.items():
        histogram.record_value(max(1, int((got - due[key]) * 1e6)))
    achieved = count / max(1e-9, sent_by - start)
    return {"rate": rate, "sent": count, "replies": len(replies), "achieved_rate": achieved,
            "p50_ms": histogram.get_value_at_percentile(50) / 1000,
            "p99_ms": histogram.get_value_at_percentile(99) / 1000, "max_ms": histogram.get_max_value() / 1000}


def serve_process(cfg: Path, port: int, folder: Path, *extra: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "serve", str(cfg), "--mqtt", f"mqtt://127.0.0.1:{port}",
                             "--max-commands", "0", "--service-id", f"bench-{uuid.uuid4().hex[:6]}", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=folder)
    proc.stdout.readline()  # the broker URL: the service is starting
    time.sleep(1.0)
    return proc


def stop(proc: subprocess.Popen) -> dict:
    """Stop a served process; its report's service counters."""
    proc.send_signal(2)
    out, _ = proc.communicate(timeout=60)
    try:
        return json.loads(out.decode())["service"]["counters"]
    except (ValueError, KeyError):
        return {}


def command_figures(folder: Path, port: int, quick: bool) -> list[dict]:
    proc = serve_process(config(folder, traffic=False), port, folder, "--json")
    rows = []
    try:
        seconds = 1.0 if quick else 3.0
        for rate in (100, 1000):
            rows.append(asyncio.run(round_trips(port, rate, seconds)))
        rate = 2000
        while rate <= (4000 if quick else 32000):
            row = asyncio.run(round_trips(port, rate, 1.0 if quick else 2.0))
            row["sustained"] = (row["replies"] == row["sent"] and row["p99_ms"] <= 100
                                and row["achieved_rate"] >= 0.9 * rate)
            rows.append(row)
            if not row["sustained"]:
                break
            rate *= 2
    finally:
        counters = stop(proc)
    return rows, counters


# -- 2. events published --------------------------------------------------------------------------

def event_figures(folder: Path, port: int, quick: bool) -> dict:
    report = folder / "events-report.json"
    simulated = 100_000 if quick else 400_000  # at x1,000,000: flat out, about 2 events a call
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "serve", str(config(folder, traffic=True, duration="100d")),
                             "--mqtt", f"mqtt://127.0.0.1:{port}", "--speed", "1000000", "--for", f"{simulated}s",
                             "--max-lag", "1000s",
                             "--report", str(report), "--json", "--service-id", "bench-events"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=folder)
    proc.communicate(timeout=600)
    data = json.loads(report.read_text(encoding="utf-8"))
    counters = data["service"]["counters"]
    return {"wall_s": data["wall_s"], "events": counters.get("events", 0),
            "published": counters.get("events_published", 0), "dropped": counters.get("events_dropped", 0),
            "per_s": counters.get("events_published", 0) / data["wall_s"]}


# -- 3. admission, MQTT on vs off -------------------------------------------------------------------

async def admission(loaded_path: Path, mode: str, port: int, seconds: float) -> tuple[float, int, dict]:
    loaded = load_scenario(loaded_path, serving=True)
    speed = 1e6  # far more than can be kept up with: the clock runs callbacks back to back
    if mode == "mqtt":
        service = Service(loaded, parse_broker_url(f"mqtt://127.0.0.1:{port}"),
                          ServeOptions(speed=speed, serve_for_s=seconds, handle_signals=False,
                                       service_id=f"bench-{mode}-{uuid.uuid4().hex[:4]}", max_lag_s=1e9))
        result = await service.run()
    else:
        events = Path(os.devnull) if mode == "events" else None
        runner = ScenarioRunner(loaded, RunOptions(realtime=True, speed=speed, events_path=events, max_lag_s=1e9),
                                serve_for=seconds)
        await runner.open(sample=False)
        started = time.perf_counter()
        await runner.run_clock()
        runner.mark_reached()
        result = await runner.close(time.perf_counter() - started, judge=False)
    calls = sum(u["calls"]["admitted"] + u["calls"]["rejected"] for u in result.data["units"])
    counters = result.data.get("service", {}).get("counters", {})
    return calls / result.data["wall_s"], calls, counters


def admission_figures(folder: Path, port: int, quick: bool) -> dict:
    path = config(folder, traffic=True, duration="100d")
    seconds = 200_000.0 if quick else 1_000_000.0  # simulated: about 80k / 400k call attempts
    rounds = 2 if quick else 4
    rates: dict[str, list[float]] = {"off": [], "events": [], "mqtt": []}
    calls: dict[str, int] = {}
    published = {"events": 0, "published": 0, "dropped": 0}
    for _ in range(rounds):
        for mode in rates:
            rate, n, counters = asyncio.run(admission(path, mode, port, seconds))
            rates[mode].append(rate)
            calls[mode] = n
            if mode == "mqtt":
                published["events"] += counters.get("events", 0)
                published["published"] += counters.get("events_published", 0)
                published["dropped"] += counters.get("events_dropped", 0)
    pairs = list(zip(rates["mqtt"], rates["off"], rates["events"], strict=True))
    return {"calls": calls, "rates": rates, "events": published,
            "mqtt_over_off": statistics.median(m / o for m, o, _ in pairs),
            "mqtt_over_events": statistics.median(m / e for m, _, e in pairs),
            "events_over_off": statistics.median(e / o for _, o, e in pairs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        broker = Mosquitto(folder)
        try:
            print("Command round trips through loopback mosquitto (serve in its own process, MQTT 5):")
            print(f"  {'rate/s':>8} {'sent':>7} {'replies':>8} {'achieved/s':>11} {'p50 ms':>8} {'p99 ms':>8} "
                  f"{'max ms':>8}")
            best = None
            rows, counters = command_figures(folder, broker.port, args.quick)
            for row in rows:
                flag = "" if row.get("sustained", True) else "  (not sustained)"
                print(f"  {row['rate']:>8,} {row['sent']:>7,} {row['replies']:>8,} {row['achieved_rate']:>11,.0f} "
                      f"{row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['max_ms']:>8.2f}{flag}")
                if row.get("sustained"):
                    best = row["rate"]
            print(f"  highest sustained rate: {best:,}/s" if best else "  no rate above 1,000/s was sustained")
            sent = sum(row["sent"] for row in rows)
            print(f"  the service counted {counters.get('commands', 0):,} commands of {sent:,} sent and published "
                  f"{counters.get('replies_published', 0):,} replies; its client dropped "
                  f"{counters.get('inbound_queue_full', 0):,} (queue full)")
            ev = event_figures(folder, broker.port, args.quick)
            print(f"Events: {ev['published']:,} of {ev['events']:,} published in {ev['wall_s']:.1f} s "
                  f"= {ev['per_s']:,.0f} events/s in batches ({ev['dropped']:,} dropped)")
            ad = admission_figures(folder, broker.port, args.quick)
            print("Call admission on the wall clock, flat out (calls decided per second of wall time, median of "
                  f"{len(ad['rates']['off'])} alternating rounds; {ad['calls']['off']:,} calls each):")
            for mode, label in (("off", "no events (decisions only)"), ("events", "events built, written nowhere"),
                                ("mqtt", "served over MQTT")):
                print(f"  {label:<32} {statistics.median(ad['rates'][mode]):>10,.0f} calls/s")
            ev = ad["events"]
            print(f"  served over MQTT, all rounds: {ev['events']:,} events made, {ev['published']:,} published, "
                  f"{ev['dropped']:,} dropped (flat out, more events are made than one broker link takes: the "
                  "oldest waiting are dropped and counted, and the decisions go on)")
            print(f"  MQTT on / off: {ad['mqtt_over_off']:.3f}  (target >= 0.80: "
                  f"{'PASS' if ad['mqtt_over_off'] >= 0.8 else 'FAIL'});  MQTT / events only: "
                  f"{ad['mqtt_over_events']:.2f};  events / off: {ad['events_over_off']:.2f}")
        finally:
            broker.stop()


if __name__ == "__main__":
    main()

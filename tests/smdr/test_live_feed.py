"""The live SMDR feed over real TCP: a receiver on a loopback port gets a record per call,
admitted or refused; while it is down records wait in order, and a small buffer overwrites
the oldest and counts them."""

from __future__ import annotations

import asyncio
import socket

from emulator.cli import main
from emulator.scenario.loader import parse_scenario
from emulator.scenario.runner import RunOptions, ScenarioRunner
from emulator.smdr.link import SmdrLink
from emulator.smdr.receiver import SmdrReceiver
from emulator.smdr.record import SmdrLineError, SmdrRecord


class Collector:
    def __init__(self) -> None:
        self.records: list[SmdrRecord] = []
        self.errors: list[SmdrLineError] = []
        self.arrived = asyncio.Event()

    def __call__(self, peer, number, raw, parsed) -> None:
        (self.errors if isinstance(parsed, SmdrLineError) else self.records).append(parsed)
        self.arrived.set()

    async def wait_for(self, count: int, within_s: float = 10.0) -> None:
        async def enough() -> None:
            while len(self.records) < count:
                self.arrived.clear()
                await self.arrived.wait()
        await asyncio.wait_for(enough(), within_s)


def record_line(n: int) -> bytes:
    return (f"2026/03/02 08:00:{n % 60:02d},00:00:05,1,201,O,202,202,,1,{1000000 + n},0,E201,Ann,E202,Bob,0,0"
            "\r\n").encode()


async def test_records_wait_in_order_while_the_receiver_is_down():
    collector = Collector()
    receiver = SmdrReceiver(collector)
    port = await receiver.start()
    link = SmdrLink("office", "127.0.0.1", port, buffer=100)
    link.start()
    try:
        for n in range(5):
            link.put(record_line(n))
        await collector.wait_for(5)
        await receiver.stop()
        await asyncio.wait_for(link.disconnected.wait(), 5)
        for n in range(5, 25):
            link.put(record_line(n))
        await asyncio.sleep(0.3)  # the link keeps trying: nothing is lost meanwhile
        assert len(link.buffer) == 20 and link.overwritten == 0
        receiver = SmdrReceiver(collector)
        await receiver.start(port=port)
        await collector.wait_for(25)
        assert [r.call_id - 1000000 for r in collector.records] == list(range(25))
        assert (link.sent, link.overwritten, len(link.buffer), link.connects) == (25, 0, 0, 2)
        assert link.failures >= 1 and not collector.errors
    finally:
        await link.close(0)
        await receiver.stop()


async def test_a_full_buffer_overwrites_the_oldest_and_counts_them():
    collector = Collector()
    with socket.socket() as probe:  # a port nobody listens on yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    link = SmdrLink("office", "127.0.0.1", port, buffer=10)
    link.start()
    receiver = SmdrReceiver(collector)
    try:
        for n in range(25):
            link.put(record_line(n))
        await asyncio.sleep(0.2)
        assert link.connects == 0 and link.failures >= 1
        await receiver.start(port=port)
        await collector.wait_for(10)
        await asyncio.sleep(0.1)
        assert [r.call_id - 1000000 for r in collector.records] == list(range(15, 25))
        assert link.summary()["overwritten"] == 15 and link.summary()["sent"] == 10
    finally:
        await link.close(0)
        await receiver.stop()


def scenario_text(port: int, buffer: int = 500) -> str:
    return f"""
name: a unit with a call logger
duration: 4s
units:
  - name: office
    licenses: [{{feature: sip_trunk_channels, instances: 2}}]
    vcm_modules: [{{type: vcm32}}]
    trunks: [{{name: sip1, type: sip, channels: 8}}]
    users:
      - {{name: Ann, extension: "201", phone: "2420"}}
      - {{name: Bob, extension: "202", phone: "2420"}}
      - {{name: Cy, extension: "203", phone: "2420"}}
    smdr: {{host: 127.0.0.1, port: {port}, buffer: {buffer}}}
events:
  - {{at: 0.2s, call: {{from: sip1, to: "201", duration: 1s}}}}
  - {{at: 0.4s, call: {{from: sip1, to: "202", duration: 1s}}}}
  - {{at: 0.6s, call: {{from: sip1, to: "203", duration: 1s}}}}
  - {{at: 2s, call: {{from: "201", to: "202", duration: 0.5s}}}}
expect:
  - calls: {{outcome: rejected, reason: license_exhausted}}
    equals: 1
"""


async def test_a_realtime_run_sends_admitted_and_refused_calls(tmp_path):
    collector = Collector()
    receiver = SmdrReceiver(collector)
    port = await receiver.start()
    try:
        loaded = parse_scenario(scenario_text(port), tmp_path / "office.yaml")
        result = await ScenarioRunner(loaded, RunOptions(realtime=True, speed=2.0)).run()
        await collector.wait_for(4)
    finally:
        await receiver.stop()
    assert result.passed and result.data["warnings"] == []
    (feed,) = result.data["smdr"]["feeds"]
    assert (feed["records"], feed["sent"], feed["overwritten"], feed["unsent"]) == (4, 4, 0, 0)
    lost = [r for r in collector.records if r.lost]
    assert len(lost) == 1 and lost[0].party1_device == "E203" and lost[0].party2_name == "Line 1.0"
    assert sorted(r.party1_device for r in collector.records if not r.lost) == ["E201", "E201", "E202"]


async def test_a_destination_that_never_answers_is_reported(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    loaded = parse_scenario(scenario_text(port), tmp_path / "office.yaml")
    result = await ScenarioRunner(loaded, RunOptions(realtime=True, speed=4.0)).run()
    (feed,) = result.data["smdr"]["feeds"]
    assert (feed["records"], feed["sent"], feed["unsent"]) == (4, 0, 4) and feed["connection_failures"] >= 1
    assert any("4 SMDR records were never sent to 127.0.0.1" in w for w in result.data["warnings"])


def test_a_virtual_run_says_the_feed_is_for_the_wall_clock(tmp_path):
    loaded = parse_scenario(scenario_text(9), tmp_path / "office.yaml")
    result = asyncio.run(ScenarioRunner(loaded).run())
    assert result.data["smdr"] is None
    assert any("runs on the wall clock only" in w for w in result.data["warnings"])


def test_the_listen_command_stores_what_arrives(tmp_path, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "received.csv"

    async def send() -> None:
        await asyncio.sleep(0.3)
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(record_line(1) + b"junk\r\n" + record_line(2))
        await writer.drain()
        writer.close()

    import threading
    sender = threading.Thread(target=lambda: asyncio.run(send()))
    sender.start()
    code = main(["smdr", "listen", str(port), "--output", str(out), "--count", "2", "--for", "10s"])
    sender.join()
    err = capsys.readouterr().err
    assert code == 0, err
    assert out.read_bytes() == record_line(1) + b"junk\r\n" + record_line(2)
    assert "line 2: 1 field: a record has 17 to 35" in err and "received 2 records and 1 lines" in err


def test_a_bad_destination_is_named_in_the_scenario(tmp_path):
    import pytest

    from emulator.scenario.loader import ScenarioError

    with pytest.raises(ScenarioError, match=r"units\[0\].smdr.buffer: Input should be less than or equal to 3000"):
        parse_scenario(scenario_text(1150, buffer=5000), tmp_path / "office.yaml")

"""The broker never slows a decision: killed and restarted mid-run, the units keep admitting
calls, state is published again after the reconnect, and with --journal no event is lost."""

from __future__ import annotations

import asyncio
import json

from tests.service.probe import Probe
from tests.service.served import OFFICE, served, write_config

TRAFFIC = OFFICE + """
traffic:
  - name: inbound
    unit: office
    from: sip1
    to: ["203", "204", "205"]
    calls_per_hour: 36000
    holding: {distribution: exponential, mean: 2s}
"""


async def _until(predicate, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.02)


async def test_broker_killed_and_restarted(mosquitto, tmp_path):
    journal = tmp_path / "journal.jsonl"
    async with served(write_config(tmp_path, TRAFFIC), mosquitto.url, journal=journal, speed=4) as service:
        unit = service.runner.network.units["office"]
        async with Probe(mosquitto.port) as probe:
            await probe.subscribe("ipo/office/status")
            status = await probe.wait_for("ipo/office/status")
            assert status["online"] and status["feature_key_state"] == "present"
        await _until(lambda: unit.stats.calls_offered > 5, 10, "traffic")
        mosquitto.kill()
        await _until(lambda: not service.link.connected.is_set(), 10, "noticing the broker is gone")
        offered_at_outage = unit.stats.calls_offered
        await asyncio.sleep(1.5)
        assert unit.stats.calls_offered > offered_at_outage + 5  # decisions went on without the broker
        assert service.outbox.waiting() > 0
        mosquitto.start()  # same port, empty: no retained state survived
        await _until(lambda: service.link.counters["connections"] >= 2, 15, "reconnecting")
        async with Probe(mosquitto.port) as probe:
            await probe.subscribe("ipo/office/status", "ipo/office/licenses", "ipo/_service/test-service/status")
            status = await probe.wait_for("ipo/office/status")
            assert status["online"] and status["service"] == "test-service"
            licenses = await probe.wait_for("ipo/office/licenses")
            assert any(p["pool"] == "sip_trunk_channels" for p in licenses["pools"])
            assert (await probe.wait_for("ipo/_service/test-service/status"))["online"]
        await _until(lambda: service.outbox.waiting() == 0, 10, "publishing what waited")
    counters = service.result.data["service"]["counters"]
    lines = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == counters["events"] == counters["events_journaled"]
    seqs = [line["seq"] for line in lines if line["unit"] == "office"]
    assert seqs == list(range(1, len(seqs) + 1))
    assert counters["events_published"] == counters["events"]  # the outage lost none
    assert counters.get("events_dropped", 0) == 0
    admitted = sum(1 for line in lines if line["kind"] == "call.admitted" and line["unit"] == "office")
    assert admitted == service.runner.network.units["office"].stats.calls_admitted


async def test_events_beyond_the_buffer_are_dropped_counted_and_journaled(mosquitto, tmp_path):
    journal = tmp_path / "journal.jsonl"
    async with served(write_config(tmp_path, TRAFFIC), mosquitto.url, journal=journal, speed=4) as service:
        service.outbox.max_events = 20
        mosquitto.kill()
        await _until(lambda: service.outbox.counters["events_dropped"] > 0, 10, "dropping")
    data = service.result.data
    counters = data["service"]["counters"]
    assert counters["events_dropped"] > 0
    assert counters["events_journaled"] == counters["events"]
    assert len(journal.read_text(encoding="utf-8").splitlines()) == counters["events"]
    assert any("could not be published" in w and "journal" in w for w in data["warnings"])

"""A served unit with an SMDR destination: calls driven over MQTT reach a real call logger."""

from __future__ import annotations

import asyncio

from emulator.smdr.receiver import SmdrReceiver
from tests.service.probe import Probe
from tests.service.served import OFFICE, served, write_config


async def test_calls_made_over_mqtt_arrive_as_smdr_records(mosquitto, tmp_path):
    records = []
    arrived = asyncio.Event()

    def on_line(peer, number, raw, parsed) -> None:
        records.append(parsed)
        arrived.set()

    receiver = SmdrReceiver(on_line)
    port = await receiver.start()
    config = OFFICE.replace("    feature_key: virtual:30000001\n",
                            f"    feature_key: virtual:30000001\n    smdr: {{host: 127.0.0.1, port: {port}}}\n")
    try:
        async with served(write_config(tmp_path, config), mosquitto.url) as service:
            async with Probe(mosquitto.port, version="5") as probe:
                for call in ("c1", "c2", "c3"):
                    await probe.command("office", "offer_call", {"a": "sip1", "b": "203", "call_id": call})
                await probe.command("office", "hang_up", {"call_id": "c1"})

                async def three() -> None:
                    while len(records) < 3:
                        arrived.clear()
                        await arrived.wait()

                await asyncio.wait_for(three(), 10)
    finally:
        await receiver.stop()
    refused = [r for r in records if r.lost]
    assert len(refused) == 2 and {r.call_id for r in refused} == {1000001, 1000002}  # 203 was busy: c2 and c3
    (ended,) = [r for r in records if not r.lost]
    assert (ended.call_id, ended.party1_device, ended.party2_device, ended.direction) == (1000000, "E203", "T9001", "I")
    feeds = service.result.data["smdr"]["feeds"]
    assert [(f["unit"], f["sent"], f["unsent"]) for f in feeds] == [("office", 3, 0)]

"""Every command verb, round trip through a real broker: MQTT 5 (response topic and
correlation data) on mosquitto, MQTT 3.1.1 (reply_to and id) on the embedded broker."""

from __future__ import annotations


from emulator.service.embedded_broker import EmbeddedBroker
from emulator.service.payloads import Reply
from tests.service.probe import Probe
from tests.service.served import served, write_config


async def _every_verb(probe: Probe) -> None:
    ok = await probe.command("office", "offer_call", {"a": "sip1", "b": "203", "call_id": "c1"})
    assert (ok["ok"], ok["outcome"], ok["call_id"]) == (True, "admitted", "c1")
    Reply.model_validate(ok)
    await probe.command("office", "offer_call", {"a": "sip1", "b": "204", "call_id": "c2"})
    third = await probe.command("office", "offer_call", {"a": "sip1", "b": 205})
    assert (third["ok"], third["outcome"], third["reason"], third["detail"]) == (
        True, "rejected", "license_exhausted", "sip_trunk_channels")
    assert (await probe.command("office", "hang_up", {"call_id": "c2"}))["outcome"] == "ended"
    ringing = await probe.command("office", "offer_call", {"a": "sip1", "b": "204", "call_id": "r1",
                                                           "answered": False})
    assert ringing["outcome"] == "admitted"
    assert (await probe.command("office", "answer", {"call_id": "r1"}))["outcome"] == "connected"
    network = await probe.command("office", "offer_call", {"a": "203", "b": "branch/401", "call_id": "n1"})
    assert network["outcome"] == "rejected" and network["reason"] == "extension_busy"  # 203 is on c1
    network = await probe.command("office", "offer_call", {"a": "201", "b": "branch/401", "call_id": "n1"})
    assert network["outcome"] == "rejected" and network["reason"] == "not_registered"
    assert (await probe.command("office", "register", {"extension": "201"}))["outcome"] == "registered"
    network = await probe.command("office", "offer_call", {"a": "201", "b": "branch/401", "call_id": "n1"})
    assert network["outcome"] == "admitted", network
    assert (await probe.command("office", "register", {"extension": "301"}))["outcome"] == "registered"
    refused = await probe.command("office", "register", {"extension": "302"})
    assert (refused["outcome"], refused["reason"]) == ("rejected", "license_exhausted")
    assert (await probe.command("office", "unregister", {"extension": "301"}))["outcome"] == "unregistered"
    assert (await probe.command("office", "register", {"extension": "302"}))["outcome"] == "registered"
    started = await probe.command("office", "start_application", {"app": "phone_manager", "user": "anna"})
    assert started["outcome"] == "started"
    fallback = await probe.command("office", "start_application", {"app": "phone_manager", "user": "ben"})
    assert fallback["outcome"] == "fallback"
    assert (await probe.command("office", "stop_application", {"app": "phone_manager", "user": "anna"}))[
        "outcome"] == "stopped"
    pulled = await probe.command("office", "pull_feature_key")
    assert (pulled["outcome"], pulled["accepted"]) == ("absent", False)
    state = await probe.command("office", "get_state")
    assert state["state"]["status"]["feature_key_state"] == "absent"
    assert state["state"]["status"]["grace_ends_at"] is not None
    inserted = await probe.command("office", "insert_feature_key")
    assert (inserted["outcome"], inserted["detail"]) == ("present", "30000001")
    installed = await probe.command("office", "install_license",
                                    {"license": {"feature": "sip_trunk_channels", "instances": 3}})
    assert installed["outcome"] == "Valid"
    key = installed["licenses"][0]["key"]
    more = await probe.command("office", "offer_call", {"a": "sip1", "b": "205"})
    assert more["outcome"] == "admitted"  # 2 + 3 licenses now
    assert (await probe.command("office", "remove_license", {"key": key}))["outcome"] == "removed"
    assert (await probe.command("office", "remove_license", {"key": key}))["outcome"] == "not_installed"
    state = await probe.command("office", "get_state")
    pools = {p["pool"]: p for p in state["state"]["licenses"]["pools"]}
    assert pools["sip_trunk_channels"]["licensed"] == 2
    assert pools["sip_trunk_channels"]["peak"] == 3
    for reply in (ok, third, state):
        Reply.model_validate(reply)


async def test_every_verb_over_mqtt5_on_mosquitto(mosquitto, tmp_path):
    async with served(write_config(tmp_path), mosquitto.url) as service:
        assert service.link.protocol == "5"
        async with Probe(mosquitto.port, version="5") as probe:
            await _every_verb(probe)
    assert service.result.data["service"]["counters"]["commands"] == 25


async def test_every_verb_over_mqtt311_on_the_embedded_broker(tmp_path):
    broker = EmbeddedBroker()
    address = await broker.start()
    try:
        async with served(write_config(tmp_path), f"mqtt://127.0.0.1:{address.port}",
                          mqtt_version="3.1.1") as service:
            assert service.link.protocol == "3.1.1"
            async with Probe(address.port, version="3.1.1") as probe:
                await _every_verb(probe)
    finally:
        await broker.stop()


async def test_auto_falls_back_to_311_when_the_broker_refuses_5(tmp_path):
    """mosquitto configured for 3.1.1 only would be the real case; amqtt refuses a bare
    MQTT 5 CONNECT without a will with code 132, which is what auto-detection reads."""
    from emulator.service.mqtt_link import _protocol_refused

    assert _protocol_refused(132) and _protocol_refused(1) and not _protocol_refused(5)


def test_the_published_schemas_are_current():
    import json
    from pathlib import Path

    from emulator.service.payloads import mqtt_json_schemas

    path = Path(__file__).resolve().parents[2] / "docs" / "mqtt-schemas.json"
    assert json.loads(path.read_text(encoding="utf-8")) == mqtt_json_schemas(), (
        "docs/mqtt-schemas.json is stale: ipo-emu schema --mqtt -o docs/mqtt-schemas.json")


async def test_published_payloads_follow_their_schemas(mosquitto, tmp_path):
    import json
    from pathlib import Path

    import jsonschema

    schemas = json.loads((Path(__file__).resolve().parents[2] / "docs" / "mqtt-schemas.json").read_text())
    published = schemas["published"]
    async with served(write_config(tmp_path), mosquitto.url) as service:
        async with Probe(mosquitto.port) as probe:
            await probe.subscribe("ipo/+/status", "ipo/+/licenses", "ipo/+/events", "ipo/_service/+/status")
            await probe.command("office", "offer_call", {"a": "sip1", "b": "203"})
            await probe.command("office", "pull_feature_key")
            await probe.wait_for("ipo/office/events", lambda b: any(e["kind"] == "feature_key.absent"
                                                                    for e in b["events"]))
            await probe.wait_for("ipo/office/status", lambda s: s["feature_key_state"] == "absent")
            kinds = set()
            for topic, payload, _ in probe.messages:
                if topic.startswith("ipo/_service/"):
                    name = "service status"
                elif topic.startswith("ipo/"):
                    name = topic.rsplit("/", 1)[1]
                else:
                    name = "reply"
                jsonschema.validate(json.loads(payload), published[name])
                kinds.add(name)
            assert kinds == {"status", "licenses", "events", "reply", "service status"}
    assert service.result.data["service"]["counters"]["commands"] == 2

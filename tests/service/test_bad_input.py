"""Bad input on every topic gets an error reply naming the field, or is dropped and counted;
the unit keeps deciding and holds nothing it should not."""

from __future__ import annotations

import asyncio
import json

import pytest

from emulator.service.embedded_broker import EmbeddedBroker
from emulator.service.payloads import Reply
from tests.service.probe import Probe
from tests.service.served import served, write_config

CORPUS = [
    # (verb, raw payload, error code, field)
    ("offer_call", b"{not json", "malformed_json", None),
    ("offer_call", b"\xff\xfe\x00garbage", "malformed_json", None),
    ("offer_call", b"[1, 2, 3]", "not_an_object", None),
    ("offer_call", b'"just a string"', "not_an_object", None),
    ("offer_call", b"[" * 5000 + b"]" * 5000, "malformed_json", None),
    ("explode", b"{}", "unknown_verb", None),
    ("offer_call", b'{"a": [], "b": "201"}', "invalid_field", "a"),
    ("offer_call", b'{"a": "sip1"}', "invalid_field", "b"),
    ("offer_call", b'{"a": "sip1", "b": "201", "colour": "red"}', "invalid_field", "colour"),
    ("offer_call", b'{"a": "sip1", "b": "999"}', "invalid_field", "b"),
    ("offer_call", b'{"a": "nobody", "b": "201"}', "invalid_field", "a"),
    ("offer_call", b'{"a": "sip1", "b": "nowhere/401"}', "invalid_field", "b"),
    ("offer_call", b'{"a": "sip1", "b": "203", "duration": -5}', "invalid_field", "duration"),
    ("offer_call", b'{"a": "sip1", "b": "203", "duration": "forever"}', "invalid_field", "duration"),
    ("offer_call", b'{"a": "sip1", "b": "203", "answered": "maybe"}', "invalid_field", "answered"),
    ("offer_call", b'{"a": "sip1", "b": "203", "call_id": ""}', "invalid_field", "call_id"),
    ("hang_up", b'{"call_id": "never-offered"}', "unknown_call", "call_id"),
    ("answer", b'{}', "invalid_field", "call_id"),
    ("register", b'{"extension": "999"}', "invalid_field", "extension"),
    ("register", b'{"extension": 12.5}', "invalid_field", "extension"),
    ("start_application", b'{"app": "solitaire", "user": "anna"}', "invalid_field", "app"),
    ("start_application", b'{"app": "phone_manager", "user": "nobody"}', "invalid_field", "user"),
    ("insert_feature_key", b'{"serial": "not-a-serial"}', "invalid_field", "serial"),
    ("install_license", b'{"license": "AAAA"}', "invalid_field", "license"),
    ("install_license", b'{"license": {"feature": "time_travel"}}', "invalid_field", "license"),
    ("remove_license", b'{"key": "short"}', "invalid_field", "key"),
    ("pull_feature_key", b'{"force": true}', "invalid_field", "force"),
    ("offer_call", b"{" + b'"a": "' + b"x" * 70_000 + b'"}', "payload_too_large", None),
]


async def test_every_bad_command_gets_one_error_reply_and_the_unit_keeps_deciding(mosquitto, tmp_path):
    async with served(write_config(tmp_path), mosquitto.url) as service:
        async with Probe(mosquitto.port) as probe:
            up = await probe.command("office", "offer_call", {"a": "sip1", "b": "203", "call_id": "keep"})
            assert up["outcome"] == "admitted"
            for verb, payload, code, field in CORPUS:
                reply = await probe.command("office", verb, payload, raw=True)
                Reply.model_validate(reply)
                assert (reply["ok"], reply["error"]["code"], reply["error"]["field"]) == (False, code, field), (
                    verb, payload[:60], reply)
                assert "\n" not in reply["error"]["message"]
            dup = await probe.command("office", "offer_call", {"a": "sip1", "b": "204", "call_id": "keep"})
            assert dup["error"]["code"] == "call_id_in_use"
            # still deciding, and holding only the one call it admitted
            after = await probe.command("office", "offer_call", {"a": "sip1", "b": "204", "call_id": "after"})
            assert after["outcome"] == "admitted"
            unit = service.runner.network.units["office"]
            assert set(unit.core.calls.active) == {"keep", "after"}
            assert unit.pools()["sip_trunk_channels"].in_use == 2
            await probe.command("office", "hang_up", {"call_id": "keep"})
            await probe.command("office", "hang_up", {"call_id": "after"})
            assert unit.pools()["sip_trunk_channels"].in_use == 0
            assert not unit.core.calls.active
    counters = service.result.data["service"]["counters"]
    assert counters["commands"] == len(CORPUS) + 5
    assert sum(v for k, v in counters.items() if k.startswith("error.")) == len(CORPUS) + 1


async def test_a_reply_never_lands_on_a_units_state(mosquitto, tmp_path):
    """reply_to (MQTT 3.1.1) or a response topic naming <prefix>/<unit>/status is not obeyed:
    the reply goes to <prefix>/<unit>/reply and the refusal is counted."""
    async with served(write_config(tmp_path), mosquitto.url) as service:
        async with Probe(mosquitto.port, version="3.1.1") as probe:
            await probe.subscribe("ipo/office/reply", "ipo/office/status")
            await probe.client.publish("ipo/office/cmd/get_state", json.dumps(
                {"id": "x1", "reply_to": "ipo/office/status"}).encode(), qos=1)
            reply = await probe.wait_for("ipo/office/reply", lambda r: r.get("id") == "x1")
            assert reply["ok"]
            status = await probe.wait_for("ipo/office/status")
            assert status["unit"] == "office"  # the retained status, untouched
    assert service.result.data["service"]["counters"]["reply_to_refused"] == 1


async def test_unparseable_command_on_311_is_answered_on_the_units_reply_topic(tmp_path):
    broker = EmbeddedBroker()
    address = await broker.start()
    try:
        async with served(write_config(tmp_path), f"mqtt://127.0.0.1:{address.port}", mqtt_version="3.1.1"):
            async with Probe(address.port, version="3.1.1") as probe:
                await probe.subscribe("ipo/office/reply")
                await probe.client.publish("ipo/office/cmd/offer_call", b"{oops", qos=1)
                reply = await probe.wait_for("ipo/office/reply")
                assert reply["error"]["code"] == "malformed_json" and reply["id"] is None
    finally:
        await broker.stop()


async def test_a_command_to_a_unit_nobody_serves_gets_no_reply_and_disturbs_nothing(mosquitto, tmp_path):
    """One owner per unit: a process subscribes to its own units' commands only, so it never
    answers for a unit it does not own (another process may serve it)."""
    async with served(write_config(tmp_path), mosquitto.url) as service:
        async with Probe(mosquitto.port) as probe:
            with pytest.raises(TimeoutError):
                await probe.command("elsewhere", "get_state", {}, timeout=0.5)
    assert service.result.data["service"]["counters"].get("commands", 0) == 0


async def test_a_flood_is_rate_limited_with_one_reply_per_command(mosquitto, tmp_path):
    async with served(write_config(tmp_path), mosquitto.url, max_commands_per_s=100) as service:
        async with Probe(mosquitto.port) as probe:
            replies = await asyncio.gather(*(probe.command("office", "get_state", timeout=20) for _ in range(600)))
    codes = [r["error"]["code"] if not r["ok"] else "ok" for r in replies]
    assert len(replies) == 600
    # 100 at once, then 100 a second: however long sending takes here (up to 2 s), most are refused
    assert codes.count("rate_limited") >= 200 and codes.count("ok") >= 100, codes.count("ok")
    assert codes.count("rate_limited") + codes.count("ok") == 600
    counters = service.result.data["service"]["counters"]
    assert counters["commands"] == 600 and counters["error.rate_limited"] == codes.count("rate_limited")


async def test_read_only_answers_get_state_and_refuses_the_rest(mosquitto, tmp_path):
    async with served(write_config(tmp_path), mosquitto.url, read_only=True) as service:
        async with Probe(mosquitto.port) as probe:
            refused = await probe.command("office", "offer_call", {"a": "sip1", "b": "203"})
            assert refused["error"]["code"] == "read_only"
            state = await probe.command("office", "get_state")
            assert state["ok"] and state["state"]["licenses"]["calls_up"] == 0
    assert not service.runner.network.units["office"].stats.calls_offered

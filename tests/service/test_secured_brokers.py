"""mosquitto with a password file, with TLS (server and client certificates), and two
mosquittos bridged over MQTT 5: units served on one, watched and commanded through the other."""

from __future__ import annotations

import subprocess

import pytest

from emulator.service.broker_address import BrokerAddressError, parse_broker_url
from tests.service.brokers import Mosquitto, free_port, make_tls_material
from tests.service.probe import Probe
from tests.service.served import served, write_config


def _password_file(folder, user: str, password: str):
    path = folder / "passwords"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(path), user, password], check=True, capture_output=True)
    path.chmod(0o600)
    return path


async def test_username_and_password(tmp_path):
    passwords = _password_file(tmp_path, "emu", "s3cret:/@")
    broker = Mosquitto(tmp_path, anonymous=False, extra=f"password_file {passwords}").start()
    try:
        url = f"mqtt://emu:s3cret%3A%2F%40@127.0.0.1:{broker.port}"
        async with served(write_config(tmp_path), url) as service:
            assert service.address.url == f"mqtt://emu@127.0.0.1:{broker.port}"  # no password in messages
            async with Probe(broker.port, username="emu", password="s3cret:/@") as probe:
                assert (await probe.command("office", "get_state"))["ok"]
        # a wrong password: the service keeps trying and says why
        async with _serving_briefly(tmp_path, f"mqtt://emu:wrong@127.0.0.1:{broker.port}") as service:
            assert "not authori" in (service.link.last_error or "").lower() or "bad user" in (
                service.link.last_error or "").lower(), service.link.last_error
    finally:
        broker.stop()


class _serving_briefly:
    """A service whose broker refuses it: start, wait for the first failure, stop."""

    def __init__(self, tmp_path, url: str) -> None:
        self.tmp_path, self.url = tmp_path, url

    async def __aenter__(self):
        import asyncio

        from emulator.scenario.loader import load_scenario
        from emulator.service.service import ServeOptions, Service

        loaded = load_scenario(write_config(self.tmp_path, name="brief.yaml"), serving=True)
        self.service = Service(loaded, parse_broker_url(self.url), ServeOptions(handle_signals=False,
                                                                               service_id="brief"))
        self.task = asyncio.ensure_future(self.service.run())
        for _ in range(500):
            await asyncio.sleep(0.01)
            if self.service.link is not None and self.service.link.last_error:
                break
        return self.service

    async def __aexit__(self, *exc):
        self.service.stop()
        await self.task


async def test_tls_with_a_client_certificate(tmp_path):
    tls = make_tls_material(tmp_path)
    tls_port = free_port()
    broker = Mosquitto(tmp_path, tls_port=tls_port, extra=(
        f"listener {tls_port} 127.0.0.1\ncafile {tls['ca']}\ncertfile {tls['server_cert']}\n"
        f"keyfile {tls['server_key']}\nrequire_certificate true\n")).start()
    try:
        files = {"tls_ca": tls["ca"], "tls_cert": tls["client_cert"], "tls_key": tls["client_key"]}
        async with served(write_config(tmp_path), f"mqtts://127.0.0.1:{tls_port}", tls=files) as service:
            assert service.link.protocol == "5"
            async with Probe(broker.port) as probe:  # plain listener of the same broker
                assert (await probe.command("office", "offer_call", {"a": "sip1", "b": "203"}))["outcome"] == "admitted"
    finally:
        broker.stop()


def test_tls_options_are_checked():
    with pytest.raises(BrokerAddressError, match="need an mqtts"):
        parse_broker_url("mqtt://127.0.0.1:1", tls_ca=__import__("pathlib").Path("/etc/hostname"))
    with pytest.raises(BrokerAddressError, match="no such file"):
        parse_broker_url("mqtts://127.0.0.1:1", tls_ca=__import__("pathlib").Path("/nonexistent/ca.pem"))
    with pytest.raises(BrokerAddressError, match="mqtt://host:port"):
        parse_broker_url("http://127.0.0.1:1")
    assert parse_broker_url("mqtts://h").port == 8883 and parse_broker_url("mqtt://h").port == 1883


async def test_two_bridged_brokers(tmp_path):
    """Units served on broker A; a client on broker B commands and watches them (MQTT 5 bridge)."""
    near = Mosquitto(tmp_path).start()
    far_port = free_port()
    far = Mosquitto(tmp_path, port=far_port, extra=(
        f"connection to-near\naddress 127.0.0.1:{near.port}\nbridge_protocol_version mqttv50\n"
        "topic ipo/# both 1\ntopic probe/# both 1\ncleansession true\n")).start()
    try:
        async with served(write_config(tmp_path), near.url):
            async with Probe(far.port) as probe:
                await probe.subscribe("ipo/office/status", "ipo/office/events")
                status = await probe.wait_for("ipo/office/status", timeout=10)
                assert status["online"]
                reply = None
                for _ in range(50):  # the bridge's subscriptions settle after it connects
                    try:
                        reply = await probe.command("office", "offer_call", {"a": "sip1", "b": "203"}, timeout=0.5)
                        break
                    except TimeoutError:
                        continue
                assert reply is not None and reply["outcome"] == "admitted"
                events = await probe.wait_for("ipo/office/events",
                                              lambda e: any(x["kind"] == "call.admitted" for x in e["events"]))
                assert events["unit"] == "office"
    finally:
        far.stop()
        near.stop()

"""Serial dongles on real kernel pseudo-terminals: probe, failures, unplug and replug, stress, loop lag."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from serial.tools.list_ports_common import ListPortInfo

from emulator.cli import main
from emulator.config import UnitConfig
from emulator.reasons import Reason
from emulator.runtime import ControlUnit, WallClock
from hardware.dongle.protocol import CHALLENGE, RESPONSE, FrameReader, encode
from hardware.dongle.server import DongleBehaviour, PtyDongle, ReferenceDongle
from hardware.feature_keys import FeatureKeyAbsentError, FeatureKeyConfigError, open_feature_key
from hardware.feature_keys.serial_key import FeatureKeyAuthError, find_usb_port
from tests.conftest import SERIAL, T0
from tests.rules.helpers import keys, sip, user


def plug(serial: str = SERIAL, **behaviour) -> PtyDongle:
    return PtyDongle(ReferenceDongle(serial, behaviour=DongleBehaviour(**behaviour))).start()


async def read(url: str) -> str:
    async with open_feature_key(url) as key:
        return await key.read_serial()


async def test_a_dongle_is_read_and_verified():
    dongle = plug()
    try:
        assert await read(f"serial://{dongle.path}?timeout=0.5") == SERIAL
        assert dongle.dongle.challenges == 1
    finally:
        dongle.close()


async def test_a_device_that_only_prints_a_serial_is_refused_unless_configured():
    dongle = plug(plain_id=True)
    try:
        with pytest.raises(FeatureKeyAuthError, match="gives no proof"):
            await read(f"serial://{dongle.path}?timeout=0.5")
        assert await read(f"serial://{dongle.path}?timeout=0.5&plain_id=1") == SERIAL
    finally:
        dongle.close()


async def test_a_dongle_with_an_unknown_secret_is_refused():
    dongle = plug(wrong_secret=True)
    try:
        with pytest.raises(FeatureKeyAuthError, match="failed authentication") as caught:
            await read(f"serial://{dongle.path}?timeout=0.5")
        assert caught.value.cause == "authentication_failed"
    finally:
        dongle.close()


class ReplayDevice:
    """Answers every challenge with a recorded response (fixing up only the sequence number)."""

    def __init__(self, recorded_payload: bytes) -> None:
        self.recorded = recorded_payload
        self.reader = FrameReader()
        self.behaviour = DongleBehaviour()

    def receive(self, data: bytes) -> list[bytes]:
        return [encode(RESPONSE, f.seq, self.recorded) for f in self.reader.feed(data) if f.type == CHALLENGE]


async def test_a_recorded_session_cannot_be_replayed():
    genuine = ReferenceDongle(SERIAL)
    challenge = encode(CHALLENGE, 7, os.urandom(16))
    [answer] = genuine.receive(challenge)
    [frame] = list(FrameReader().feed(answer))
    replayer = PtyDongle(ReplayDevice(frame.payload)).start()  # type: ignore[arg-type]
    try:
        with pytest.raises(FeatureKeyAuthError, match="failed authentication"):
            await read(f"serial://{replayer.path}?timeout=0.5")
    finally:
        replayer.close()


async def test_garbage_on_the_line_is_no_dongle():
    dongle = plug(garbage=True)
    try:
        with pytest.raises(FeatureKeyAbsentError, match="bytes of noise") as caught:
            await read(f"serial://{dongle.path}?timeout=0.3")
        assert caught.value.cause == "noise"
    finally:
        dongle.close()


async def test_slow_answers_within_the_timeout_are_fine_and_beyond_it_are_absent():
    dongle = plug(delay_s=0.15)
    try:
        assert await read(f"serial://{dongle.path}?timeout=0.6") == SERIAL
        with pytest.raises(FeatureKeyAbsentError, match="no answer within 0.05 s"):
            await read(f"serial://{dongle.path}?timeout=0.05")
    finally:
        dongle.close()


async def test_a_device_that_never_answers_is_absent_within_the_timeout():
    dongle = plug(mute=True)
    try:
        started = time.monotonic()
        with pytest.raises(FeatureKeyAbsentError):
            await read(f"serial://{dongle.path}?timeout=0.3")
        assert time.monotonic() - started < 1.0
    finally:
        dongle.close()


async def test_a_missing_port_is_absent_and_bad_options_are_config_errors(tmp_path):
    with pytest.raises(FeatureKeyAbsentError):
        await read(f"serial://{tmp_path}/no-such-port?timeout=0.1")
    with pytest.raises(FeatureKeyConfigError, match="timeout"):
        open_feature_key("serial:///dev/ttyS9?timeout=fast")


# -- live behaviour in a unit ------------------------------------------------------------------

class Rig:
    """A unit whose serial key is reached through a stable symlink, and a dongle to plug in."""

    def __init__(self, tmp_path: Path, *, grace: float = 0.05, check: float = 0.01, timeout: float = 0.1) -> None:
        self.link = tmp_path / "dongle"
        self.dongle: PtyDongle | None = None
        config = UnitConfig(feature_key=f"serial://{self.link}?timeout={timeout}&backoff_max=0",
                            feature_key_check_s=check, grace_period_s=grace, model="IP406 V2",
                            licenses=keys(("sip_trunk_channels", 50)), trunks=[sip(channels=50)],
                            vcm_modules=[{"type": "ip400_vcm30"}], users=[user("201")])
        self.clock = WallClock(T0)
        self.unit = ControlUnit(config, self.clock)

    def plug(self, serial: str = SERIAL, **behaviour) -> None:
        self.dongle = plug(serial, **behaviour)
        tmp = self.link.with_suffix(".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(self.dongle.path)
        tmp.replace(self.link)  # never a stale /dev/pts/N: the number is reused at once

    def unplug(self) -> None:
        self.link.unlink(missing_ok=True)
        if self.dongle is not None:
            self.dongle.close()
            self.dongle = None

    async def start(self) -> None:
        await self.unit.start()
        self.runner = asyncio.create_task(self.clock.run())

    async def stop(self) -> None:
        self.runner.cancel()
        await asyncio.gather(self.runner, return_exceptions=True)
        await self.unit.stop()
        self.unplug()

    async def wait_for(self, state: str, *, serial_none: bool | None = None, limit: float = 3.0) -> None:
        engine = self.unit.core.engine
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if engine.feature_key_state == state and (serial_none is None or (engine.feature_key_serial is None) == serial_none):
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"the unit did not see the key {state} within {limit} s")


async def test_unplug_mid_call_then_replug(tmp_path):
    rig = Rig(tmp_path)
    rig.plug()
    await rig.start()
    try:
        assert (await rig.unit.offer_call("sip1", "201", call_id="up")).accepted
        rig.unplug()
        await rig.wait_for("absent", serial_none=True)  # past the grace period
        assert (await rig.unit.offer_call("sip1", "201")).reason is Reason.FEATURE_KEY_ABSENT
        assert "up" in rig.unit.core.calls.active  # the call in progress carries on
        rig.plug()
        await rig.wait_for("present")
        assert (await rig.unit.offer_call("sip1", "201")).accepted
        await rig.unit.hang_up("up")
    finally:
        await rig.stop()


async def test_a_dongle_with_another_serial_leaves_the_licenses_invalid(tmp_path):
    rig = Rig(tmp_path)
    rig.plug()
    await rig.start()
    try:
        rig.unplug()
        rig.plug("99998888")
        deadline = time.monotonic() + 3
        while rig.unit.core.engine.feature_key_serial != "99998888" and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        assert (await rig.unit.offer_call("sip1", "201")).reason is Reason.LICENSE_INVALID
    finally:
        await rig.stop()


async def test_two_hundred_unplug_replug_cycles_while_calls_arrive(tmp_path):
    """No licensed call admitted once the key has been gone past grace (plus the time to notice), no leak."""
    grace, check, timeout = 0.02, 0.004, 0.03
    rig = Rig(tmp_path, grace=grace, check=check, timeout=timeout)
    loop = asyncio.get_running_loop()
    admitted: list[float] = []
    gone: list[tuple[float, float]] = []  # (unplugged at, plugged again at)
    rig.plug()
    await rig.start()
    stop = asyncio.Event()

    async def traffic() -> None:
        n = 0
        while not stop.is_set():
            decision = await rig.unit.offer_call("sip1", "201", call_id=f"c{n}", duration=0.003)
            if decision.accepted:
                admitted.append(loop.time())
            n += 1
            await asyncio.sleep(0.001)

    caller = asyncio.create_task(traffic())
    try:
        for _ in range(200):
            await rig.wait_for("present")
            await asyncio.sleep(0.005)
            pulled = loop.time()
            rig.unplug()
            await rig.wait_for("absent", serial_none=True)
            await asyncio.sleep(0.005)
            rig.plug()
            gone.append((pulled, loop.time()))
    finally:
        stop.set()
        await caller
        await asyncio.sleep(0.05)  # the last calls end
        await rig.stop()
    noticed = check + timeout + 0.05  # the longest a unit can take to see a pulled key, with slack
    late = [t for t in admitted for pulled, back in gone if pulled + noticed + grace < t < back]
    assert not late, f"{len(late)} calls admitted with the key gone past the grace period"
    assert len(admitted) > 200
    assert not rig.unit.core.calls.active
    assert all(pool.in_use == 0 for pool in rig.unit.pools().values())


async def test_a_slow_dongle_does_not_stall_the_event_loop():
    dongle = plug(delay_s=0.25)
    key = open_feature_key(f"serial://{dongle.path}?timeout=1")
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            before = loop.time()
            await asyncio.sleep(0.005)
            lags.append(loop.time() - before - 0.005)

    task = asyncio.create_task(ticker())
    try:
        for _ in range(3):
            assert await key.read_serial() == SERIAL
    finally:
        done.set()
        await task
        await key.close()
        dongle.close()
    assert len(lags) > 50 and max(lags) < 0.05  # 0.75 s of device waits, the loop never held up


# -- the CLI and USB ---------------------------------------------------------------------------------

def test_dongle_serve_and_probe_as_processes(capsys):
    server = subprocess.Popen([sys.executable, "-m", "emulator", "dongle", "serve", "--serial", "55554444", "--pty"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        path = server.stdout.readline().strip()
        assert path.startswith("/dev/pts/")
        assert main(["dongle", "probe", path, "--timeout", "1"]) == 0
        assert capsys.readouterr().out.strip() == "55554444"
    finally:
        server.terminate()
        server.wait(10)


def test_probe_gives_up_within_its_timeout(capsys, tmp_path):
    started = time.monotonic()
    assert main(["dongle", "probe", str(tmp_path / "nothing"), "--timeout", "0.3"]) == 1
    assert time.monotonic() - started < 3
    assert "no dongle" in capsys.readouterr().err


def test_usb_keys_are_found_by_vid_pid_and_usb_serial():
    a, b = ListPortInfo("/dev/ttyUSB0"), ListPortInfo("/dev/ttyUSB1")
    a.vid, a.pid, a.serial_number = 0x0403, 0x6001, "AAA"
    b.vid, b.pid, b.serial_number = 0x0403, 0x6001, "BBB"
    assert find_usb_port([a, b], 0x0403, 0x6001, None) == "/dev/ttyUSB0"
    assert find_usb_port([a, b], 0x0403, 0x6001, "BBB") == "/dev/ttyUSB1"
    assert find_usb_port([a, b], 0x067B, 0x2303, None) is None


async def test_an_absent_usb_key_is_absent():
    with pytest.raises(FeatureKeyAbsentError, match="no USB key 1d6b:ffff"):
        await read("usb:1d6b:ffff?timeout=0.1")


# -- keys fitted inside the unit ------------------------------------------------------------------

def test_card_keys_check_their_serial_and_their_unit():
    assert open_feature_key("smartcard:12345678").serial == "12345678"
    with pytest.raises(FeatureKeyConfigError, match="10 digits"):
        open_feature_key("sdcard:12345678")
    assert UnitConfig(model="IP500 V2", feature_key="sdcard:1234567890").feature_key_medium() == ("sd_card", ["sd_card"])
    # Any key fits any unit: the native medium is shown, never enforced
    assert UnitConfig(model="IP500", feature_key="sdcard:1234567890").feature_key_medium() == ("sd_card", ["smart_card"])
    assert UnitConfig(model="IP500", feature_key="serial:///dev/ttyUSB0").feature_key_medium()[0] == "serial"
    assert UnitConfig(model="IP500", feature_key="virtual:12345678").feature_key_medium()[0] is None


def test_a_scenario_runs_on_a_real_dongle_chosen_on_the_command_line(capsys, tmp_path):
    scenario = tmp_path / "shop.yaml"
    scenario.write_text("""
name: on a dongle
duration: 1h
units:
  - name: shop
    model: IP406 V2
    feature_key_check_s: 60
    licenses: [{feature: sip_trunk_channels, instances: 4}]
    trunks: [{name: sip1, type: sip, channels: 10}]
    vcm_modules: [{type: ip400_vcm10}]
    users: [{name: a, extension: "201"}, {name: b, extension: "202"}, {name: c, extension: "203"},
            {name: d, extension: "204"}, {name: e, extension: "205"}, {name: f, extension: "206"}]
    groups: [{name: desk, extension: "500", members: ["201", "202", "203", "204", "205", "206"]}]
traffic:
  - {name: t, from: sip1, to: "500", erlangs: 3, holding: {mean: 3m}}
expect:
  - {peak: {pool: sip_trunk_channels}, equals: 4}
  - {license: {feature: sip_trunk_channels}, status: Valid}
""")
    server = subprocess.Popen([sys.executable, "-m", "emulator", "dongle", "serve", "--serial", SERIAL, "--pty"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        path = server.stdout.readline().strip()
        code = main(["run", str(scenario), "--no-progress", "--feature-key", f"serial://{path}?timeout=1"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert f"serial://{path}" in out and "2 passed" in out
        code = main(["run", str(scenario), "--no-progress", "--feature-key", "shop=smartcard:12345678"])
        out = capsys.readouterr().out
        assert code == 0 and "a real IP406 V2 takes a serial or parallel or usb key" in out
        # the product's main use: a real serial dongle attached to an emulated IP500
        main_scenario = Path(__file__).resolve().parents[2] / "scenarios" / "sip-trunks-and-vcm.yaml"
        code = main(["run", str(main_scenario), "--no-progress", "--feature-key", f"serial://{path}?timeout=1"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "a real IP500 takes a smart card key" in out and "present, validating against 12345678" in out
    finally:
        server.terminate()
        server.wait(10)

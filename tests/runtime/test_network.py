"""Networks of units: validation, calls between units, centralised voicemail."""

from __future__ import annotations

import pytest

from emulator.config import UnitConfig, UserConfig
from hardware.feature_keys.virtual import VirtualFeatureKey
from emulator.reasons import Reason
from emulator.runtime import Network, NetworkConfigError, VirtualClock
from tests.conftest import T0
from tests.rules.helpers import keys, user


def site(name, serial, peers, *, users=(), licenses=(), voicemail=None, model="IP500"):
    return UnitConfig(name=name, model=model, feature_key=f"virtual:{serial}", users=list(users),
                      licenses=list(licenses), vcm_modules=[{"type": "vcm32"}], voicemail=voicemail,
                      trunks=[{"name": f"to-{p}", "type": "h323_scn", "peer": p, "channels": 10} for p in peers])


def central_and_remote(remote_vm_keys=()):
    central = site("hq", "20000001", ["branch"], users=[user("201", "9620"), user("202")],
                   licenses=keys(("voicemail_pro", 1), ("ip500_voice_networking", 10), serial="20000001"),
                   voicemail={})
    remote = site("branch", "20000002", ["hq"], users=[user("301")],
                  licenses=keys(("ip500_voice_networking", 10), *remote_vm_keys, serial="20000002"),
                  voicemail={"central": "hq"})
    return central, remote


async def network(*configs):
    net = Network(configs, VirtualClock(T0))
    await net.start()
    return net


async def test_calls_between_units_and_their_end():
    net = await network(*central_and_remote())
    decision, where = await net.offer_call("branch", "301", "hq", "202", duration=60)
    assert decision.accepted and where == "hq"
    assert net["branch"].core.engine.pool("ip500_voice_networking").in_use == 1
    await net.clock.run()
    assert net["branch"].core.engine.pool("ip500_voice_networking").in_use == 0
    assert net["hq"].core.engine.pool("ip500_voice_networking").in_use == 0


async def test_remote_callers_reach_the_central_voicemail_and_only_the_centre_is_licensed():
    net = await network(*central_and_remote())
    assert not net["branch"].core.voicemail_running and net["hq"].core.voicemail_running
    results = [await net.offer_call("branch", "301", "branch", "voicemail") for _ in range(5)]
    assert [d.accepted for d, _ in results] == [True] * 4 + [False]
    assert (results[4][0].reason, results[4][0].detail, results[4][1]) == (
        Reason.LICENSE_EXHAUSTED, "voicemail_pro_ports", "hq")
    assert net["hq"].core.engine.pool("voicemail_pro_ports").in_use == 4


async def test_a_voicemail_pro_license_on_the_remote_unit_is_not_needed_or_used():
    net = await network(*central_and_remote(remote_vm_keys=[("voicemail_pro", 1)]))
    assert not net["branch"].core.voicemail_running  # the remote does not host a server
    assert net["branch"].core.engine.pool("voicemail_pro").in_use == 0


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda c, r: (c, r.model_copy(update={"name": "hq"})), "duplicate unit name"),
    (lambda c, r: (c, r.model_copy(update={"feature_key": c.feature_key})), "the same feature key serial 20000001"),
    # compared by serial, not by URL: a virtual key and a smart card with one serial are one key [S1]
    (lambda c, r: (c, r.model_copy(update={"feature_key": "smartcard:20000001"})), "the same feature key serial"),
    (lambda c, r: (c, r.model_copy(update={"users": [UserConfig(**user("201"))]})),
     "extension '201' is used on both 'hq' and 'branch'"),
    (lambda c, r: (c, r.model_copy(update={"users": [UserConfig(**user("301", name="user201"))]})),
     "name 'user201' is used on both"),
    (lambda c, r: (c, r.model_copy(update={"trunks": []})), "has no H.323 line back"),
    (lambda c, r: (c.model_copy(update={"voicemail": None}), r), "hosts no Voicemail Pro"),
])
def test_invalid_networks_are_refused(mutate, message):
    configs = mutate(*central_and_remote())
    with pytest.raises(NetworkConfigError, match=message):
        Network(configs, VirtualClock(T0))


def chain(count: int, release: str = "4.2") -> list[UnitConfig]:
    """count units, each joined to the next by an H.323 line: one network."""
    names = [f"s{i}" for i in range(count)]
    return [UnitConfig(name=n, release=release, feature_key=f"virtual:{3000 + i:08d}",
                       trunks=[{"name": f"to-{p}", "type": "h323_scn", "peer": p, "channels": 4}
                               for p in names[max(0, i - 1):i] + names[i + 1:i + 2]])
            for i, n in enumerate(names)]


def test_an_scn_is_limited_to_16_systems_before_5_0():
    with pytest.raises(NetworkConfigError, match="17 systems exceed the network limit of 16"):
        Network(chain(17), VirtualClock(T0))


def test_units_not_joined_by_lines_are_not_one_network():
    """"The Feature Key associated with one IP Office system cannot be used to validate the
    licenses of another IP Office system" [S1]: across every unit of a run. The SCN limits and the uniqueness of extensions apply per network: 40 standalone units
    in one emulator, each with extension 201, are fine."""
    configs = [UnitConfig(name=f"u{i}", release="4.2", feature_key=f"virtual:{4000 + i:08d}", users=[user("201")])
               for i in range(40)]
    Network(configs, VirtualClock(T0))
    with pytest.raises(NetworkConfigError, match="the same feature key serial 00004000"):
        Network([*configs, configs[0].model_copy(update={"name": "again"})], VirtualClock(T0))


class DongleLike(VirtualFeatureKey):
    """A device: its serial is known only once read (like a serial or USB dongle)."""

    interface = "test-dongle"

    @property
    def printed_serial(self):
        return None


async def test_a_device_reporting_another_units_serial_is_refused_when_read():
    """[S1]: each control unit must have its own feature key. A dongle's serial is known only
    when read, so the network checks it then."""
    central, remote = central_and_remote()
    net = Network([central, remote], VirtualClock(T0))
    events = []
    net.sink.subscribe(events.append)
    net["branch"].feature_key = DongleLike("20000001")  # the serial of hq's key
    await net.start()
    assert net["hq"].core.engine.feature_key_state == "present"
    assert net["branch"].core.engine.feature_key_serial is None
    errors = [e.data["error"] for e in events if e.name == "feature_key.error"]
    assert errors == ["serial 20000001 is already the feature key of unit hq: each unit needs its own [S1]"]

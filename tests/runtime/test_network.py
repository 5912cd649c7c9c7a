"""Networks of units: validation, calls between units, centralised voicemail."""

from __future__ import annotations

import pytest

from emulator.config import UnitConfig
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
    (lambda c, r: (c, r.model_copy(update={"feature_key": c.feature_key})), "fitted to two units"),
    (lambda c, r: (c, r.model_copy(update={"trunks": []})), "has no H.323 line back"),
    (lambda c, r: (c.model_copy(update={"voicemail": None}), r), "hosts no Voicemail Pro"),
])
def test_invalid_networks_are_refused(mutate, message):
    configs = mutate(*central_and_remote())
    with pytest.raises(NetworkConfigError, match=message):
        Network(configs, VirtualClock(T0))


def test_an_scn_is_limited_to_16_systems_before_5_0():
    names = [f"s{i}" for i in range(17)]
    configs = [UnitConfig(name=n, release="4.2", feature_key=f"virtual:{3000 + i:08d}") for i, n in enumerate(names)]
    with pytest.raises(NetworkConfigError, match="17 systems exceed the network limit of 16"):
        Network(configs, VirtualClock(T0))

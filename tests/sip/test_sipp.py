"""The SIP front door under the real SIPp: the answers are exactly what the licenses allow."""

from __future__ import annotations

import asyncio

import pytest

from emulator.scenario.sizing import batch_means_interval, erlang_b
from tests.service.served import served, write_config
from tests.sip.sipp import POISSON, run_sipp


def office(sip_licenses: int, members: int = 30) -> str:
    users = "\n".join(f'      - {{name: m{i}, extension: "{300 + i}"}}' for i in range(members))
    member_list = ", ".join(f'"{300 + i}"' for i in range(members))
    return f"""
units:
  - name: office
    licenses: [{{feature: sip_trunk_channels, instances: {sip_licenses}}}]
    vcm_modules: [{{type: vcm64}}, {{type: vcm64}}]
    trunks: [{{name: sip1, type: sip, channels: 100, service_busy_response: 503}}]
    users:
{users}
    groups: [{{name: all, extension: "500", members: [{member_list}]}}]
"""


def sip_counters(service) -> dict:
    (listener,) = service.front_door.listeners
    return listener[1].summary()


def pool(service, name: str):
    return service.runner.network["office"].pools()[name]


async def wait_until_released(service, within_s: float = 45.0) -> None:
    sip = pool(service, "sip_trunk_channels")
    for _ in range(int(within_s * 20)):
        if sip.in_use == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{sip.in_use} SIP channels still held")


@pytest.mark.parametrize("transport", ["u1", "t1"], ids=["udp", "tcp"])
async def test_ten_simultaneous_calls_on_four_licenses_admit_exactly_four(mosquitto, tmp_path, transport):
    async with served(write_config(tmp_path, office(4)), mosquitto.url, sip=("127.0.0.1", 0)) as service:
        port = service.front_door.listeners[0][0].port
        code, counts = await run_sipp(port, tmp_path / "sipp", "-m", "10", "-l", "10", "-r", "100", "-d", "2000",
                                      "-t", transport)
        await wait_until_released(service)
        counters = sip_counters(service)
    assert code == 0
    assert (counts["5_200_Recv"], counts["4_503_Recv"], counts["3_486_Recv"]) == (4, 6, 0)
    assert (counters["admitted"], counters["refused_503"], counters["byes"]) == (4, 6, 4)
    assert pool(service, "sip_trunk_channels").peak == 4
    assert service.result.data["sip"][0]["counters"]["refused_license_exhausted"] == 6


async def test_lost_packets_and_retransmissions_never_change_the_license_counts(mosquitto, tmp_path):
    async with served(write_config(tmp_path, office(4)), mosquitto.url, sip=("127.0.0.1", 0)) as service:
        port = service.front_door.listeners[0][0].port
        _, counts = await run_sipp(port, tmp_path / "sipp", "-m", "30", "-l", "30", "-r", "50", "-d", "1000",
                                   "-lost", "20", "-timeout", "60", "-timeout_error")
        await wait_until_released(service)
        counters = sip_counters(service)
        sip = pool(service, "sip_trunk_channels")
    assert counts["0_INVITE_Retrans"] + counts["8_BYE_Retrans"] > 0  # SIPp did retransmit
    assert counters["invites"] == 30  # one transaction per call, however often it was sent
    assert counters["admitted"] + counters.get("refused_503", 0) == 30
    assert sip.peak <= 4 and sip.in_use == 0
    unit = service.runner.network["office"]
    assert unit.stats.calls_admitted == counters["admitted"]  # the unit saw each admission once


async def test_blocking_at_a_call_rate_matches_sipp_and_erlang_b(mosquitto, tmp_path):
    """Calls whose INVITEs follow one another at random (SIPp starts them at a steady rate and
    each waits an exponential time first: near enough Poisson), held an exponential time:
    Erlang-B's loss system. SIPp's own count of refusals is the emulator's."""
    channels, rate, hold_ms, calls = 10, 40, 250, 1200
    outcomes = bytearray()
    async with served(write_config(tmp_path, office(channels)), mosquitto.url, sip=("127.0.0.1", 0)) as service:
        def record(event) -> None:
            if event.name in ("call.admitted", "call.rejected"):
                outcomes.append(event.name == "call.rejected")

        service.runner.sink.subscribe(record)
        port = service.front_door.listeners[0][0].port
        code, counts = await run_sipp(port, tmp_path / "sipp", "-m", str(calls), "-r", str(rate), "-l", "1000",
                                      "-timeout", "120", timeout_s=150, scenario=POISSON)
        await wait_until_released(service)
        counters = sip_counters(service)
    assert code == 0
    refused = counts["5_503_Recv"]
    assert refused == counters["refused_503"] == sum(outcomes) and len(outcomes) == calls
    mean, low, high = batch_means_interval(bytes(outcomes), batches=20, confidence=0.99)
    expected = erlang_b(channels, rate * hold_ms / 1000)
    print(f"blocking {mean:.4f} [{low:.4f}, {high:.4f}], Erlang-B {expected:.4f}, refused {refused}")
    assert low <= expected <= high, (mean, low, high, expected)

"""Serving a configuration inside the test's event loop, against a given broker."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from emulator.scenario.loader import load_scenario
from emulator.service.broker_address import parse_broker_url
from emulator.service.service import ServeOptions, Service

OFFICE = """
units:
  - name: office
    feature_key: virtual:30000001
    licenses:
      - {feature: sip_trunk_channels, instances: 2}
      - {feature: third_party_ip_endpoints, instances: 1}
      - {feature: phone_manager_pro, instances: 1}
      - {feature: ip500_voice_networking, instances: 4}
    vcm_modules: [{type: vcm32, codec: g711}]
    trunks:
      - {name: sip1, type: sip, channels: 10, codec: g711}
      - {name: to-branch, type: h323_scn, peer: branch, channels: 10}
    users:
      - {name: anna, extension: "201", phone: "9620", phone_manager: pro}
      - {name: ben, extension: "202", phone: "9620", phone_manager: pro}
      - {name: carl, extension: "203", phone: analog}
      - {name: dora, extension: "204", phone: analog}
      - {name: eva, extension: "205", phone: analog}
      - {name: soft1, extension: "301", phone: third_party_sip}
      - {name: soft2, extension: "302", phone: third_party_sip}
  - name: branch
    feature_key: virtual:30000002
    licenses:
      - {feature: ip500_voice_networking, instances: 4}
    vcm_modules: [{type: vcm32, codec: g711}]
    trunks: [{name: to-office, type: h323_scn, peer: office, channels: 10}]
    users:
      - {name: erik, extension: "401", phone: analog}
"""


def write_config(folder: Path, text: str = OFFICE, name: str = "office.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def served(config: Path, url: str, **options):
    """A running Service (ready: connected to the broker); stopped on exit."""
    loaded = load_scenario(config, serving=True)
    options.setdefault("handle_signals", False)
    options.setdefault("service_id", "test-service")
    service = Service(loaded, parse_broker_url(url, **options.pop("tls", {})), ServeOptions(**options))
    task = asyncio.ensure_future(service.run())
    try:
        await asyncio.wait_for(asyncio.shield(service.ready.wait()), 10)
    except TimeoutError:
        task.cancel()
        raise
    service.task = task
    try:
        yield service
    finally:
        service.stop()
        service.result = await asyncio.wait_for(task, 15)

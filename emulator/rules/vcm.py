"""Voice compression (VCM) channels: how many a call needs, and how many a unit has.

The rules, from the reference sheet (section 3) and the seed:
- an IP party talking to a non-IP party (extension, trunk, voicemail) needs one channel for
  the whole call [S12][S13];
- two IP parties with the same codec talk directly: no channel once connected [S9][S12];
  with different codecs, one channel per side (two) [S12];
- a SIP call holds a channel during set-up, even when it then talks directly [S1][S28];
- an IP party on hold hears music from the TDM bus: one channel while held [S12];
- each IP party in a conference needs one channel [S12];
- an IP phone calling the voicemail server needs one (voicemail is a TDM data call) [S9][S14].
"""

from __future__ import annotations

from collections.abc import Sequence

from emulator.config import VcmModuleConfig
from emulator.rules.parties import Party
from firmware_models import ControlUnitModel, Release, hardware_catalogue


def vcm_need(a: Party, b: Party) -> tuple[int, int]:
    """(channels while setting up, channels once connected) for a two-party call."""
    if a.is_ip and b.is_ip:
        connected = 0 if a.codec == b.codec else 2
    elif a.is_ip or b.is_ip:
        connected = 1
    else:
        connected = 0
    setup = 1 if (a.sip or b.sip) else 0
    return max(setup, connected), connected


def module_channels(modules: Sequence[VcmModuleConfig], family: str) -> list[int]:
    """Channels of each fitted module of one family, at the codec it is dimensioned for."""
    catalogue = hardware_catalogue()
    out = []
    for module in modules:
        spec = catalogue.vcm_module(module.type)
        if spec.family == family:
            out.append(spec.channels[module.codec])
    return out


def vcm_channel_limit(unit: ControlUnitModel, release: Release, modules: Sequence[VcmModuleConfig],
                      ip500_licensed_channels: int | None) -> int:
    """Usable VCM channels: fitted hardware, IP500 channel licensing before 6.0, the unit's cap.

    ip500_licensed_channels: the effective size of the IP500 VCM channel license pool (free
    channels per card included), when the release licenses them; None otherwise.
    """
    cap = unit.capacity("vcm_channels")
    if not unit.vcm_module_families:
        return cap  # built in (Small Office Edition)
    ip500 = sum(module_channels(modules, "ip500_vcm"))
    if ip500_licensed_channels is not None:
        ip500 = min(ip500, ip500_licensed_channels)
    others = sum(module_channels(modules, "ip500_combo")) + sum(module_channels(modules, "ip400_vcm"))
    return min(cap, ip500 + others)


def free_ip500_vcm_channels(release: Release, modules: Sequence[VcmModuleConfig]) -> int:
    per_card = release.vcm.ip500_card_free_channels or 0
    return per_card * len(module_channels(modules, "ip500_vcm"))


def free_avaya_ip_endpoints(unit: ControlUnitModel, release: Release, modules: Sequence[VcmModuleConfig]) -> int:
    """R6: each IP500 VCM card enables 12 Avaya IP phones, each IP400 VCM channel in an IP500 3 [S8]."""
    if "ip500_vcm" not in unit.vcm_module_families:
        return 0
    policy = release.endpoints
    return (policy.free_avaya_ip_per_ip500_vcm_card * len(module_channels(modules, "ip500_vcm"))
            + policy.free_avaya_ip_per_ip400_vcm_channel * sum(module_channels(modules, "ip400_vcm")))

"""Sans-IO rules of a control unit: calls and VCM, registrations, applications, configured
features, Small Community Networks. Given events and a time, they return decisions."""

from emulator.rules.applications import APPLICATIONS
from emulator.rules.decision import CoreEvent, Decision
from emulator.rules.scn import connect_scn_call, hang_up_scn_call, offer_scn_call
from emulator.rules.unit_core import UnitCore
from emulator.rules.vcm import vcm_need

__all__ = [
    "APPLICATIONS",
    "CoreEvent",
    "Decision",
    "UnitCore",
    "connect_scn_call",
    "hang_up_scn_call",
    "offer_scn_call",
    "vcm_need",
]

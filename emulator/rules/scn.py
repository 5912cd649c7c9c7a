"""Calls across a Small Community Network: admitted at both units, or at neither.

Each unit has its own feature key and licenses [S1]. A call from unit A to unit B runs
over the H.323 line between them. At A it joins the caller to the line to B; at B it joins
the line from A to the called party. Each end applies its own rules: line channels, IP500
Voice Networking licenses on IP500 systems, VCM channels as its local parties need
[S17][S18]. Only direct lines are routed; calls that would hop through a third unit are
not modelled.
"""

from __future__ import annotations

from collections.abc import Mapping

from emulator.reasons import Reason
from emulator.rules.decision import Decision, rejected
from emulator.rules.unit_core import UnitCore


def offer_scn_call(units: Mapping[str, UnitCore], call_id: object, from_unit: str, a: str,
                   to_unit: str, b: str, now: float, *, answered: bool = True,
                   emergency: bool = False) -> tuple[Decision, str]:
    """(decision, the unit that decided it)."""
    origin, target = units[from_unit], units[to_unit]
    line_out, line_in = origin.scn_line_to(to_unit), target.scn_line_to(from_unit)
    if line_out is None or line_in is None:
        missing = from_unit if line_out is None else to_unit
        return rejected(Reason.NO_SCN_ROUTE, f"{from_unit}->{to_unit}"), missing
    # Both ends admit provisionally (peaks untouched), then commit together: a call refused
    # at the far end leaves no trace at the near end but the undo.
    first = origin.calls.offer(call_id, a, line_out.name, now, False, emergency, True)
    if not first.accepted:
        return first, from_unit
    second = target.calls.offer(call_id, line_in.name, b, now, False, emergency, True)
    if not second.accepted:
        origin.calls.cancel(call_id, now)
        return second, to_unit
    for core in (origin, target):
        core.calls.commit(call_id)
        if answered:
            core.calls.connect(call_id, now)
    return second, to_unit


def connect_scn_call(units: Mapping[str, UnitCore], call_id: object, from_unit: str, to_unit: str,
                     now: float) -> Decision:
    units[from_unit].calls.connect(call_id, now)
    return units[to_unit].calls.connect(call_id, now)


def hang_up_scn_call(units: Mapping[str, UnitCore], call_id: object, from_unit: str, to_unit: str,
                     now: float) -> Decision:
    units[from_unit].calls.hang_up(call_id, now)
    return units[to_unit].calls.hang_up(call_id, now)

"""A scenario's `replay`: its SMDR files read, and their devices matched to the plan's parties.

Devices become parties by their codes (docs/smdr.md): E<ext> is the user with that
extension, T<9000+line> the trunk the replay's `lines` names for the line (by default the
unit's trunks in order: line 1 is the first), V<n> the voicemail. A device the plan does
not have maps to None: calls naming it are skipped and counted, never guessed.
"""

from __future__ import annotations

from pathlib import Path

from emulator.config import VOICEMAIL_PARTY, UnitConfig
from emulator.scenario.schema import Replay
from emulator.smdr.history import CallHistory, read_history
from emulator.smdr.record import line_of_device


def replay_path(spec: Replay, scenario_path: Path) -> Path:
    path = Path(spec.file).expanduser()
    return path if path.is_absolute() else scenario_path.parent / path


def line_trunks(spec: Replay, unit: UnitConfig) -> dict[int, str]:
    """SMDR line number -> trunk name, for this unit."""
    lines = {i: trunk.name for i, trunk in enumerate(unit.trunks, 1)}
    lines.update(spec.lines)
    return lines


def check_lines(spec: Replay, unit: UnitConfig, where: str) -> list[str]:
    trunks = {t.name for t in unit.trunks}
    return [f"{where}.lines.{line}: unit {unit.name!r} has no trunk {name!r} (trunks: {', '.join(sorted(trunks)) or 'none'})"
            for line, name in spec.lines.items() if name not in trunks]


def device_parties(history: CallHistory, spec: Replay, unit: UnitConfig) -> list[str | None]:
    """The plan's party for each of the history's devices, or None."""
    extensions = {u.extension for u in unit.users}
    lines = line_trunks(spec, unit)
    parties: list[str | None] = []
    for device in history.devices:
        kind, number = device[:1], device[1:]
        party: str | None = None
        if kind == "E" and number in extensions:
            party = number
        elif kind == "T":
            line = line_of_device(device)
            party = lines.get(line) if line is not None else None
        elif kind == "V" and number.isdigit():
            party = VOICEMAIL_PARTY
        parties.append(party)
    return parties


def load_histories(specs: list[Replay], scenario_path: Path) -> list[CallHistory]:
    """Each file read whole (InputError when one cannot be read at all)."""
    return [read_history(replay_path(spec, scenario_path)) for spec in specs]

"""Reading a scenario file: YAML, then the schema, then what needs the data (licenses, network).

Every problem becomes one ScenarioError line naming the file, the YAML line and the path
inside the scenario, e.g. `shop.yaml:14: units[0].users[3].phone: unknown phone model 'X'`.
"""

from __future__ import annotations

import re
import dataclasses
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from emulator.bounded_input import SCENARIO_MAX_BYTES, InputError, read_text
from emulator.scenario.yaml_input import YamlInputError, load_yaml
from emulator.config import UnitConfig
from emulator.licensing import KeyAuthority, SerialNumberError
from emulator.licensing.key_signing import DEVELOPMENT_SECRET, RunLocalAuthority
from emulator.licensing.issuer import IssueError, order_keys
from firmware_models import load_release
from emulator.runtime.network import NetworkConfigError, split_party, validate_network
from emulator.scenario.schema import LicenseSpec, Scenario, ScenarioUnit
from emulator.rules.unit_core import APPEARANCE_POOL

_TAG = re.compile(r"^[A-Z]|[\[\]]|^(str|int|float|bool|none|list|dict)$")
_PATH_PREFIX = re.compile(r"^((?:[a-z_][a-z0-9_]*)(?:\[\d+\])?(?:\.[a-z_][a-z0-9_]*(?:\[\d+\])?)*): (.*)$")


class ScenarioError(ValueError):
    """The scenario cannot be used as written.

    The message is one line: the first problem, and how many more there are. `problems`
    lists every one of them, a line each (ipo-emu validate prints them all).
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(dict.fromkeys(problems))
        first = self.problems[0]
        more = len(self.problems) - 1
        super().__init__(first + (f" (and {more} more problem{'s' if more > 1 else ''}: "
                                  "'ipo-emu validate' lists them all)" if more else ""))


@dataclass
class LoadedScenario:
    path: Path
    scenario: Scenario
    units: list[UnitConfig]
    authority: RunLocalAuthority
    """Issues the licenses the scenario describes (valid in this run only); checks written keys
    against the issuer's secret."""
    revoked: dict[str, str] = dataclasses.field(default_factory=dict)
    """Keys the issuer registry records as exchanged (the CLI fills it in): refused by the units."""
    trials: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    """(feature, serial) -> where its trial was issued: one trial per feature and serial."""
    histories: list = dataclasses.field(default_factory=list)
    """The calls of each of the scenario's `replay` files (emulator/smdr/history.py)."""
    left_out: list[str] = dataclasses.field(default_factory=list)
    """What `ipo-emu replay` left out of the plan (its timeline keys that were there)."""
    copies: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    """A fleet's name (a unit with count) -> the names of its copies."""
    fleet_sizes: dict[str, int] = dataclasses.field(default_factory=dict)
    """A fleet's name -> its number of copies in the whole scenario (a shard runs some of them)."""
    unit_order: list[str] = dataclasses.field(default_factory=list)
    """Every unit's name, fleets' copies included, in the file's order (whatever was built)."""

    def units_named(self, name: str) -> list[str]:
        """The units a name stands for: a fleet's copies (in this shard), or the one unit."""
        return self.copies[name] if name in self.copies else [name]

    def ordinal(self, unit: str) -> tuple[int, int]:
        """(a fleet copy's number from 1, the fleet's size); (1, 1) for a unit of its own."""
        fleet, _, number = unit.rpartition("-")
        if fleet in self.copies and number.isdigit():
            return int(number), self.fleet_sizes.get(fleet, len(self.copies[fleet]))
        return 1, 1


SERVE_DEFAULT_DURATION = "3650d"
"""How long a served configuration's traffic plays when it gives no duration."""


def load_scenario(path: str | Path, issuer_secret: bytes | None = None, *, serving: bool = False,
                  replay: list[dict] | None = None, only: set[str] | None = None,
                  planning: bool = False) -> LoadedScenario:
    """Read and check a scenario file: a regular file of at most SCENARIO_MAX_BYTES.

    issuer_secret: the secret keys written in the scenario are checked against (default:
    the development secret).
    serving: for `ipo-emu serve`, which also takes a file without name and duration, or a
    plain unit configuration (one unit's mapping, without `units:`).
    replay: for `ipo-emu replay`, the file is a license plan and these SMDR files replace its
    timeline: its start, duration, events, traffic and own replay are left out."""
    path = Path(path)
    try:
        text = read_text(path, "scenario", SCENARIO_MAX_BYTES)
    except InputError as exc:
        raise ScenarioError(str(exc).removeprefix("scenario ")) from None
    return parse_scenario(text, path, issuer_secret, serving=serving, replay=replay, only=only, planning=planning)


PLAN_TIMELINE_KEYS = ("start", "duration", "events", "traffic", "replay")
"""What `ipo-emu replay` leaves out of a plan: the calls come from the SMDR file."""


def parse_scenario(text: str, path: Path, issuer_secret: bytes | None = None, *,
                   serving: bool = False, replay: list[dict] | None = None,
                   only: set[str] | None = None, planning: bool = False) -> LoadedScenario:
    """only: build just these units (one shard of a run over processes; the whole file was
    checked by the parent already, so references are not checked again).
    planning: check the whole file, but build a fleet's first copy only (its other copies
    differ in their serial alone, checked apart): what a run over processes plans with."""
    secret = DEVELOPMENT_SECRET if issuer_secret is None else issuer_secret
    authority = RunLocalAuthority(KeyAuthority(secret), secret, text.encode("utf-8"))
    try:
        root, data = load_yaml(text)
    except YamlInputError as exc:
        where = f":{exc.line}" if exc.line is not None else ""
        raise ScenarioError(f"{path.name}{where}: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path.name}: a scenario is a mapping with name, duration, units…")
    if serving:
        if "units" not in data:
            data = {"units": [data]}  # a plain unit configuration
        data.setdefault("name", path.stem)
        if not data.get("replay"):
            data.setdefault("duration", SERVE_DEFAULT_DURATION)
    left_out = []
    if replay is not None:
        left_out = [k for k in PLAN_TIMELINE_KEYS if data.get(k)]
        data = {k: v for k, v in data.items() if k not in PLAN_TIMELINE_KEYS}
        data["replay"] = replay
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_lines(path, root, exc)) from None
    histories = []
    if scenario.replay:  # (the plan's own replay lines do not locate a replay given on the command line)
        scenario, histories = _with_histories(scenario, path, root if replay is None else None)
    problems: list[str] = []
    units = []
    trials: dict[tuple[str, str], str] = {}
    copies: dict[str, list[str]] = {}
    order: list[str] = []
    for i, template in enumerate(scenario.units):
        fleet = _fleet(template, copies)
        order += [u.name for u in fleet]
        for unit in fleet:
            if only is not None and unit.name not in only:
                continue
            if planning and template.count is not None and unit is not fleet[0]:
                continue
            try:
                keys = _license_keys(scenario, unit, i, authority, path, root, trials)
                units.append(unit.to_config(keys))
            except ScenarioError as exc:
                problems += exc.problems
                break
            except ValidationError as exc:
                problems += _lines(path, root, exc, prefix=("units", i))
                break
    seen = Counter(order)
    clash = next((n for n in copies for c in copies[n] if seen[c] > 1), None)
    if clash is not None:
        problems.append(_located(path, root, f"units: a copy of fleet {clash!r} has the name of another unit"))
    if planning and not problems:
        problems += [_located(path, root, p) for p in _fleet_serial_overlaps(scenario, units)]
    if not problems:
        try:
            validate_network(units)
        except NetworkConfigError as exc:
            problems.append(_located(path, root, str(exc)))
    if only is not None:
        copies = {fleet: [c for c in names_ if c in only] for fleet, names_ in copies.items()}
        fleet_sizes = {fleet: template.count for template in scenario.units if (fleet := template.name) in copies}
        if problems:
            raise ScenarioError(problems)
        return LoadedScenario(path, scenario, units, authority, trials=trials, histories=histories,
                              left_out=left_out, copies=copies, fleet_sizes=fleet_sizes, unit_order=order)
    if not problems:
        first = {names_[0]: name for name, names_ in copies.items()}
        in_fleets = {c for names_ in copies.values() for c in names_}
        templates = {first.get(u.name, u.name): u for u in units if u.name not in in_fleets or u.name in first}
        _check_references(scenario, templates, path, root, problems, trials, left_out_of_plan=replay is not None)
        _check_fleet_references(scenario, copies, path, root, problems)
    if problems:
        raise ScenarioError(problems)
    return LoadedScenario(path, scenario, units, authority, trials=trials, histories=histories, left_out=left_out,
                          copies=copies, fleet_sizes={f: len(c) for f, c in copies.items()}, unit_order=order)


def _fleet(template: ScenarioUnit, copies: dict[str, list[str]]) -> list[ScenarioUnit]:
    """The unit, or its copies when it has a count: each on the next virtual serial."""
    if template.count is None:
        return [template]
    base = template.feature_key.partition(":")[2].strip()
    width = len(str(template.count))
    out = [template.model_copy(update={"name": f"{template.name}-{c:0{width}d}", "count": None,
                                       "feature_key": f"virtual:{int(base) + c - 1:0{len(base)}d}"})
           for c in range(1, template.count + 1)]
    copies[template.name] = [u.name for u in out]
    return out


def _fleet_serial_overlaps(scenario: Scenario, built: list[UnitConfig]) -> list[str]:
    """Without building every copy: a fleet's serials (a range) must meet no other unit's."""
    ranges = []
    for template in scenario.units:
        if template.count is not None:
            base = int(template.feature_key.partition(":")[2])
            ranges.append((template.name, base, base + template.count))
    singles = [(u.name, int(serial)) for u in built if (serial := _virtual_serial(u.feature_key) or "").isdigit()
               and not any(u.name.startswith(f"{name}-") for name, _, _ in ranges)]
    problems = []
    for i, (name, low, high) in enumerate(ranges):
        for other, serial in singles:
            if low <= serial < high:
                problems.append(f"units: unit {other!r} has the serial {serial} of a copy of fleet {name!r}; "
                                "each unit needs its own feature key [S1]")
        for other, low2, high2 in ranges[i + 1:]:
            if low < high2 and low2 < high:
                problems.append(f"units: fleets {name!r} and {other!r} share feature key serials")
    return problems


def _check_fleet_references(scenario: Scenario, copies: dict[str, list[str]], path: Path, root: yaml.Node,
                            problems: list[str]) -> None:
    """A fleet's copies are standalone: no call names a party on a fleet from elsewhere, and a
    replay is of one unit's own calls."""
    if not copies:
        return
    for i, event in enumerate(scenario.events):
        if event.call is not None:
            for field, ref in (("from", event.call.from_), ("to", event.call.to)):
                if ref.rpartition("/")[0] in copies:
                    problems.append(_located(path, root, f"events[{i}].call.{field}: a fleet's units take no calls "
                                                         "from other units (name the fleet as the event's unit)"))
    for i, traffic in enumerate(scenario.traffic):
        for field, mix in (("from", traffic.from_), ("to", traffic.to)):
            for entry in [mix] if isinstance(mix, str) else mix:
                ref = entry if isinstance(entry, str) else entry.party
                if ref.rpartition("/")[0] in copies:
                    problems.append(_located(path, root, f"traffic[{i}].{field}: a fleet's units take no calls from "
                                                         "other units (name the fleet as the traffic's unit)"))
    for i, replay in enumerate(scenario.replay):
        if scenario.unit_name(replay.unit) in copies:
            problems.append(_located(path, root, f"replay[{i}].unit: replay a file on one unit, not on a fleet"))


def _with_histories(scenario: Scenario, path: Path, root: yaml.Node) -> tuple[Scenario, list]:
    """Read the replay's SMDR files; the scenario then starts at the first call and lasts
    until the last one ends (licenses are issued relative to that start)."""
    from datetime import UTC, datetime

    from emulator.scenario.replay_input import load_histories

    try:
        histories = load_histories(scenario.replay, path)
    except InputError as exc:
        raise ScenarioError(f"{path.name}: replay: {exc}") from None
    spans = []
    for i, history in enumerate(histories):
        if not history.calls:
            first = f"; line {history.errors[0][0]}: {history.errors[0][1]}" if history.errors else ""
            raise ScenarioError(_located(path, root, f"replay[{i}].file: {history.path} holds no call records "
                                                     f"({history.malformed:,} malformed lines{first})"))
        spans.append(history.span())
    start = min(s for s, _ in spans)
    end = max(e for _, e in spans)
    scenario = scenario.model_copy(update={"start": datetime.fromtimestamp(start, UTC),
                                           "duration": float(max(1, end - start))})
    for i, event in enumerate(scenario.events):
        if event.at > scenario.duration:
            raise ScenarioError(_located(path, root, f"events[{i}].at: {event.at:g} s is past the end of the "
                                                     f"recorded calls ({scenario.duration:g} s)"))
    return scenario, histories


def license_keys_for(entry: str | LicenseSpec, unit: UnitConfig | object, start: float,
                     authority: KeyAuthority | RunLocalAuthority,
                     release, feature_key: str) -> list[str]:
    """The key text(s) for one license entry: a key as written, or a spec issued now."""
    if isinstance(entry, str):
        return [entry]
    serial = entry.serial or _virtual_serial(feature_key)
    if serial is None:
        raise IssueError("give 'serial': only a virtual feature key's serial is known in advance")
    issued = order_keys(authority, release, serial, entry.feature, issued_at=int(start + entry.issued),
                        instances=entry.instances, trial=entry.trial, validity_days=entry.validity_days)
    return [lic.key for lic in issued]


def _license_keys(scenario: Scenario, unit: ScenarioUnit, i: int, authority: RunLocalAuthority, path: Path,
                  root: yaml.Node, trials: dict[tuple[str, str], str]) -> list[str]:
    """Keys for a unit's license entries (unit i of the file, or one of its copies). A trial is
    issued once per feature and serial, in a scenario as by the issuer (`trials` remembers
    where each was issued)."""
    release = load_release(unit.release)
    keys: list[str] = []
    problems: list[str] = []
    for j, entry in enumerate(unit.licenses):
        where = f"units[{i}].licenses[{j}]"
        if isinstance(entry, LicenseSpec):
            refused = second_trial(trials, entry, unit.feature_key, where)
            if refused:
                problems.append(_located(path, root, refused))
                continue
        try:
            keys += license_keys_for(entry, unit, scenario.start.timestamp(), authority, release, unit.feature_key)
        except (IssueError, SerialNumberError) as exc:
            problems.append(_located(path, root, f"{where}: {exc}"))
    if problems:
        raise ScenarioError(problems)
    return keys


def second_trial(trials: dict[tuple[str, str], str], spec: LicenseSpec, feature_key: str, where: str) -> str | None:
    """The problem, if `spec` is a trial already issued in this scenario for its feature and
    serial (one trial per feature and serial, as the issuer rules); else records it."""
    if not spec.trial:
        return None
    serial = spec.serial or _virtual_serial(feature_key) or ""
    earlier = trials.setdefault((spec.feature, serial), where)
    if earlier == where:
        return None
    return (f"{where}: a {spec.feature} trial for serial {serial} is already issued at {earlier} "
            "(one trial per feature and serial)")


def _virtual_serial(feature_key: str) -> str | None:
    interface, _, channel = feature_key.partition(":")
    return channel.strip() if interface.lower() == "virtual" and channel.strip() else None


def _check_references(scenario: Scenario, by_name: dict[str, UnitConfig], path: Path, root: yaml.Node,
                      problems: list[str], trials: dict[tuple[str, str], str], *,
                      left_out_of_plan: bool = False) -> None:
    """Parties, users and pools named by events, traffic and expectations must exist (each
    one that does not is added to problems). by_name: each unit, a fleet by its first copy."""
    for i, replay in enumerate(scenario.replay):
        from emulator.scenario.replay_input import check_lines

        problems += [_located(path, root if not left_out_of_plan else None, p) for p in
                     check_lines(replay, by_name[scenario.unit_name(replay.unit)], f"replay[{i}]")]
    parties = {name: {"voicemail", *(t.name for t in u.trunks), *(x.extension for x in u.users),
                      *(g.extension for g in u.groups)} for name, u in by_name.items()}
    groups = {name: {g.extension for g in u.groups} for name, u in by_name.items()}

    def caller(ref: str, default_unit: str, where: str) -> None:
        unit_name, sep, name = ref.rpartition("/")
        if name in groups.get(unit_name if sep else default_unit, ()):
            problems.append(_located(path, root, f"{where}: {name!r} is a hunt group, which cannot make calls"))
    users = {name: {x.name for x in u.users} for name, u in by_name.items()}

    def party(ref: str, default_unit: str, where: str) -> None:
        unit_name, sep, name = ref.rpartition("/")
        unit_name = unit_name if sep else default_unit
        if unit_name not in parties:
            problems.append(_located(path, root, f"{where}: no unit named {unit_name!r}"))
        elif name not in parties[unit_name]:
            problems.append(_located(path, root, f"{where}: unit {unit_name!r} has no party {name!r}"))

    for i, event in enumerate(scenario.events):
        unit_name = scenario.unit_name(event.unit)
        where = f"events[{i}].{event.action}"
        if event.call is not None:
            party(event.call.from_, unit_name, f"{where}.from")
            party(event.call.to, unit_name, f"{where}.to")
            caller(event.call.from_, unit_name, f"{where}.from")
            if split_party(event.call.from_, unit_name) == split_party(event.call.to, unit_name):
                problems.append(_located(path, root, f"{where}.to: the same party as 'from'"))
        for field in ("register", "unregister"):
            value = event.value(field)
            for ext in [value] if isinstance(value, str) else value or []:
                party(ext, unit_name, f"events[{i}].{field}")
        for field in ("start_application", "stop_application"):
            action = getattr(event, field)
            if action is not None and action.user not in users[unit_name]:
                problems.append(_located(path, root, f"events[{i}].{field}.user: unit {unit_name!r} has no user {action.user!r}"))
        for field in ("join_conference", "leave_conference"):
            action = getattr(event, field)
            if action is not None:
                party(action.party, unit_name, f"events[{i}].{field}.party")
        if event.install_license is not None and not isinstance(event.install_license, str):
            refused = second_trial(trials, event.install_license, by_name[unit_name].feature_key,
                                    f"events[{i}].install_license")
            if refused:
                problems.append(_located(path, root, refused))
            try:
                release = by_name[unit_name].release_data()
                license_keys_for(event.install_license, None, scenario.start.timestamp(), KeyAuthority.development(),
                                 release, by_name[unit_name].feature_key)
            except (IssueError, SerialNumberError) as exc:
                problems.append(_located(path, root, f"events[{i}].install_license: {exc}"))
    for i, traffic in enumerate(scenario.traffic):
        unit_name = scenario.unit_name(traffic.unit)
        refs: dict[str, set] = {}
        for field, mix in (("from", traffic.from_), ("to", traffic.to)):
            for j, entry in enumerate([mix] if isinstance(mix, str) else mix):
                ref = entry if isinstance(entry, str) else entry.party
                where = f"traffic[{i}].{field}" + ("" if isinstance(mix, str) else f"[{j}]")
                party(ref, unit_name, where)
                if field == "from":
                    caller(ref, unit_name, where)
                refs.setdefault(field, set()).add(split_party(ref, unit_name))
        both = refs.get("from", set()) & refs.get("to", set())
        if both:
            problems.append(_located(path, root, f"traffic[{i}]: {'/'.join(sorted(both)[0])} is both a caller and "
                                                 "a called party (a call needs two different parties)"))
    for i, expectation in enumerate(scenario.expect):
        if expectation.peak is not None:
            unit = by_name[scenario.unit_name(expectation.peak.unit)]
            known = pool_names(unit)
            if expectation.peak.pool not in known:
                problems.append(_located(path, root, f"expect[{i}].peak.pool: no pool {expectation.peak.pool!r} "
                                                     f"(pools: {', '.join(sorted(known))})"))
        if expectation.license is not None:
            unit = by_name[scenario.unit_name(expectation.license.unit)]
            if expectation.license.feature not in unit.release_data().licenses_by_id():
                problems.append(_located(path, root, f"expect[{i}].license.feature: no license "
                                                     f"{expectation.license.feature!r} in release {unit.release}"))


def pool_names(unit: UnitConfig) -> set[str]:
    names = set(unit.release_data().pools) | {"vcm_channels", "ip_extensions", "delta_server_clients"}
    if unit.voicemail is not None and unit.voicemail.type == "embedded":
        names.add("embedded_voicemail_ports")
    names |= {f"{APPEARANCE_POOL}{u.extension}" for u in unit.users}
    return names | {f"trunk:{t.name}" for t in unit.trunks}


# -- error formatting ---------------------------------------------------------------------------

def _lines(path: Path, root: yaml.Node, exc: ValidationError, prefix: tuple = ()) -> list[str]:
    """A line per problem. Where a value could take several forms (a key or a license spec),
    pydantic reports each form's complaint: only the most specific is kept."""
    errors = exc.errors()
    plain = [tuple(p for p in e["loc"] if not _is_tag(p)) for e in errors]
    kept = [e for e, loc in zip(errors, plain, strict=True)
            if not any(len(other) > len(loc) and other[:len(loc)] == loc for other in plain)]
    return [_one_line(path, root, err, prefix) for err in kept]


def _one_line(path: Path, root: yaml.Node, err: dict, prefix: tuple = ()) -> str:
    loc = prefix + tuple(p for p in err["loc"] if not _is_tag(p))
    message = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    text = _loc_text(loc)
    match = _PATH_PREFIX.match(message)
    if match:  # a model validator named the field itself, e.g. "users[3].phone: ..."
        text = f"{text}.{match.group(1)}" if text else match.group(1)
        message = match.group(2)
    if err["type"] == "extra_forbidden":
        message = "unknown key (not part of the scenario format; see 'ipo-emu schema')"
    return _located(path, root, f"{text}: {message}" if text else message)


def _located(path: Path, root: yaml.Node, text: str) -> str:
    """Prefix the file and the YAML line of the path the message starts with."""
    match = _PATH_PREFIX.match(text)
    line = _line_of(root, _parse_loc(match.group(1))) if match else None
    return f"{path.name}:{line}: {text}" if line else f"{path.name}: {text}"


def _is_tag(part: object) -> bool:
    return isinstance(part, str) and bool(_TAG.search(part))


def _loc_text(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _parse_loc(text: str) -> list[str | int]:
    parts: list[str | int] = []
    for piece in text.split("."):
        name, *indexes = re.split(r"\[|\]", piece)
        if name:
            parts.append(name)
        parts += [int(i) for i in indexes if i.isdigit()]
    return parts


def _line_of(root: yaml.Node | None, loc: list[str | int]) -> int | None:
    """1-based line of the deepest node along loc (aliases: from_ is written 'from')."""
    node, line = root, None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            key = "from" if part == "from_" else part
            node = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line

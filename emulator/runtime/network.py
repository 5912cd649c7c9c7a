"""A Small Community Network: several control units on one clock, joined by H.323 lines.

Each unit keeps its own feature key and licenses (a key of one never validates another's).
Calls between units are admitted at both ends or at neither (rules/scn.py). A unit whose
voicemail is central sends its callers to the central unit's Voicemail Pro, and only that
unit is licensed for it [S19].
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

from emulator.config import VOICEMAIL_PARTY, UnitConfig
from emulator.licensing import KeyAuthority
from emulator.rules import Decision, connect_scn_call, hang_up_scn_call, offer_scn_call
from emulator.runtime.clock import Clock
from emulator.runtime.control_unit import ControlUnit, UnitCalls
from emulator.telemetry import EventSink


def split_party(ref: str, default_unit: str) -> tuple[str, str]:
    """("unit", "party") for "unit/party"; a bare "party" is on default_unit."""
    unit, sep, name = ref.rpartition("/")
    return (unit if sep else default_unit), name


class NetworkConfigError(ValueError):
    """The units do not form a valid Small Community Network."""


class Network:
    def __init__(self, configs: Sequence[UnitConfig], clock: Clock, *, authority: KeyAuthority | None = None,
                 sink: EventSink | None = None, revoked: Mapping[str, str] | None = None) -> None:
        validate_network(configs)
        self.clock = clock
        self.sink = sink or EventSink()
        self.units: dict[str, ControlUnit] = {
            c.name: ControlUnit(c, clock, authority=authority, sink=self.sink, revoked=revoked) for c in configs}
        self.cores = {name: unit.core for name, unit in self.units.items()}
        for unit in self.units.values():
            unit.serial_owner = self._serial_owner
        self._ids = itertools.count(1)
        self._routes: dict[object, tuple[str, str]] = {}  # cross-unit call id -> (from unit, to unit)

    def __getitem__(self, name: str) -> ControlUnit:
        try:
            return self.units[name]
        except KeyError:
            raise LookupError(f"no unit named {name!r} (units: {', '.join(self.units)})") from None

    async def start(self) -> None:
        for unit in self.units.values():
            await unit.start()

    async def stop(self) -> None:
        for unit in self.units.values():
            await unit.stop()

    def _serial_owner(self, serial: str, asking: str) -> str | None:
        """The other unit whose licenses validate against `serial` now (one key per unit [S1]).
        Keys given by serial are checked when the network is built; devices when read."""
        for name, unit in self.units.items():
            engine = unit.core.engine
            if name != asking and engine.feature_key_state == "present" and engine.feature_key_serial == serial:
                return name
        return None

    def central_voicemail_of(self, unit_name: str) -> str | None:
        voicemail = self[unit_name].config.voicemail
        return voicemail.central if voicemail is not None and voicemail.central else None

    def offer_call_now(self, call_id: object, from_unit: str, a: str, to_unit: str, b: str, *,
                       answered: bool = True, emergency: bool = False) -> tuple[Decision, str]:
        """(decision, the unit that decided). Calls to 'voicemail' go to the central server if there is one."""
        if b == VOICEMAIL_PARTY and from_unit == to_unit:
            to_unit = self.central_voicemail_of(from_unit) or from_unit
        if from_unit == to_unit:
            return self[from_unit].offer_call_now(call_id, a, b, answered=answered, emergency=emergency), from_unit
        self[from_unit], self[to_unit]  # noqa: B018 - clear errors for unknown units
        decision, where = offer_scn_call(self.cores, call_id, from_unit, a, to_unit, b, self.clock.time(),
                                         answered=answered, emergency=emergency)
        if self.sink.active:
            data = {"call": call_id, "a": f"{from_unit}/{a}", "b": f"{to_unit}/{b}",
                    "reason": decision.reason and decision.reason.value, "detail": decision.detail,
                    "answered": answered}
            reached = self.cores[to_unit].calls.reached(call_id) if decision.accepted else b
            if reached != b:  # a hunt group: b is the member who took the call
                data["group"], data["b"] = data["b"], f"{to_unit}/{reached}"
            self.sink.emit(self.clock.time(), where, "call.admitted" if decision.accepted else "call.rejected", data)
        if decision.accepted:
            self._routes[call_id] = (from_unit, to_unit)
        return decision, where

    def hang_up_now(self, call_id: object, unit: str) -> Decision:
        route = self._routes.pop(call_id, None)
        if route is None:
            return self[unit].hang_up_now(call_id)
        decision = hang_up_scn_call(self.cores, call_id, route[0], route[1], self.clock.time())
        if self.sink.active:
            self.sink.emit(self.clock.time(), route[1], "call.ended", {"call": call_id})
        return decision

    async def offer_call(self, from_unit: str, a: str, to_unit: str, b: str, *, call_id: object = None,
                         duration: float | None = None, answered: bool = True,
                         emergency: bool = False) -> tuple[Decision, str]:
        call_id = f"net-{next(self._ids)}" if call_id is None else call_id
        decision, where = self.offer_call_now(call_id, from_unit, a, to_unit, b, answered=answered,
                                              emergency=emergency)
        if decision.accepted and duration is not None:
            self.clock.call_later(duration, self.hang_up_now, call_id, from_unit)
        return decision, where

    def connect_now(self, call_id: object, unit: str) -> Decision:
        """The call is answered, at both ends if it crosses units."""
        route = self._routes.get(call_id)
        if route is None:
            return self[unit].connect_now(call_id)
        decision = connect_scn_call(self.cores, call_id, route[0], route[1], self.clock.time())
        if self.sink.active:
            self.sink.emit(self.clock.time(), route[1], "call.connected",
                           {"call": call_id, "reason": None, "detail": ""})
        return decision

    async def connect(self, call_id: object, unit: str) -> Decision:
        return self.connect_now(call_id, unit)

    def call_functions(self, unit_name: str, parties: Sequence[str]) -> tuple[Callable[..., Decision],
                                                                              Callable[..., object],
                                                                              Callable[..., object]]:
        """(offer(call_id, a, b, now), hang_up(call_id, now), connect(call_id, now)) for traffic
        on `unit_name` between `parties` ("202", or "unit/202" on another unit).

        Every call goes where the network sends it: to another unit over its H.323 line, to
        the central Voicemail Pro of the network. Only when routing is trivially local (every
        party on this unit, and no voicemail held elsewhere) are the unit's own functions
        returned, the fast path, which makes exactly the same decisions.
        """
        self[unit_name]  # noqa: B018 - a clear error for an unknown unit
        remote = any("/" in party for party in parties)
        central = VOICEMAIL_PARTY in parties and self.central_voicemail_of(unit_name)
        if not remote and not central:
            return self[unit_name].call_functions()
        origin: dict[object, str] = {}

        def offer(call_id: object, a: str, b: str, now: float, answered: bool = True) -> Decision:
            from_unit, pa = split_party(a, unit_name)
            to_unit, pb = split_party(b, unit_name)
            decision, _ = self.offer_call_now(call_id, from_unit, pa, to_unit, pb, answered=answered)
            if decision.accepted:
                origin[call_id] = from_unit
            return decision

        def hang_up(call_id: object, now: float) -> None:
            self.hang_up_now(call_id, origin.pop(call_id))

        def connect(call_id: object, now: float) -> None:
            if call_id in origin:
                self.connect_now(call_id, origin[call_id])

        return offer, hang_up, connect

    def anonymous_calls(self, unit_name: str, parties: Sequence[str]) -> UnitCalls | None:
        """The unit's calls for traffic between `parties` that runs them itself
        (ControlUnit.anonymous_calls), when routing is trivially local as for call_functions;
        else None."""
        remote = any("/" in party for party in parties)
        central = VOICEMAIL_PARTY in parties and self.central_voicemail_of(unit_name)
        return None if remote or central else self[unit_name].anonymous_calls()

    async def hang_up(self, call_id: object, unit: str) -> Decision:
        return self.hang_up_now(call_id, unit)


def networks_of(configs: Sequence[UnitConfig]) -> list[list[UnitConfig]]:
    """The Small Community Networks among the units: units joined by H.323 lines or by a
    central voicemail, directly or through others. A unit joined to none is a network of one."""
    by_name = {c.name: c for c in configs}
    parent = {c.name: c.name for c in configs}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for config in configs:
        peers = [t.peer for t in config.trunks if t.type == "h323_scn" and t.peer]
        if config.voicemail is not None and config.voicemail.central:
            peers.append(config.voicemail.central)
        for peer in peers:
            if peer in by_name:
                parent[root(peer)] = root(config.name)
    groups: dict[str, list[UnitConfig]] = {}
    for config in configs:
        groups.setdefault(root(config.name), []).append(config)
    return list(groups.values())


def validate_network(configs: Sequence[UnitConfig]) -> None:
    """Unique names and feature-key serials, reciprocal H.323 lines, and per network: unique
    extensions and user names, one central voicemail, the SCN size limits [S17]."""
    from hardware.feature_keys import FeatureKeyError, open_feature_key

    names = [c.name for c in configs]
    if len(set(names)) != len(names):
        raise NetworkConfigError(f"units: duplicate unit name {next(n for n in names if names.count(n) > 1)!r}")
    fitted: dict[str, UnitConfig] = {}
    for config in configs:
        try:
            key = open_feature_key(config.feature_key)
        except FeatureKeyError:
            continue  # reported by the unit itself
        serial = key.printed_serial or config.feature_key  # a device: compared by URL until it is read
        other = fitted.setdefault(serial, config)
        if other is not config:
            raise NetworkConfigError(
                f"units: units {other.name!r} ({other.feature_key}) and {config.name!r} ({config.feature_key}) have "
                f"the same feature key serial {serial}; each unit needs its own feature key [S1]")
    by_name = {c.name: c for c in configs}
    for i, config in enumerate(configs):
        for j, trunk in enumerate(config.trunks):
            if trunk.type != "h323_scn":
                continue
            where = f"units[{i}].trunks[{j}].peer"
            peer = by_name.get(trunk.peer or "")
            if peer is None:
                raise NetworkConfigError(f"{where}: no unit named {trunk.peer!r}")
            if peer.name == config.name:
                raise NetworkConfigError(f"{where}: a line cannot lead back to its own unit")
            if not any(t.type == "h323_scn" and t.peer == config.name for t in peer.trunks):
                raise NetworkConfigError(f"{where}: unit {peer.name!r} has no H.323 line back to {config.name!r}")
        central = config.voicemail.central if config.voicemail else None
        if central:
            host = by_name.get(central)
            if host is None or host.name == config.name:
                raise NetworkConfigError(f"units[{i}].voicemail.central: no other unit named {central!r}")
            if host.voicemail is None or host.voicemail.central:
                raise NetworkConfigError(f"units[{i}].voicemail.central: unit {central!r} hosts no Voicemail Pro")
    for network in networks_of(configs):
        _validate_one_network(network)


def _validate_one_network(configs: list[UnitConfig]) -> None:
    if len(configs) < 2:
        return
    hosts = [c.name for c in configs if c.voicemail is not None and c.voicemail.central is None]
    if any(c.voicemail and c.voicemail.central for c in configs) and len(hosts) > 1:
        raise NetworkConfigError(f"units: only one central Voicemail Pro per network [S20], found {', '.join(hosts)}")
    members = ", ".join(c.name for c in configs)
    max_systems = min(c.unit_model().capacity("scn_systems") for c in configs)
    if len(configs) > max_systems:
        raise NetworkConfigError(f"units: {len(configs)} systems exceed the network limit of {max_systems} [S17]")
    max_users = min(c.unit_model().capacity("scn_users") for c in configs)
    users = sum(len(c.users) for c in configs)
    if users > max_users:
        raise NetworkConfigError(f"units: {users} users exceed the network limit of {max_users} [S17]")
    seen: dict[tuple[str, str], str] = {}
    for config in configs:
        for user in config.users:
            for what, value in (("extension", user.extension), ("name", user.name)):
                other = seen.setdefault((what, value), config.name)
                if other != config.name:
                    where = "extension" if what == "extension" else "name"
                    raise NetworkConfigError(
                        f"units: {what} {value!r} is used on both {other!r} and {config.name!r}; a user's {where} "
                        f"must be unique across a Small Community Network ({members})")

"""The source text of admitting a call, and of giving back what it holds: for a route to one
party, and for a route to a hunt group (hunting, then the member's route).

A call's admission is the hottest code in the emulator, so it is written out as text once
per shape (the pools' all-or-nothing rule is licensing/pool.py PoolCode) and compiled. The
same lines serve every caller: Route.admit and GroupRoute.admit wrap them in a function
(rules/calls.py), and a traffic source's loop runs them inline (runtime/traffic.py), where
a function call per admission and per release would cost a third of a call's time. One
text, one rule: what a named call, an anonymous one and a network leg are admitted by.

The lines admit at `now` and, on success, fall through with `route` (the Route the call
holds) and the member index (`index`: "i" for a hunt group, "0" for a single party). A
refusal is counted (CallTable._refuse_quietly, CountedPool.count_refusal) and runs the
caller's `refuse` statement, a template the refusal's value (None) is put into: "return {}"
in a function, "held = {}; break" in a loop. `emergency` and `commit` are names the caller
defines (an admission's arguments). A loop's lines (inline=True) always commit, and keep
three figures in its locals: the unit's `deadline` (read from core.deadline when the loop
starts), the calls `admitted` since (added to table.admitted when it returns) and a rotary
group's `next_member` (read from group.next_member, and written back): nothing else runs
meanwhile. release_lines() give back, at `now`, what the call of member `i` holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.licensing.pool import PoolCode, indent
from emulator.reasons import Reason

if TYPE_CHECKING:
    from emulator.licensing import CountedPool
    from emulator.rules.calls import CallTable, Route
    from emulator.rules.parties import Party

GLOBALS = {"NOT_REGISTERED": Reason.NOT_REGISTERED, "ENDPOINT_UNLICENSED": Reason.ENDPOINT_UNLICENSED,
           "VOICEMAIL_NOT_RUNNING": Reason.VOICEMAIL_NOT_RUNNING, "EXTENSION_BUSY": Reason.EXTENSION_BUSY}
"""What the text names besides its values: compile it with these as globals."""


def _deadline(inline: bool) -> list[str]:
    """A license expiring, at `now` (for a hunt group, before hunting: a license change can
    change who is free)."""
    if inline:
        return ["if now >= deadline:", "    core.advance(now)", "    deadline = core.deadline"]
    return ["if now >= core.deadline:", "    core.advance(now)"]


def _setup_vcm(routes: tuple[Route | None, ...]) -> str:
    held = [bool(route.setup_vcm) for route in routes if route is not None]
    return "all" if held and all(held) else "some" if any(held) else "none"


class RouteAdmission:
    """A call to one party: the IP phones' registration and licenses, the voicemail server,
    every pool at once, the count of admitted calls (Route's docstring, rules/calls.py)."""

    __slots__ = ("key", "values", "routes", "index", "rotary", "_take", "_give", "_checks", "_voicemail")

    def __init__(self, route: Route, table: CallTable) -> None:
        plan = route.plan
        self._take, self._give = PoolCode(route.admits), PoolCode(plan.pools, prefix="h")
        self._checks = [f"c{i}" for i in range(len(plan.checks))]
        self._voicemail = plan.voicemail
        self.key = ("route", len(self._checks), self._voicemail, self._take.shape, self._give.shape)
        """What the text depends on: it is compiled once per key."""
        self.values: dict[str, Any] = {
            "core": table.core, "table": table, "refuse": table.refuse, "refuse_pool": table.refuse_pool,
            "route": route, **dict(zip(self._checks, plan.checks, strict=True)),
            **dict(zip(self._take.names, self._take.distinct, strict=True)),
            **dict(zip(self._give.names, self._give.distinct, strict=True))}
        """The objects the names in the text stand for."""
        self.routes: tuple[Route | None, ...] = (route,)
        """The route of each member index."""
        self.index = "0"
        self.rotary = False
        """Whether the lines use `next_member` (a rotary hunt group's)."""

    def admit_lines(self, refuse: str, inline: bool = False, deadline: bool = True) -> list[str]:
        lines = _deadline(inline) if deadline else []
        for c in self._checks:
            lines.append(f"if not {c}.registered: {refuse.format(f'refuse(NOT_REGISTERED, {c}.name)')}")
            lines.append(f"if not ({c}.endpoint_licensed or emergency): "
                         + refuse.format(f"refuse(ENDPOINT_UNLICENSED, {c}.name)"))
        if self._voicemail:
            lines.append("if not core.voicemail_running: " + refuse.format("refuse(VOICEMAIL_NOT_RUNNING, '')"))
        lines += self._take.take(refuse.format("refuse_pool({p})"), owned=self._give, owner="route")
        if inline:  # (a loop's calls are committed at once)
            lines += self._take.commit()
        else:
            lines.append("if commit:")
            lines += ["    " + line for line in self._take.commit()] or ["    pass"]
        lines.append("admitted += 1" if inline else "table.admitted += 1")
        return lines

    def shares(self) -> list[tuple[CountedPool, int]]:
        """(pool, instances) for each pool whose time sum the route keeps (CountedPool.shares)."""
        return [(self._give.distinct[index], instances) for index, instances in self._give.totals().items()]

    @property
    def setup_vcm(self) -> str:
        """Whether calls hold VCM channels for their set-up only (given back once answered):
        "all" of the routes' calls, "some" or "none"."""
        return _setup_vcm(self.routes)

    @property
    def given(self) -> list[str]:
        """The names of the pools release_lines() give back."""
        return self._give.names

    def release_lines(self) -> list[str]:
        return self._give.give(owner="route")

    def function_source(self) -> str:
        """def factory(values...) returning (admit, release): Route.admit and Route.release."""
        return (f"def factory({', '.join(self.values)}):\n"
                f"    def admit(now, emergency=False, commit=True):\n"
                f"{indent(self.admit_lines('return {}'), 2)}"
                f"        return route\n"
                f"    def release(now):\n{indent(self.release_lines(), 2)}"
                f"    return admit, release\n")


class GroupAdmission:
    """A call to a hunt group: the first member free to take it (registered, licensed, with a
    free call appearance, not the caller), from the top (sequential) or after the member who
    took the last call (rotary); then the call is admitted on the route to that member.

    When every member's route has the same text (the common case: members alike), the
    member's admission is written out here too, its values read per member (`x = x_s[i]`
    for a value that differs between members); otherwise the member's route admits it.
    """

    __slots__ = ("key", "values", "routes", "index", "_member", "_varying", "rotary", "_registering", "_caller_is_member")

    def __init__(self, table: CallTable, caller: Party, group: Party, routes: tuple[Route | None, ...],
                 codes: list[RouteAdmission | None]) -> None:
        """routes: the route to each member (None for the caller); codes: their texts."""
        self.routes = routes
        self.index = "i"
        self.rotary = group.rotary
        present = [code for code in codes if code is not None]
        alike = bool(present) and all(code.key == present[0].key for code in present)
        self._member = present[0] if alike else None
        self._registering = any(member.needs_registration for member in group.members)
        """Whether a member can be unregistered or unlicensed (IP phones): else not checked."""
        self._caller_is_member = caller in group.members
        self.values: dict[str, Any] = {
            "core": table.core, "table": table, "refuse": table.refuse, "group": group,
            "members": group.members, "appearances": tuple(member.line_pools[0] for member in group.members),
            "caller": caller, "count": len(group.members), "group_name": group.name, "to_member": routes}
        self._varying: list[str] = []
        if self._member is not None:
            for name, value in self._member.values.items():
                if name == "route" or name in self.values:
                    continue
                each = tuple(code.values[name] if code is not None else None for code in codes)
                if all(v is value for v, code in zip(each, codes, strict=True) if code is not None):
                    self.values[name] = value
                else:
                    self.values[f"{name}_s"] = each
                    self._varying.append(name)
        member_key = self._member.key if self._member is not None else None
        self.key = ("group", self.rotary, self._registering, self._caller_is_member, member_key, tuple(self._varying))

    def admit_lines(self, refuse: str, inline: bool = False) -> list[str]:
        free = " and m.registered and m.endpoint_licensed" if self._registering else ""
        if self._caller_is_member:
            free += " and m is not caller"
        lines = [*_deadline(inline),
                 f"start = i = {'next_member' if inline else 'group.next_member'}" if self.rotary else "start = i = 0",
                 "while True:",
                 *(["    m = members[i]"] if free else []),
                 "    a = appearances[i]",
                 f"    if a.in_use < a.effective{free}:",
                 "        break",
                 "    i += 1",
                 "    if i == count:",
                 "        i = 0",
                 "    if i == start:",
                 "        i = -1",
                 "        break",
                 f"if i < 0: {refuse.format('refuse(EXTENSION_BUSY, group_name)')}"]
        if self.rotary:
            lines.append(f"{'next_member' if inline else 'group.next_member'} = i + 1 if i + 1 < count else 0")
        if self._member is None:
            lines.append("route = to_member[i].admit(now, emergency, commit)")
            lines.append(f"if route is None: {refuse.format('None')}")
            return lines
        lines.append("route = to_member[i]")
        lines += [f"{name} = {name}_s[i]" for name in self._varying if name not in self._member.given]
        return lines + self._member.admit_lines(refuse, inline, deadline=False)

    @property
    def setup_vcm(self) -> str:
        """Whether calls hold VCM channels for their set-up only (given back once answered):
        "all" of the routes' calls, "some" or "none"."""
        return _setup_vcm(self.routes)

    def release_lines(self) -> list[str]:
        if self._member is None:
            return ["to_member[i].release(now)"]
        return (["route = to_member[i]"] + [f"{name} = {name}_s[i]" for name in self._varying if name in self._member.given]
                + self._member.release_lines())

    def function_source(self) -> str:
        """def factory(values...) returning GroupRoute.admit."""
        return (f"def factory({', '.join(self.values)}):\n"
                f"    def admit(now, emergency=False, commit=True):\n"
                f"{indent(self.admit_lines('return {}'), 2)}"
                f"        return route\n"
                f"    return admit\n")

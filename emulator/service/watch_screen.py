"""The terminal picture of a FleetView, in the spirit of IP Office's System Status: per unit,
its license pools as bars against their limits, calls up, refusals by reason over the last
minute, and the feature key with its grace countdown."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from emulator.service.fleet_view import FleetView, UnitView

BAR = 24


def bar(in_use: int, limit: int) -> Text:
    if limit <= 0:
        return Text("·" * BAR, style="dim")
    filled = min(BAR, round(BAR * in_use / limit))
    style = "red" if in_use >= limit else "yellow" if in_use >= 0.8 * limit else "green"
    return Text("█" * filled, style=style) + Text("░" * (BAR - filled), style="dim")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m{rest % 60:02d}s" if hours else f"{rest // 60}m{rest % 60:02d}s"


def unit_panel(view: UnitView, online: bool) -> Panel:
    status, licenses = view.status or {}, view.licenses or {}
    key = status.get("feature_key_state", "?")
    grace = view.grace_left_s()
    key_text = Text(f"key {key}", style="green" if key == "present" else "bold red")
    if grace is not None:
        key_text += Text(f", grace ends in {_duration(grace)}" if grace > 0 else ", grace expired", style="bold red")
    head = Text.assemble((view.name, "bold"), " ", ("online" if online else "OFFLINE", "green" if online else "bold red"),
                         f"  {status.get('model', '?')} {status.get('release', '')}  ", key_text,
                         f"  calls up {licenses.get('calls_up', 0)}")
    pools = Table(box=None, pad_edge=False, show_header=True, header_style="dim")
    for column in ("pool", "in use", "", "limit", "peak"):
        pools.add_column(column, justify="right" if column in ("in use", "limit", "peak") else "left")
    for pool in licenses.get("pools", []):
        pools.add_row(pool["pool"], str(pool["in_use"]), bar(pool["in_use"], pool["effective"]),
                      str(pool["effective"]), str(pool["peak"]))
    refusals = view.refusals_last_minute()
    lines = [head, pools]
    lines.append(Text("refused in the last minute: " + (", ".join(f"{r} {n}" for r, n in refusals.most_common())
                                                       or "none"), style="yellow" if refusals else "dim"))
    if view.lost_events:
        lines.append(Text(f"{view.lost_events} events missing from the numbering (see the service's journal)",
                          style="red"))
    return Panel(Group(*lines), expand=True)


def screen(fleet: FleetView, source: str) -> Group:
    if not fleet.units:
        return Group(Text(f"waiting for units on {source} …", style="dim"))
    panels = [unit_panel(view, fleet.online(view)) for _, view in sorted(fleet.units.items())]
    return Group(Text(f"{len(fleet.units)} unit(s) on {source}", style="dim"), *panels)

"""`ipo-emu models ...`: the control units, capacities and license catalogues we emulate."""

from __future__ import annotations

import re

from typing import Annotated

import typer

from firmware_models import Release, available_releases, hardware_catalogue, load_release, sources
from firmware_models.assumptions import collect_assumptions, collect_hardware_assumptions
from emulator.cli.output import UserError, console, print_json, table

app = typer.Typer(help="Control units, capacities and license catalogues per firmware release.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
ReleaseOpt = Annotated[str | None, typer.Option("--release", "-r", help="Firmware release (default: the newest).")]

SUMMARY_CAPACITIES = ("extensions", "vcm_channels", "sip_trunk_channels", "voicemail_channels", "scn_systems")


def resolve_release(version: str | None) -> Release:
    return load_release(version or available_releases()[-1])


@app.command("list")
def list_models(json_out: JsonOpt = False) -> None:
    """Every control unit of every release, with its main capacities."""
    rows = []
    for version in available_releases():
        release = load_release(version)
        for unit in release.control_units:
            rows.append({
                "release": version,
                "id": unit.id,
                "name": unit.name,
                "feature_keys": unit.feature_key_types,
                **{cap: unit.capacity(cap) for cap in SUMMARY_CAPACITIES if cap in unit.capacities},
            })
    if json_out:
        print_json(rows)
        return
    columns = ["release", "id", "name", "feature keys", *SUMMARY_CAPACITIES]
    console().print(table("Control units", columns, [
        [r["release"], r["id"], r["name"], ", ".join(r["feature_keys"]), *(r.get(c) for c in SUMMARY_CAPACITIES)]
        for r in rows
    ]))


@app.command("show")
def show_model(
    unit: Annotated[str, typer.Argument(help="Control unit, by id or name (e.g. IP500, 'IP500 V2', soe).")],
    release: ReleaseOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Capacities and license catalogue of one control unit in one release."""
    rel = resolve_release(release)
    try:
        model = rel.unit(unit)
    except LookupError as exc:
        raise UserError(str(exc)) from None
    in_use_by = {v: {lic.id for lic in load_release(v).licenses if not lic.obsolete} for v in available_releases()}
    licenses = []
    for lic in rel.licenses:
        if not lic.supported_on(model.id):
            availability = "not on this unit"
        else:
            availability = ("obsolete" if lic.obsolete_for(model.id) else
                            "supported" if lic.enforced else "catalogued, not enforced")
        pools = []
        for pool_id, per_instance in lic.pool_grants().items():
            pool = rel.pools[pool_id]
            cap = model.capacity(pool.capped_by) if pool.capped_by in model.capacities else None
            pools.append({"pool": pool_id, "per_instance": per_instance, "counts": pool.counts,
                          "consumed": pool.consumed, "capped_by": pool.capped_by, "cap": cap})
        releases = [v for v, ids in in_use_by.items() if lic.id in ids]
        licenses.append({"id": lic.id, "name": lic.name, "category": lic.category, "availability": availability,
                         "releases": releases,
                         "pools": pools, "requires": lic.requires, "trial": lic.trial,
                         "enforced": lic.enforced,
                         "control_units": lic.control_units, "source": lic.source, "assumption": lic.assumption})
    data = {
        "release": rel.release,
        "unit": {"id": model.id, "name": model.name, "feature_key_types": model.feature_key_types},
        "feature_key": {k: v.value for k, v in rel.feature_key},
        "capacities": {k: {"value": v.value, "source": v.source, "assumption": v.assumption}
                       for k, v in model.capacities.items()},
        "licenses": licenses,
        "license_sets": [{"id": s.id, "name": s.name, "expands_to": s.expands_to} for s in rel.license_sets],
    }
    if json_out:
        print_json(data)
        return
    out = console()
    out.print(f"[bold]{model.name}[/bold] — release {rel.release}; feature key: {', '.join(model.feature_key_types)}; "
              f"grace period {rel.feature_key.grace_period_s.value} s; trials {rel.feature_key.trial_days.value} days")
    out.print(table("Capacities", ["capacity", "value", "provenance"], [
        [k, v.value, f"source {v.source}" if v.source else f"assumption: {v.assumption}"]
        for k, v in model.capacities.items()
    ]))
    out.print(table("License catalogue", ["license", "name", "availability", "releases", "fills pool (per instance)",
                                          "consumed", "capped by", "requires", "trial"], [
        [lic["id"], lic["name"], lic["availability"], ", ".join(lic["releases"]),
         ", ".join(f"{p['pool']} x{p['per_instance']}" for p in lic["pools"]),
         ", ".join(sorted({p["consumed"] for p in lic["pools"]})),
         ", ".join(f"{p['capped_by']} ({p['cap']})" for p in lic["pools"] if p["capped_by"]) or "-",
         ", ".join(lic["requires"]) or "-", "yes" if lic["trial"] else "no"]
        for lic in licenses
    ]))
    out.print(table("Orderable license sets", ["set", "name", "expands to"], [
        [s.id, s.name, ", ".join(f"{n} x {lic}" for lic, n in s.expands_to.items())] for s in rel.license_sets
    ]))


@app.command("assumptions")
def list_assumptions(
    json_out: JsonOpt = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the Markdown of docs/assumptions.md.")] = False,
) -> None:
    """Every value the data chose where the reference material is silent."""
    entries = all_assumptions()
    if json_out:
        print_json([{"release": e.release, "where": e.where, "value": e.value, "reason": e.reason,
                     "sources": {tag: title for tag, title in cited(e.reason)}} for e in entries])
    elif markdown:
        print(assumptions_markdown(entries), end="")
    else:
        console().print(table("Assumptions", ["release", "where", "value", "reason", "sources cited"],
                              [[e.release, e.where, e.value, e.reason,
                                "; ".join(f"{tag}: {title}" for tag, title in cited(e.reason))] for e in entries]))


_TAG = re.compile(r"\bS\d{1,2}\b")


def cited(text: str) -> list[tuple[str, str]]:
    """(tag, public title) of every source tag in a text, in order."""
    titles = sources()
    return [(tag, titles[tag]["title"]) for tag in dict.fromkeys(_TAG.findall(text)) if tag in titles]


@app.command("sources")
def list_sources(
    json_out: JsonOpt = False,
    markdown: Annotated[bool, typer.Option("--markdown", help="Print the Markdown of docs/sources.md.")] = False,
) -> None:
    """The sources the data cites by tag (S1, S8...), with their public titles."""
    if json_out:
        print_json(sources())
    elif markdown:
        print(sources_markdown(), end="")
    else:
        console().print(table("Sources", ["tag", "title", "what we take from it"],
                              [[tag, s["title"], s["covers"]] for tag, s in sources().items()]))


def sources_markdown() -> str:
    lines = [
        "# Sources",
        "",
        "The data files, the docs and `ipo-emu models` cite sources by tag, e.g. [S8]. These are",
        "their public titles; S1, the licensing overview, is the document the product is built",
        "from. `[later]` in the data marks a source about a later release than the one it is",
        "used for. This page is generated from `firmware_models/sources.yaml`:",
        "",
        "    ipo-emu models sources --markdown > docs/sources.md",
        "",
        "| tag | title | what we take from it |",
        "|---|---|---|",
    ]
    lines += [f"| {tag} | {_cell(s['title'])} | {_cell(s['covers'])} |" for tag, s in sources().items()]
    return "\n".join(lines) + "\n"


def all_assumptions() -> list:
    """Every release's assumptions, then the hardware catalogue's."""
    entries = [e for v in available_releases() for e in collect_assumptions(load_release(v))]
    return entries + collect_hardware_assumptions(hardware_catalogue())


def assumptions_markdown(entries: list) -> str:
    lines = [
        "# Assumptions in the firmware data",
        "",
        "Where the sources ([sources.md](sources.md)) are silent or unconfirmed, the data files under",
        "`firmware_models/` choose a value and mark it with `assumption:`. This page lists every one",
        "of them; the tags in the reasons are resolved to titles in sources.md. It is generated — do",
        "not edit by hand:",
        "",
        "    ipo-emu models assumptions --markdown > docs/assumptions.md",
        "",
        "A test fails when this page and the data disagree.",
        "",
    ]
    for version in dict.fromkeys(e.release for e in entries):
        title = "Hardware (every release)" if version == "all" else f"Release {version}"
        lines += [f"## {title}", "", "| where | value | reason |", "|---|---|---|"]
        for e in entries:
            if e.release == version:
                lines.append(f"| `{e.where}` | {_cell(e.value)} | {_cell(e.reason)} |")
        lines.append("")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")

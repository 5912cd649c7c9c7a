"""`ipo-emu load --target`: the external mode's options, report and exit codes (docs/load.md)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import typer
from rich.table import Table

from emulator.cli.output import UserError, console, note, print_json
from emulator.cli.scenario_cmd import (
    EXIT_EXPECTATIONS_FAILED,
    EXIT_FELL_BEHIND,
    EXIT_SIGNALLED,
    _load,
    _write_atomically,
)
from emulator.cli.load_cmd import EXIT_GATE_FAILED, judge_gates, write_csv_files, write_html_report
from emulator.scenario.schema import parse_duration


def run_external(file: Path, target: str, *, prefix: str, rate: float | None, run_for: str, calls: int | None,
                 units: list[str], speed: float, seed: int | None, mqtt_version: str,
                 tls: tuple[Path | None, Path | None, Path | None], report: Path | None, html_out: Path | None,
                 csv_prefix: Path | None,
                 json_out: bool, live: bool,
                 max_blocking: float | None, max_p99_ms: float | None, fail_on_violation: bool) -> None:
    from emulator.external.driver import ExternalLoad, TargetError, TargetOptions
    from emulator.external.schedule import ScheduleError
    from emulator.service.broker_address import BrokerAddressError, parse_broker_url
    from emulator.service.topics import Topics

    if mqtt_version not in ("auto", "5", "3.1.1"):
        raise UserError(f"--mqtt-version {mqtt_version!r}: auto, 5 or 3.1.1")
    try:
        for_s = parse_duration(run_for)
    except ValueError as exc:
        raise UserError(f"--for: {exc}") from None
    if not 0 < for_s <= 7 * 86400:
        raise UserError("--for: more than 0 seconds and at most 7 days")
    try:
        Topics(prefix)
        address = parse_broker_url(target, tls_ca=tls[0], tls_cert=tls[1], tls_key=tls[2])
    except (BrokerAddressError, ValueError) as exc:
        raise UserError(str(exc).replace("--mqtt", "--target")) from None
    loaded = _load(file)
    options = TargetOptions(address, prefix=prefix, rate_per_s=rate, for_s=for_s, max_calls=calls, speed=speed,
                            seed=seed if seed is not None else loaded.scenario.seed, units=units,
                            mqtt_version=mqtt_version, console=(lambda row: print(row, file=sys.stderr, flush=True))
                            if live else None)
    try:
        driver = ExternalLoad(loaded, options)
        data = asyncio.run(driver.run())
    except (ScheduleError, TargetError) as exc:
        raise UserError(str(exc)) from None
    data["gates"] = judge_gates(data["traffic"], data["offer_latency"], "offer round trip",
                                max_blocking=max_blocking, max_p99_ms=max_p99_ms)
    if report is not None:
        _write_atomically(report, json.dumps(data, indent=2) + "\n")
    if html_out is not None:
        write_html_report(html_out, data, title=f"External load: {loaded.scenario.name}", kind="external")
    if csv_prefix is not None:
        from emulator.scenario.csv_report import write_external_csv

        write_csv_files(write_external_csv, csv_prefix, data)
    if json_out:
        print_json(data)
    else:
        render_external(data)
    _exit_for(data, allow_violations=not fail_on_violation)


def render_external(data: dict) -> None:
    out = console()
    out.print(f"[bold]External load[/bold] of {data['units']} unit{'s' if data['units'] != 1 else ''} "
              f"({data['scenario']}) through {data['target']}, prefix {data['prefix']}")
    out.print(f"offered {data['offers']:,} calls in {data['sending_s']:.1f} s: {data['achieved_rate_per_s']:,.1f}/s "
              f"of {data['rate_per_s']:,.1f}/s asked; {data['hang_ups']:,} hang-ups "
              f"({data['hung_up_at_the_end']:,} at the end); {data['replies']:,} replies, {data['lost']:,} lost")
    latencies = Table(title="Round trips (from when each command was due to its reply)")
    for column in ("", "count", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"):
        latencies.add_column(column, justify="right" if column else "left")
    for name, key in (("offer_call", "offer_latency"), ("hang_up", "hang_up_latency"), ("sender lag", "send_lag")):
        h = data[key]
        if h.get("count"):
            latencies.add_row(name, f"{h['count']:,}", *(f"{h[k]:.3f}" for k in
                                                          ("p50_ms", "p90_ms", "p99_ms", "p99_9_ms", "max_ms")))
    out.print(latencies)
    traffic = Table(title="Decisions")
    for column in ("traffic", "unit", "attempts", "admitted", "busy user", "blocked", "blocking",
                   "refusals (reason/pool)"):
        traffic.add_column(column, justify="left" if column in ("traffic", "unit", "refusals (reason/pool)")
                           else "right")
    for t in data["traffic"]:
        traffic.add_row(t["name"], t["unit"], f"{t['attempts']:,}", f"{t['admitted']:,}", f"{t['busy']:,}",
                        f"{t['blocked']:,}", f"{t['blocking']:.4f}",
                        ", ".join(f"{k} {v:,}" for k, v in t["refusals"].items()))
    out.print(traffic)
    pools = Table(title="Pools of the driven units (last published state; refusals during the run)")
    for column in ("pool", "units", "highest limit", "highest peak", "refused"):
        pools.add_column(column, justify="left" if column == "pool" else "right")
    for p in data["pools"]:
        if p["peak"] or p["refused"]:
            pools.add_row(p["pool"], f"{p['units']:,}", f"{p['effective']:,}", f"{p['peak']:,}", f"{p['refused']:,}")
    out.print(pools)
    check = data["check"]
    out.print(f"judged against the units' published state: {check['judged']:,} decisions, "
              f"{check['states_matched']:,} published states matched; {check['violations']} violations")
    for why, n in sorted(check["not_judged"].items()):
        out.print(f"  not judged: {why}: {n:,}")
    for finding in check["findings"][:20]:
        out.print(f"  [red]violation[/red] {finding}")
    if data["errors"]:
        out.print("command errors: " + ", ".join(f"{k} {v:,}" for k, v in data["errors"].items()))


def _exit_for(data: dict, *, allow_violations: bool) -> None:
    if data["interrupted_by"]:
        note(f"interrupted by {data['interrupted_by']}: the report covers the {data['sending_s']:.1f} s sent")
        raise typer.Exit(EXIT_SIGNALLED[data["interrupted_by"]])
    if data["fell_behind"]:
        note(f"the sender fell behind its schedule (up to {data['send_lag']['max_ms']:.1f} ms late, limit "
             f"{data['max_lag_s'] * 1000:g} ms): the rate asked was not offered")
        raise typer.Exit(EXIT_FELL_BEHIND)
    check = data["check"]
    if check["violations"] or data["lost"]:
        said = f"{check['violations']} violation{'s' if check['violations'] != 1 else ''}" + (
            f", {data['lost']} commands without a reply" if data["lost"] else "")
        if not allow_violations:
            note(f"{said}: " + "; ".join(check["findings"][:3]))
            raise typer.Exit(EXIT_EXPECTATIONS_FAILED)
        note(f"{said}, allowed by --allow-violations")
    gates = data["gates"]["failed"]
    if gates:
        note(f"{len(gates)} gate{'s' if len(gates) > 1 else ''} failed: " + "; ".join(gates))
        raise typer.Exit(EXIT_GATE_FAILED)

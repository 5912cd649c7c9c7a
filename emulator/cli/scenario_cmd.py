"""`ipo-emu run | validate | schema | size | events`: scenario files end to end."""

from __future__ import annotations

import asyncio
import difflib
import os
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ConfigDict, ValidationError

from emulator.cli.output import (
    DEVELOPMENT_DONGLE_NOTE,
    DEVELOPMENT_ISSUER_NOTE,
    UserError,
    console,
    error_line,
    note,
    print_json,
    table,
    tell_once,
)
from emulator.licensing.issuer_secret import load_issuer_secret
from emulator.scenario.loader import ScenarioError, load_scenario
from emulator.scenario.plot import PlotUnavailableError, plot
from emulator.scenario.report import render
from emulator.scenario.runner import EventsWriteError, RunOptions, ScenarioRunner
from emulator.scenario.schema import parse_duration
from emulator.scenario.sizing import erlang_b, size

EXIT_EXPECTATIONS_FAILED = 1
EXIT_FELL_BEHIND = 3
EXIT_SIGNALLED = {"SIGINT": 130, "SIGTERM": 143}

FileArg = Annotated[Path, typer.Argument(help="Scenario file (YAML).")]


def _load(path: Path, *, serving: bool = False, planning: bool = False):
    from emulator.cli.license_cmd import exchanged_keys

    try:
        loaded = load_scenario(path, load_issuer_secret().value, serving=serving, planning=planning)
    except ScenarioError as exc:
        raise UserError(str(exc)) from None
    loaded.revoked = exchanged_keys(None)
    return loaded


def _tell_about_development_secrets(loaded) -> None:
    """Said once, after the work (so that an error stays the only line on stderr)."""
    from hardware.feature_keys.registry import KEY_TYPES

    if loaded.authority.is_development:
        tell_once(DEVELOPMENT_ISSUER_NOTE)
    dongles = any(KEY_TYPES.get(u.feature_key.partition(":")[0].lower()) in ("serial", "usb") for u in loaded.units)
    if dongles and not os.environ.get("IPO_EMU_DONGLE_SECRET"):
        tell_once(DEVELOPMENT_DONGLE_NOTE)


def _writable(path: Path | None, option: str) -> None:
    if path is None:
        return
    if path.is_dir():
        raise UserError(f"{option} {path}: is a directory")
    if not path.parent.is_dir():
        raise UserError(f"{option} {path}: folder {path.parent} does not exist")


def run(
    file: FileArg,
    realtime: Annotated[bool, typer.Option("--realtime", help="Run on the wall clock instead of virtual time.")] = False,
    speed: Annotated[float, typer.Option("--speed", help="With --realtime: virtual seconds per real second.",
                                         min=0.001)] = 1.0,
    max_lag: Annotated[str, typer.Option("--max-lag", help="With --realtime: the run fell behind (exit 3) when a "
                                         "callback ran later than this, real time (e.g. 250ms, 1s).")] = "250ms",
    seed: Annotated[int | None, typer.Option("--seed", help="Override the scenario's seed.")] = None,
    events: Annotated[Path | None, typer.Option("--events", help="Write every event as JSON lines here ('-': "
                                                "standard output, the report then goes to standard error).")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write the report as JSON here.")] = None,
    smdr: Annotated[Path | None, typer.Option("--smdr", help="Write each unit's SMDR call records here, one per "
                                              "call as it ends ({unit} in the name: a file per unit).")] = None,
    plot_file: Annotated[Path | None, typer.Option("--plot", help="Draw in-use against limit per pool (PNG; "
                                                                  "needs the 'plot' extra).")] = None,
    feature_key: Annotated[list[str] | None, typer.Option(
        "--feature-key", "-k", help="Use this feature key instead of the file's: [UNIT=]URL, e.g. "
        "serial:///dev/ttyUSB0?baudrate=9600 (repeatable, one per unit).")] = None,
    progress: Annotated[bool | None, typer.Option("--progress/--no-progress",
                                                  help="Progress bar (default: when stderr is a terminal).")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=256, help="Run the units in this many processes "
                                         "(virtual time; networks stay whole, fleets are split; the same totals "
                                         "for any number).")] = 1,
    cluster: Annotated[str | None, typer.Option("--cluster", help="Run the --workers shards on this Dask "
                                                "scheduler's workers, e.g. tcp://10.0.0.5:8786 (needs the "
                                                "'cluster' extra).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON instead of tables.")] = False,
) -> None:
    """Run a scenario and report what the licenses allowed (exit codes: RUN_HELP)."""
    try:
        max_lag_s = parse_duration(max_lag)
    except ValueError as exc:
        raise UserError(f"--max-lag: {exc}") from None
    if not 0 < max_lag_s < float("inf"):
        raise UserError("--max-lag: must be more than 0 seconds")
    if cluster is not None and workers == 1:
        workers = 2  # a cluster with one shard would be the same run, on another machine
    loaded = _load(file, planning=workers > 1)  # (the workers build the units: a fleet's first copy is checked here)
    for choice in feature_key or []:
        _use_feature_key(loaded, choice)
    if smdr is not None:
        from emulator.smdr.output import UNIT_PLACEHOLDER, smdr_file_for

        names = [u.name for u in loaded.units]
        if len(names) > 1 and UNIT_PLACEHOLDER not in str(smdr):
            raise UserError(f"--smdr: this scenario has {len(names)} units: put {UNIT_PLACEHOLDER} in the file name "
                            "for a file per unit")
        if str(smdr) == "-":
            raise UserError("--smdr: give a file name")
        for name in names:
            _writable(smdr_file_for(smdr, name), "--smdr")
    for path, option in ((events, "--events"), (report, "--report"), (plot_file, "--plot")):
        if path is not None and str(path) == "-" and option != "--events":
            raise UserError(f"{option}: give a file name ('-' is only for --events)")
        if path is not None and str(path) != "-":
            _writable(path, option)
    events_to_stdout = events is not None and str(events) == "-"
    if plot_file is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UserError("--plot needs matplotlib: pip install 'ipo-emu[plot]'") from None
    show_progress = sys.stderr.isatty() if progress is None else progress
    options = RunOptions(realtime=realtime, speed=speed, seed=seed, events_path=events, max_lag_s=max_lag_s,
                         handle_signals=True, smdr_path=smdr,
                         pool_samples=plot_file is not None or report is not None)
    from emulator.smdr.output import SmdrFileError

    if workers > 1:
        given = [name for name, value in (("--realtime", realtime), ("--events", events), ("--smdr", smdr),
                                          ("--plot", plot_file), ("--feature-key", feature_key)) if value]
        if given or loaded.scenario.replay:
            raise UserError(f"--workers: runs in virtual time, without {', '.join(given) or 'a replay'}; "
                            "give --workers 1 for those")
        from emulator.licensing.issuer_secret import load_issuer_secret
        from emulator.scenario.shards import ClusterError, run_in_shards

        try:
            result = run_in_shards(loaded, workers, secret=load_issuer_secret().value, seed=seed, cluster=cluster)
        except ClusterError as exc:
            raise UserError(str(exc)) from None
    else:
        try:
            result = asyncio.run(_run_with_progress(loaded, options, show_progress))
        except (EventsWriteError, SmdrFileError) as exc:
            raise UserError(exc.strerror) from None
    if report is not None:
        _write_atomically(report, json.dumps(result.data, indent=2, default=str) + "\n")
    if plot_file is not None:
        try:
            plot(result.data, plot_file)
        except PlotUnavailableError as exc:
            raise UserError(str(exc)) from None
    if json_out:
        print_json({k: v for k, v in result.data.items() if k != "samples"},
                   stream=sys.stderr if events_to_stdout else sys.stdout)
    else:
        render(result, console_stderr() if events_to_stdout else console())
    _tell_about_development_secrets(loaded)
    exit_for(result)


def exit_for(result, *, allow_violations: bool = False) -> None:
    """The exit code of a finished run (RUN_HELP), said in one line: interrupted, fell
    behind real time, an invariant violated (unless allowed), or an expectation failed;
    nothing when all went well."""
    if result.data["interrupted"]:
        note(f"interrupted by {result.data['interrupted']}: the report covers the first "
             f"{result.data['simulated_s']:g} s of {result.data['duration_s']:g} s")
        raise typer.Exit(EXIT_SIGNALLED[result.data["interrupted"]])
    if not result.data["kept_up"]:
        lag = result.data["clock_lag"]
        note(f"the run fell behind real time (callbacks up to {lag['max_ms']:.1f} ms late, limit "
             f"{lag['limit_ms']:g} ms): its timing cannot be trusted")
        raise typer.Exit(EXIT_FELL_BEHIND)
    violations = result.data.get("invariants", {}).get("violations", [])
    if violations:
        said = f"{len(violations)} invariant{'s' if len(violations) > 1 else ''} violated"
        if not allow_violations:
            note(f"{said} (the run cannot be trusted): " + "; ".join(violations[:3]))
            raise typer.Exit(EXIT_EXPECTATIONS_FAILED)
        note(f"{said}, allowed by --allow-violations: " + "; ".join(violations[:3]))
    failed = [e for e in result.expectations if not e.ok]
    if failed:
        note(f"{len(failed)} of {len(result.expectations)} expectations failed: "
             + "; ".join(f"{e.text} was {e.actual}, expected {e.expected}" for e in failed))
        raise typer.Exit(EXIT_EXPECTATIONS_FAILED)


def _write_atomically(path: Path, text: str) -> None:
    """The report, whole or not at all (emulator/output_files.py)."""
    from emulator.output_files import write_whole

    try:
        write_whole(path, lambda fh: fh.write(text))
    except OSError as exc:
        raise UserError(f"--report {path}: cannot write: {exc.strerror or exc}") from None


def _use_feature_key(loaded, choice: str) -> None:
    """--feature-key [UNIT=]URL: fit another key to a unit (checked like the file's own)."""
    from emulator.config import UnitConfig

    unit_name, sep, url = choice.partition("=")
    if not sep or "://" in unit_name or ":" in unit_name:
        unit_name, url = "", choice
    names = [u.name for u in loaded.units]
    if not unit_name:
        if len(names) > 1:
            raise UserError(f"--feature-key: name the unit, e.g. {names[0]}={url} (units: {', '.join(names)})")
        unit_name = names[0]
    if unit_name not in names:
        raise UserError(f"--feature-key: no unit named {unit_name!r} (units: {', '.join(names)})")
    index = names.index(unit_name)
    try:
        from hardware.feature_keys import FeatureKeyError, open_feature_key

        open_feature_key(url)
        loaded.units[index] = UnitConfig(**{**loaded.units[index].model_dump(), "feature_key": url})
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise UserError(f"--feature-key {choice}: {message}") from None
    except FeatureKeyError as exc:
        raise UserError(f"--feature-key {choice}: {exc}") from None


async def _run_with_progress(loaded, options: RunOptions, show: bool):
    if not show:
        return await ScenarioRunner(loaded, options).run()
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), console=console_stderr(), transient=True) as bar:
        task = bar.add_task(f"running {loaded.scenario.name}", total=1.0)
        options.progress = lambda done: bar.update(task, completed=done)
        return await ScenarioRunner(loaded, options).run()


def console_stderr():
    from rich.console import Console

    return Console(file=sys.stderr)


def validate(file: FileArg) -> None:
    """Check a scenario file without running it; every problem is listed, a line each (exit 2)."""
    try:
        loaded = load_scenario(file, load_issuer_secret().value)
    except ScenarioError as exc:
        for problem in exc.problems:
            error_line(problem)
        raise typer.Exit(2) from None
    _tell_about_development_secrets(loaded)
    s = loaded.scenario
    fleet = f" ({len(loaded.units):,} with the fleets' copies)" if loaded.copies else ""
    print(f"{file}: valid — {len(s.units)} unit(s){fleet}, {len(s.events)} event(s), {len(s.traffic)} traffic source(s), "
          f"{len(s.expect)} expectation(s), {s.duration:g} s")


def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    mqtt: Annotated[bool, typer.Option("--mqtt", help="The schemas of the MQTT payloads of ipo-emu serve "
                                       "instead (docs/mqtt-schemas.json).")] = False,
) -> None:
    """Write the JSON Schema of scenario files (for editor autocompletion)."""
    if mqtt:
        from emulator.service.payloads import mqtt_json_schemas

        text = json.dumps(mqtt_json_schemas(), indent=2) + "\n"
    else:
        from emulator.scenario.json_schema import scenario_json_schema

        text = json.dumps(scenario_json_schema(), indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        _writable(output, "--output")
        output.write_text(text, encoding="utf-8")
        note(f"wrote the {'MQTT payload schemas' if mqtt else 'scenario schema'} to {output}")


def size_cmd(
    erlangs: Annotated[float | None, typer.Option("--erlangs", "-A", help="Offered load in erlangs.", min=0)] = None,
    busy_hour_calls: Annotated[float | None, typer.Option("--busy-hour-calls", help="Calls in the busy hour.",
                                                          min=0)] = None,
    holding: Annotated[str, typer.Option("--holding", help="Mean holding time (e.g. 180s, 3m).")] = "180s",
    grade: Annotated[float, typer.Option("--grade", help="Target blocking (grade of service).", min=0.0001,
                                         max=0.5)] = 0.01,
    vcm_share: Annotated[float, typer.Option("--vcm-share", help="Share of calls holding a VCM channel throughout.",
                                             min=0, max=1)] = 1.0,
    unit: Annotated[str, typer.Option("--unit", help="The control unit the channels are for (its caps are "
                                      "checked).")] = "IP500",
    release: Annotated[str, typer.Option("--release", help="The IP Office release.")] = "6.0",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Recommend SIP trunk channel licenses and VCM channels for a load (Erlang-B), and say
    when one unit cannot take that many."""
    from firmware_models import available_releases, load_release

    if release not in available_releases():
        raise UserError(f"--release: unknown release {release!r} (known: {', '.join(available_releases())})")
    try:
        model = load_release(release).unit(unit)
    except LookupError as exc:
        raise UserError(f"--unit: {exc}") from None
    if (erlangs is None) == (busy_hour_calls is None):
        raise UserError("give exactly one of --erlangs or --busy-hour-calls")
    try:
        hold = parse_duration(holding)
    except ValueError as exc:
        raise UserError(f"--holding: {exc}") from None
    if hold <= 0:
        raise UserError("--holding: must be more than 0 seconds")
    load = erlangs if erlangs is not None else busy_hour_calls * hold / 3600.0
    try:
        advice = size(load, grade, vcm_share)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    around = [(n, erlang_b(n, load)) for n in range(max(1, advice.sip_channels - 3), advice.sip_channels + 4)]
    warnings = []
    for what, needed, cap_id in (("SIP trunk channels", advice.sip_channels, "sip_trunk_channels"),
                                 ("VCM channels", advice.vcm_channels, "vcm_channels")):
        cap = model.capacity(cap_id)
        if needed > cap:
            warnings.append(f"{needed} {what} exceed what one {model.name} (release {release}) takes: {cap}; "
                            f"spread the load over {-(-needed // cap)} units, or plan for blocking "
                            f"{erlang_b(cap, load if cap_id == 'sip_trunk_channels' else advice.vcm_erlangs):.4f} "
                            f"with {cap}")
    if json_out:
        print_json({"erlangs": load, "grade_of_service": grade, "unit": model.name, "release": release,
                    "sip_trunk_channels": advice.sip_channels,
                    "blocking_at_recommendation": advice.sip_blocking, "vcm_erlangs": advice.vcm_erlangs,
                    "vcm_channels": advice.vcm_channels, "erlang_b": [{"channels": n, "blocking": b} for n, b in around],
                    "warnings": warnings})
        return
    for warning in warnings:
        note(f"warning: {warning}")
    out = console()
    out.print(f"Offered load {load:.2f} E at grade of service {grade:g}:")
    out.print(f"  SIP Trunk Channels: {advice.sip_channels} (blocking {advice.sip_blocking:.4f})")
    out.print(f"  VCM channels: {advice.vcm_channels} (for {advice.vcm_erlangs:.2f} E holding VCM)")
    out.print(table("Erlang-B around the recommendation", ["channels", "blocking"],
                    [[n, f"{b:.4f}"] for n, b in around]))


_SHOWN_CHARS = 80


def _shown(text: str) -> str:
    """A field as displayed: long ones cut (the file keeps them whole)."""
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS - 1] + "…"


class EventLine(BaseModel):
    """One line of an --events file (docs/events.md)."""

    model_config = ConfigDict(extra="allow")
    time: float
    t: float
    unit: str
    kind: str
    outcome: str
    reason: str | None = None
    detail: str | None = None


def events_cmd(
    file: Annotated[Path, typer.Argument(help="An --events file (JSON lines).")],
    kind: Annotated[str | None, typer.Option("--kind", help="Only events of this kind (e.g. call.rejected).")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="Only events of this unit.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Read an --events file back and count its events by unit, kind and reason."""
    from emulator.telemetry.events import EVENT_NAMES

    if kind is not None and kind not in EVENT_NAMES:
        close = difflib.get_close_matches(kind, EVENT_NAMES, n=1)
        hint = f"did you mean {close[0]}?" if close else "see docs/events.md"
        raise UserError(f"--kind: no event kind {kind!r} ({hint})")
    units_seen: set[str] = set()
    counts: Counter[tuple[str, str, str]] = Counter()
    total = 0
    from emulator.bounded_input import EVENTS_LINE_MAX_BYTES, InputError, regular_file

    try:
        regular_file(file, "events file")
        with file.open("rb") as fh:  # streamed: a line at a time, each of bounded length
            for number, raw in enumerate(iter(lambda: fh.readline(EVENTS_LINE_MAX_BYTES + 1), b""), 1):
                if len(raw) > EVENTS_LINE_MAX_BYTES:
                    raise UserError(f"{file}:{number}: a line longer than {EVENTS_LINE_MAX_BYTES:,} bytes")
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise UserError(f"{file}:{number}: not UTF-8 text (byte {exc.start})") from None
                if not line.strip():
                    continue
                try:
                    record = EventLine.model_validate_json(line)
                except ValidationError as exc:
                    err = exc.errors()[0]
                    where = ".".join(str(p) for p in err["loc"])
                    raise UserError(f"{file}:{number}: {where + ': ' if where else ''}{err['msg']}") from None
                total += 1
                if len(units_seen) < 10_000:
                    units_seen.add(_shown(record.unit))
                if (kind is None or record.kind == kind) and (unit is None or record.unit == unit):
                    counts[(_shown(record.unit), _shown(record.kind), _shown(record.reason or ""))] += 1
    except InputError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"{file}: cannot read: {exc.strerror}") from None
    if unit is not None and _shown(unit) not in units_seen:
        listed = sorted(units_seen)
        raise UserError(f"--unit: no events of a unit named {_shown(unit)!r} in {file} "
                        f"(units: {', '.join(listed[:20]) + (', …' if len(listed) > 20 else '') or 'none'})")
    rows = [{"unit": u, "kind": k, "reason": r or None, "count": n} for (u, k, r), n in sorted(counts.items())]
    if json_out:
        print_json({"events": total, "counts": rows})
        return
    console().print(table(f"{file}: {total} events", ["unit", "kind", "reason", "count"],
                          [[r["unit"], r["kind"], r["reason"] or "", r["count"]] for r in rows]))


RUN_HELP = ("Run a scenario and report what the licenses allowed.\n\n"
            "Exit codes: 0 every expectation holds; 1 one failed, or an invariant was violated; 2 invalid input; 3 a --realtime run fell "
            "behind real time; 130/143 interrupted by SIGINT/SIGTERM (the report of the time simulated so far "
            "is still written).")

app = typer.Typer(add_completion=False)
app.command("run", help=RUN_HELP)(run)
app.command("validate")(validate)
app.command("schema")(schema)
app.command("size")(size_cmd)
app.command("events")(events_cmd)

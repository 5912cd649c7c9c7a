"""`ipo-emu replay`: a site's SMDR export offered again to a license plan, call by call."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from emulator.cli.output import UserError, console, note, print_json
from emulator.cli.scenario_cmd import (
    _run_with_progress,
    _tell_about_development_secrets,
    _writable,
    _write_atomically,
    console_stderr,
    exit_for,
)
from emulator.scenario.loader import ScenarioError, load_scenario
from emulator.scenario.report import render, render_sizing
from emulator.scenario.runner import RunOptions, RunResult, call_row

CSV_COLUMNS = ("line", "call_id", "start", "duration_s", "segments", "caller", "called", "outcome", "reason",
               "detail", "refused_at_segment")


def replay(
    calls: Annotated[Path, typer.Argument(help="SMDR file: one record per call segment, as IP Office writes them.")],
    plan: Annotated[Path, typer.Option("--plan", help="The license plan: a scenario file whose units (licenses, "
                                       "lines, users) take the calls; its own timeline is left out.")],
    unit: Annotated[str | None, typer.Option("--unit", help="The plan's unit the calls were made on "
                                             "(when it has several).")] = None,
    line: Annotated[list[str] | None, typer.Option("--line", help="LINE=TRUNK: SMDR line number (device T9000+LINE) "
                                                   "to a trunk of the plan; default: the unit's trunks in order "
                                                   "(repeatable).")] = None,
    size: Annotated[bool, typer.Option("--size", help="Also find the licenses and channels that would have "
                                       "refused none of the calls (replaying them again).")] = False,
    max_refused: Annotated[float | None, typer.Option("--max-refused", help="With --size: the share of calls "
                                                      "that may be refused, e.g. 0.01 (implies --size).",
                                                      min=0.0, max=0.99)] = None,
    csv_file: Annotated[Path | None, typer.Option("--csv", help="Write every call's outcome here (CSV, one row "
                                                  "per call in the order they started).")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write the report as JSON here.")] = None,
    register: Annotated[bool, typer.Option("--register-phones/--no-register-phones",
                                           help="Register the unit's IP phones before the first call.")] = True,
    progress: Annotated[bool | None, typer.Option("--progress/--no-progress",
                                                  help="Progress (default: when stderr is a terminal).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON instead of tables.")] = False,
) -> None:
    """Replay a site's SMDR export against a license plan: which calls it would have refused,
    and why (exit codes as for ipo-emu run: 1 when the plan's expectations fail)."""
    from emulator.cli.license_cmd import exchanged_keys
    from emulator.licensing.issuer_secret import load_issuer_secret

    for path, option in ((csv_file, "--csv"), (report, "--report")):
        if path is not None:
            _writable(path, option)
    lines: dict[int, str] = {}
    for choice in line or []:
        number, sep, trunk = choice.partition("=")
        if not sep or not number.strip().isdigit() or not trunk.strip():
            raise UserError(f"--line {choice}: give LINE=TRUNK, e.g. 1=sip1")
        lines[int(number)] = trunk.strip()
    spec = {"file": str(calls.expanduser().resolve()), "register_phones": register, "lines": lines}
    if unit is not None:
        spec["unit"] = unit
    try:
        loaded = load_scenario(plan, load_issuer_secret().value, replay=[spec])
    except ScenarioError as exc:
        raise UserError(str(exc).replace("replay[0].", "").replace("replay: ", "")) from None
    loaded.revoked = exchanged_keys(None)
    if loaded.left_out:
        note(f"the plan's {', '.join(loaded.left_out)} {'is' if len(loaded.left_out) == 1 else 'are'} left out: "
             f"the calls come from {calls}")
    show = sys.stderr.isatty() if progress is None else progress
    sizing = None
    if size or max_refused is not None:
        from emulator.scenario.replay_sizing import replay_and_size

        tell = (lambda text: console_stderr().print(f"[dim]{text}[/dim]")) if show else None
        result, sizing = asyncio.run(replay_and_size(loaded, max_refused or 0.0, progress=tell))
    else:
        result = asyncio.run(_run_with_progress(loaded, RunOptions(handle_signals=True, pool_samples=False), show))
    data = {k: v for k, v in result.data.items() if k != "samples"}
    if sizing is not None:
        data["sizing_replay"] = sizing.as_dict()
    if csv_file is not None:
        _write_calls(csv_file, result)
    if report is not None:
        _write_atomically(report, json.dumps(data, indent=2, default=str) + "\n")
    if json_out:
        print_json(data)
    else:
        render(result, console())
        if sizing is not None:
            render_sizing(data["sizing_replay"], console())
    _tell_about_development_secrets(loaded)
    exit_for(result)


def _write_calls(path: Path, result: RunResult) -> None:
    """Every call of the replay: one row each, in the order they started (whole or not at all)."""
    from emulator.output_files import write_whole

    def write(fh) -> None:
        out = csv.DictWriter(fh, CSV_COLUMNS, lineterminator="\n")
        out.writeheader()
        for replay in result.replays:
            for call in replay.order:
                out.writerow(call_row(replay.history, call, replay))

    try:
        write_whole(path, write)
    except OSError as exc:
        raise UserError(f"--csv {path}: cannot write: {exc.strerror or exc}") from None


app = typer.Typer(add_completion=False)
app.command("replay")(replay)

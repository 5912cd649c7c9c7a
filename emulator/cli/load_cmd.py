"""`ipo-emu load`: a scenario as a load test of license enforcement, with CI gates."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from emulator.cli.output import UserError, console, note, print_json
from emulator.cli.scenario_cmd import (
    _load,
    _tell_about_development_secrets,
    _writable,
    _write_atomically,
    exit_for,
)
from emulator.scenario.report import render
from emulator.scenario.runner import RunOptions

EXIT_GATE_FAILED = 4


def check_html_output(html_out: Path | None) -> None:
    """Before a long run: the page can be written, and plotly is there to draw it."""
    if html_out is None:
        return
    _writable(html_out, "--html")
    import importlib.util

    if importlib.util.find_spec("plotly") is None:
        raise UserError("--html needs plotly: pip install 'ipo-emu[html]'")


def judge_gates(traffic: list[dict], latency: dict | None, latency_name: str, *, max_blocking: float | None,
                max_p99_ms: float | None) -> dict:
    """The report's `gates`: each --max-* gate and what failed it (exit 4), in one line each."""
    failed = []
    if max_blocking is not None:
        failed = [f"traffic {t['name']} blocked {t['blocking']:.4f} > --max-blocking {max_blocking:g}"
                  for t in traffic if t["blocking"] > max_blocking]
    if max_p99_ms is not None and latency and latency.get("count", 1) and latency["p99_ms"] > max_p99_ms:
        failed.append(f"p99 {latency_name} {latency['p99_ms']:.3f} ms > --max-p99-ms {max_p99_ms:g}")
    return {"max_blocking": max_blocking, "max_p99_ms": max_p99_ms, "failed": failed}


def write_csv_files(writer, prefix: Path, data: dict) -> None:
    """--csv PREFIX: the files a writer makes from the report, each named as written."""
    try:
        for path in writer(prefix, data):
            note(f"wrote {path}")
    except OSError as exc:
        raise UserError(f"--csv {prefix}: cannot write: {exc.strerror or exc}") from None


def write_html_report(path: Path, data: dict, *, title: str, kind: str) -> None:
    from emulator.scenario.html_report import write_html

    try:
        write_html(path, data, title=title, kind=kind)
    except OSError as exc:
        raise UserError(f"--html {path}: cannot write: {exc.strerror or exc}") from None
    note(f"wrote {path}")

app = typer.Typer(add_completion=False)


@app.command("load", help="Load-test license enforcement with a scenario (fleets, several processes or machines), "
                          "write CSV and an HTML report, and fail on gates; or, with --target, drive units that "
                          "`ipo-emu serve` serves and judge every decision. Exit codes: as ipo-emu run, and 4 when "
                          "a --max-* gate failed (docs/load.md).")
def load(
    file: Annotated[Path, typer.Argument(help="Scenario file (YAML); fleets with count: make load.")],
    workers: Annotated[int, typer.Option("--workers", min=1, max=256, help="Processes to run the units in.")] = 1,
    cluster: Annotated[str | None, typer.Option("--cluster", help="Run the shards on this Dask scheduler's workers, "
                                                "e.g. tcp://10.0.0.5:8786 (the 'cluster' extra).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Override the scenario's seed.")] = None,
    csv_prefix: Annotated[Path | None, typer.Option("--csv", help="Write PREFIX_stats.csv, PREFIX_refusals.csv, "
                                                    "PREFIX_steps.csv (ramps) and (one process) PREFIX_history.csv.")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write the report as JSON here.")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write a self-contained HTML page here: charts of "
                                                  "license use, blocking and latency over time, and the report's "
                                                  "tables (the 'html' extra).")] = None,
    max_blocking: Annotated[float | None, typer.Option("--max-blocking", min=0.0, max=1.0, help="Fail (exit 4) "
                                                       "when a traffic source blocked more than this share.")] = None,
    realtime: Annotated[bool, typer.Option("--realtime", help="Paced arrivals on the wall clock: admission latency "
                                           "from each call's intended time, as percentiles.")] = False,
    speed: Annotated[float, typer.Option("--speed", min=0.001, help="With --realtime or --target: simulated "
                                         "seconds per real second (--target: as the units are served).")] = 1.0,
    max_p99_ms: Annotated[float | None, typer.Option("--max-p99-ms", min=0.0, help="With --realtime: fail (exit 4) "
                                                     "when the p99 admission latency is above this (--target: the p99 "
                                                     "offer round trip).")] = None,
    live: Annotated[bool, typer.Option("--console/--no-console", help="Live rows on stderr every twentieth of the "
                                       "run: calls and refusals since the last row and in total, licenses in use "
                                       "(with --cluster: none).")] = True,
    fail_on_violation: Annotated[bool, typer.Option("--fail-on-violation/--allow-violations",
                                                    help="A violated invariant fails the run (exit 1).")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON instead of tables.")] = False,
    target: Annotated[str | None, typer.Option("--target", help="External mode: drive the units `ipo-emu serve` "
                                               "serves for this scenario through this broker, "
                                               "mqtt://[user:pass@]host:port or mqtts://...")] = None,
    prefix: Annotated[str, typer.Option("--prefix", help="--target: the served units' topic prefix.")] = "ipo",
    rate: Annotated[float | None, typer.Option("--rate", min=0.001, max=1e6, help="--target: calls offered a "
                                               "second (default: the scenario's traffic rate times --speed).")] = None,
    run_for: Annotated[str | None, typer.Option("--for", help="--target: send for this long (wall clock), e.g. 30s, "
                                                 "5m; default 30s.")] = None,
    calls: Annotated[int | None, typer.Option("--calls", min=1, help="--target: stop after offering this many "
                                              "calls.")] = None,
    units: Annotated[list[str] | None, typer.Option("--unit", help="--target: only these units or fleets "
                                                    "(repeatable; default: every unit with traffic).")] = None,
    mqtt_version: Annotated[str, typer.Option("--mqtt-version", help="--target: auto, 5 or 3.1.1.")] = "auto",
    tls_ca: Annotated[Path | None, typer.Option("--tls-ca", help="--target mqtts: CA certificate file.")] = None,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="--target mqtts: client certificate.")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="--target mqtts: client key.")] = None,
) -> None:
    check_html_output(html_out)
    if csv_prefix is not None:
        _writable(Path(f"{csv_prefix}_stats.csv"), "--csv")
    _writable(report, "--report")
    if target is not None:
        from emulator.cli.external_cmd import run_external

        if workers > 1 or cluster or realtime:
            given = [o for o, on in (("--workers", workers > 1), ("--cluster", cluster), ("--realtime", realtime)) if on]
            raise UserError(f"{given[0]}: not with --target (the served units run where they are served, "
                            "on the wall clock)")
        run_external(file, target, prefix=prefix, rate=rate, run_for=run_for or "30s", calls=calls, units=units or [],
                     speed=speed, seed=seed, mqtt_version=mqtt_version, tls=(tls_ca, tls_cert, tls_key),
                     report=report, html_out=html_out, csv_prefix=csv_prefix, json_out=json_out, live=live, max_blocking=max_blocking, max_p99_ms=max_p99_ms,
                     fail_on_violation=fail_on_violation)
        return
    if max_p99_ms is not None and not realtime:
        raise UserError("--max-p99-ms: latency is measured on the wall clock; add --realtime (or --target)")
    for option, given in (("--rate", rate), ("--for", run_for), ("--calls", calls), ("--unit", units),
                          ("--prefix", prefix != "ipo"), ("--mqtt-version", mqtt_version != "auto"),
                          ("--tls-ca", tls_ca), ("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if given:
            raise UserError(f"{option}: for external mode; add --target")
    if cluster is not None and workers == 1:
        workers = 2
    loaded = _load(file, planning=workers > 1)
    if loaded.scenario.replay and workers > 1:
        raise UserError("--workers: a replay runs in one process; give --workers 1")
    if workers > 1:
        from emulator.licensing.issuer_secret import load_issuer_secret
        from emulator.scenario.shards import ClusterError, run_in_shards

        try:
            from emulator.scenario.live_console import LiveConsole

            result = run_in_shards(loaded, workers, secret=load_issuer_secret().value, seed=seed, realtime=realtime,
                                   speed=speed, cluster=cluster, timeline=html_out is not None,
                                   console=LiveConsole(sys.stderr) if live and cluster is None else None)
        except ClusterError as exc:
            raise UserError(str(exc)) from None
    else:
        from emulator.scenario.live_console import LiveConsole
        from emulator.scenario.runner import ScenarioRunner

        options = RunOptions(seed=seed, handle_signals=True, realtime=realtime, speed=speed,
                             console=LiveConsole(sys.stderr) if live else None, timeline=html_out is not None,
                             pool_samples=csv_prefix is not None)
        result = asyncio.run(ScenarioRunner(loaded, options).run())
    data = result.data
    data["gates"] = judge_gates(data["traffic"], data.get("admission_latency"), "admission latency",
                                max_blocking=max_blocking, max_p99_ms=max_p99_ms)
    gates = data["gates"]["failed"]
    if csv_prefix is not None:
        from emulator.scenario.csv_report import write_csv

        write_csv_files(write_csv, csv_prefix, data)
    if report is not None:
        _write_atomically(report, json.dumps({k: v for k, v in data.items() if k != "samples"}, indent=2,
                                             default=str) + "\n")
    if html_out is not None:
        write_html_report(html_out, data, title=data["scenario"], kind="scenario")
    if json_out:
        print_json({k: v for k, v in data.items() if k != "samples"})
    else:
        render(result, console())
    _tell_about_development_secrets(loaded)
    exit_for(result, allow_violations=not fail_on_violation)
    if gates:
        note(f"{len(gates)} gate{'s' if len(gates) > 1 else ''} failed: " + "; ".join(gates))
        raise typer.Exit(EXIT_GATE_FAILED)

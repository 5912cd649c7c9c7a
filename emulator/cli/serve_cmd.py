"""`ipo-emu serve`: units on the wall clock, commanded and watched over MQTT (docs/mqtt.md)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from emulator.cli.output import UserError, console, note
from emulator.cli.scenario_cmd import (
    EXIT_FELL_BEHIND,
    _load,
    _tell_about_development_secrets,
    _use_feature_key,
    _writable,
    _write_atomically,
)
from emulator.scenario.schema import parse_duration

app = typer.Typer(add_completion=False)


@app.command("serve")
def serve(
    config: Annotated[Path, typer.Argument(help="Scenario file, or a file of units (name and duration optional), "
                                                "or one unit's configuration.")],
    mqtt: Annotated[str | None, typer.Option("--mqtt", help="Broker: mqtt://[user:pass@]host:port or mqtts://... "
                                             "(default: an embedded broker on 127.0.0.1, URL printed first).")] = None,
    tls_ca: Annotated[Path | None, typer.Option("--tls-ca", help="mqtts: CA certificate file.")] = None,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="mqtts: client certificate file.")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="mqtts: client key file.")] = None,
    mqtt_version: Annotated[str, typer.Option("--mqtt-version", help="auto (5, else 3.1.1), 5 or 3.1.1.")] = "auto",
    embedded_port: Annotated[int, typer.Option("--embedded-port", min=0, max=65535,
                                               help="Port of the embedded broker (0: any free port).")] = 0,
    prefix: Annotated[str, typer.Option("--prefix", help="Topic prefix: <prefix>/<unit>/...")] = "ipo",
    service_id: Annotated[str | None, typer.Option("--service-id", help="This process's id on the broker "
                                                   "(default: <host>-<config name>).")] = None,
    speed: Annotated[float, typer.Option("--speed", min=0.001, help="Simulated seconds per real second.")] = 1.0,
    max_lag: Annotated[str, typer.Option("--max-lag", help="The clock fell behind (exit 3) when a callback ran "
                                         "later than this, real time.")] = "250ms",
    serve_for: Annotated[str | None, typer.Option("--for", help="Stop after this much simulated time "
                                                  "(e.g. 10m; default: until SIGINT/SIGTERM).")] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="Publish state and events; answer every "
                                            "command but get_state with error read_only.")] = False,
    journal: Annotated[Path | None, typer.Option("--journal", help="Write every event here as JSON lines as it "
                                                 "happens, so none is lost when the broker is away.")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write the final report as JSON here.")] = None,
    state_interval: Annotated[str, typer.Option("--state-interval", help="Publish changed unit state at most this "
                                                "often, real time.")] = "250ms",
    max_commands: Annotated[float, typer.Option("--max-commands", min=0, help="Commands per second per unit "
                                                "before error rate_limited (0: no limit).")] = 2000,
    feature_key: Annotated[list[str] | None, typer.Option(
        "--feature-key", "-k", help="Use this feature key instead of the file's: [UNIT=]URL (repeatable).")] = None,
    sip: Annotated[str | None, typer.Option("--sip", help="Answer SIP on [HOST:]PORT (default host: loopback), UDP "
                                            "and TCP: a listener per SIP trunk on consecutive ports (port 0: free "
                                            "ports, printed).")] = None,
    sip_ring: Annotated[str, typer.Option("--sip-ring", help="SIP calls ring this long (180) before the "
                                          "200.")] = "0s",
    commands_only: Annotated[bool, typer.Option("--commands-only", help="Leave out the configuration's timeline and "
                                                "traffic: only commands change the units (what `ipo-emu load "
                                                "--target` needs to judge every decision).")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the final report as JSON.")] = False,
) -> None:
    """Run units on the wall clock and serve them over MQTT until stopped.

    The first line on standard output is the broker's URL. Topics, payloads and commands:
    docs/mqtt.md. Exit 0 when stopped by SIGINT/SIGTERM or --for, 3 if the clock fell behind.
    """
    from emulator.service.broker_address import BrokerAddressError, parse_broker_url
    from emulator.service.service import ServeOptions
    from emulator.service.topics import TopicError, Topics, check_service_id

    if mqtt_version not in ("auto", "5", "3.1.1"):
        raise UserError(f"--mqtt-version {mqtt_version!r}: auto, 5 or 3.1.1")
    durations = {}
    for option, text in (("--state-interval", state_interval), ("--for", serve_for), ("--max-lag", max_lag),
                         ("--sip-ring", sip_ring)):
        try:
            durations[option] = parse_duration(text) if text is not None else float("inf")
        except ValueError as exc:
            raise UserError(f"{option}: {exc}") from None
    interval, until, max_lag_s = durations["--state-interval"], durations["--for"], durations["--max-lag"]
    if not 0 <= durations["--sip-ring"] <= 300:
        raise UserError("--sip-ring: from 0 to 300 seconds")
    sip_address = _sip_address(sip) if sip is not None else None
    if not 0 < max_lag_s < float("inf"):
        raise UserError("--max-lag: must be more than 0 seconds")
    if not 0.01 <= interval <= 60:
        raise UserError("--state-interval: between 10ms and 60s")
    if not until > 0:
        raise UserError("--for: more than 0 seconds")
    try:
        Topics(prefix)
        if service_id is not None:
            check_service_id(service_id)
        address = parse_broker_url(mqtt, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key) if mqtt else None
    except (TopicError, BrokerAddressError) as exc:
        raise UserError(str(exc)) from None
    if mqtt is None and (tls_ca or tls_cert or tls_key):
        raise UserError("--tls-ca/--tls-cert/--tls-key need --mqtt mqtts://...")
    for path, option in ((journal, "--journal"), (report, "--report")):
        if path is not None and str(path) == "-":
            raise UserError(f"{option}: give a file name")
        _writable(path, option)
    loaded = _load(config, serving=True)
    if commands_only:
        loaded.scenario = loaded.scenario.model_copy(update={"events": [], "traffic": [], "replay": [], "expect": []})
        loaded.histories = []
    for choice in feature_key or []:
        _use_feature_key(loaded, choice)
    options = ServeOptions(speed=speed, prefix=prefix, service_id=service_id, read_only=read_only, journal=journal,
                           state_interval_s=interval, max_commands_per_s=max_commands, mqtt_version=mqtt_version,
                           serve_for_s=until, max_lag_s=max_lag_s, sip=sip_address, sip_ring_s=durations["--sip-ring"])
    result = asyncio.run(_serve(loaded, address, options, embedded_port))
    if report is not None:
        _write_atomically(report, json.dumps(result.data, indent=2, default=str) + "\n")
    if json_out:
        from emulator.cli.output import print_json

        print_json({k: v for k, v in result.data.items() if k != "samples"})
    else:
        from emulator.scenario.report import render

        render(result, console())
    _tell_about_development_secrets(loaded)
    service = result.data["service"]
    counters = service["counters"]
    note(f"served {result.data['simulated_s']:g} s: {counters.get('commands', 0):,} commands, "
         f"{counters.get('events', 0):,} events ({counters.get('events_published', 0):,} published, "
         f"{counters.get('events_dropped', 0):,} dropped)")
    if not result.data["kept_up"]:
        raise typer.Exit(EXIT_FELL_BEHIND)


def _sip_address(text: str) -> tuple[str, int]:
    """HOST:PORT, or a PORT alone on the loopback address."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host = "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535 or not host:
        raise UserError(f"--sip {text}: give HOST:PORT or a port, e.g. 127.0.0.1:5060")
    return host.strip("[]"), int(port)


async def _serve(loaded, address, options, embedded_port: int):
    from emulator.service.embedded_broker import EmbeddedBroker, EmbeddedBrokerError
    from emulator.scenario.runner import EventsWriteError
    from emulator.service.service import Service, UnitOwnedError

    broker = None
    if address is None:
        broker = EmbeddedBroker(embedded_port)
        try:
            address = await broker.start()
        except EmbeddedBrokerError as exc:
            raise UserError(str(exc)) from None
        if options.mqtt_version == "5":
            await broker.stop()
            raise UserError("--mqtt-version 5: the embedded broker speaks MQTT 3.1.1 only; give --mqtt")
        options.mqtt_version = "3.1.1"  # amqtt misreads an MQTT 5 CONNECT instead of refusing it
    print(address.url, flush=True)  # the first line: where to connect
    try:
        service = Service(loaded, address, options, broker_note="embedded" if broker else "")
    except EventsWriteError as exc:
        if broker is not None:
            await broker.stop()
        raise UserError(exc.strerror) from None
    units = ", ".join(u.name for u in loaded.units)
    note(f"serving {len(loaded.units)} unit{'s' if len(loaded.units) > 1 else ''} ({units}) as "
         f"{service.service_id} under {options.prefix}/ on {address.url}"
         f"{' (embedded broker, MQTT 3.1.1)' if broker else ''}; stop with Ctrl-C")
    watcher = asyncio.ensure_future(_say_when_unreachable(service))
    sip_note = asyncio.ensure_future(_say_sip_listeners(service)) if options.sip is not None else None
    try:
        return await service.run()
    except UnitOwnedError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:  # --sip: a port taken
        raise UserError(exc.strerror or str(exc)) from None
    except EventsWriteError as exc:  # --journal: the disk filled (the file ends on a whole line)
        raise UserError(exc.strerror) from None
    finally:
        watcher.cancel()
        if sip_note is not None:
            sip_note.cancel()
        if broker is not None:
            await broker.stop()


async def _say_sip_listeners(service) -> None:
    while service.front_door is None or not service.front_door.listeners:
        await asyncio.sleep(0.05)
    for info, _ in service.front_door.listeners:
        note(f"SIP: unit {info.unit} line {info.trunk} answers on {info.host}:{info.port} (UDP and TCP)")


async def _say_when_unreachable(service) -> None:
    """One line when the broker cannot be reached (the service keeps trying), one when it can."""
    told = False
    while True:
        await asyncio.sleep(1.0)
        link = service.link
        if link is None:
            continue
        if not link.connected.is_set() and link.last_error and not told:
            note(f"broker {service.address.url} unreachable ({link.last_error}); decisions go on, retrying")
            told = True
        elif link.connected.is_set() and told:
            note(f"broker {service.address.url} reachable again")
            told = False

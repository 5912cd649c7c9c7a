"""`ipo-emu watch`: a live terminal view of served units (docs/mqtt.md)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Annotated

import typer

from emulator.cli.output import UserError, console
from emulator.scenario.schema import parse_duration

app = typer.Typer(add_completion=False)


@app.command("watch")
def watch(
    units: Annotated[list[str] | None, typer.Argument(help="Units to show (default: every unit on the broker).")] = None,
    mqtt: Annotated[str, typer.Option("--mqtt", help="Broker: mqtt://[user:pass@]host:port or mqtts://...")] = (
        "mqtt://127.0.0.1:1883"),
    tls_ca: Annotated[Path | None, typer.Option("--tls-ca", help="mqtts: CA certificate file.")] = None,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="mqtts: client certificate file.")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="mqtts: client key file.")] = None,
    mqtt_version: Annotated[str, typer.Option("--mqtt-version", help="auto, 5 or 3.1.1.")] = "auto",
    prefix: Annotated[str, typer.Option("--prefix", help="Topic prefix the units are served under.")] = "ipo",
    watch_for: Annotated[str | None, typer.Option("--for", help="Stop after this long, real time (e.g. 10s), "
                                                  "and print the last picture.")] = None,
) -> None:
    """Watch served units live: pools against their limits, calls up, refusals by reason over
    the last minute, feature key and grace countdown. Ctrl-C ends it."""
    from emulator.service.broker_address import BrokerAddressError, parse_broker_url
    from emulator.service.topics import TopicError, Topics

    if mqtt_version not in ("auto", "5", "3.1.1"):
        raise UserError(f"--mqtt-version {mqtt_version!r}: auto, 5 or 3.1.1")
    try:
        topics = Topics(prefix)
        address = parse_broker_url(mqtt, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key)
        seconds = parse_duration(watch_for) if watch_for is not None else None
    except (TopicError, BrokerAddressError) as exc:
        raise UserError(str(exc)) from None
    except ValueError as exc:
        raise UserError(f"--for: {exc}") from None
    if seconds is not None and not seconds > 0:
        raise UserError("--for: more than 0 seconds")
    asyncio.run(_watch(topics, address, units or [], mqtt_version, seconds))


async def _watch(topics, address, units: list[str], version: str, seconds: float | None) -> None:
    from rich.live import Live

    from emulator.service.fleet_view import FleetView
    from emulator.service.mqtt_link import MqttLink
    from emulator.service.outbox import Outbox
    from emulator.service.watch_screen import screen

    fleet = FleetView(topics, units)
    if units:
        subscriptions = [t for u in units for t in (topics.status(u), topics.licenses(u), topics.events(u))]
    else:
        subscriptions = topics.all_unit_topics()
    subscriptions.append(topics.all_service_statuses())

    async def on_message(incoming) -> None:
        fleet.feed(incoming.topic, incoming.payload)

    link = MqttLink(address, Outbox(topics, 0.0), client_id=f"ipo-emu-watch-{os.getpid()}",
                    subscriptions=subscriptions, on_message=on_message, version=version)
    out = console()

    def source() -> str:
        if link.connected.is_set():
            return address.url
        return f"{address.url} (not connected{': ' + link.last_error if link.last_error else ''}; retrying)"

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if seconds is not None:
        loop.call_later(seconds, stop.set)
    task = asyncio.ensure_future(link.run())
    try:
        if out.is_terminal:
            with Live(screen(fleet, source()), console=out, refresh_per_second=4, transient=False) as live:
                while not stop.is_set():
                    try:
                        await asyncio.wait_for(stop.wait(), 0.25)
                    except TimeoutError:
                        pass
                    live.update(screen(fleet, source()))
        else:
            await stop.wait()
            out.print(screen(fleet, source()))
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)

"""`ipo-emu dongle serve | list | probe`: a reference dongle, and the keys attached here."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Annotated

import typer

from emulator.cli.output import UserError, console, note, print_json, table
from emulator.licensing import SerialNumberError, normalize_serial
from hardware.dongle.server import DongleBehaviour, PtyDongle, ReferenceDongle, serve_port
from hardware.feature_keys import FeatureKeyAbsentError, FeatureKeyError, open_feature_key
from hardware.feature_keys.serial_key import provisioning_secret

app = typer.Typer(help="Feature-key dongles: serve a reference dongle, list ports, probe a key.",
                  no_args_is_help=True)


@app.command("serve")
def serve(
    serial: Annotated[str, typer.Option("--serial", "-s", help="The serial number this dongle reports.")],
    pty: Annotated[bool, typer.Option("--pty", help="Serve on a new pseudo-terminal; its path is printed first.")] = False,
    port: Annotated[str | None, typer.Option("--port", help="Serve on this port instead (path or pyserial URL).")] = None,
    delay: Annotated[float, typer.Option("--delay", help="Answer this many seconds late.", min=0)] = 0.0,
    plain_id: Annotated[bool, typer.Option("--plain-id", help="Report the serial without proof.")] = False,
    mute: Annotated[bool, typer.Option("--mute", help="Never answer.")] = False,
    garbage: Annotated[bool, typer.Option("--garbage", help="Answer with noise.")] = False,
) -> None:
    """Act as a feature key: answer the dongle protocol until interrupted."""
    try:
        serial = normalize_serial(serial)
    except SerialNumberError as exc:
        raise UserError(str(exc)) from None
    if pty == (port is not None):
        raise UserError("give exactly one of --pty or --port")
    dongle = ReferenceDongle(serial, provisioning_secret(),
                             DongleBehaviour(delay_s=delay, mute=mute, garbage=garbage, plain_id=plain_id))
    if port is not None:
        note(f"dongle {serial} answering on {port} (Ctrl-C to stop)")
        try:
            serve_port(port, dongle)
        except KeyboardInterrupt:
            return
        except OSError as exc:
            raise UserError(f"--port {port}: {exc}") from None
        return
    asyncio.run(_serve_pty(dongle))


async def _serve_pty(dongle: ReferenceDongle) -> None:
    served = PtyDongle(dongle).start()
    print(served.path, flush=True)
    note(f"dongle {dongle.serial} answering on {served.path} (Ctrl-C to stop)")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        served.close()


@app.command("list")
def list_ports_cmd(json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Serial ports here, with USB VID:PID and USB serial numbers."""
    from serial.tools import list_ports

    rows = [{"device": p.device, "vid_pid": f"{p.vid:04x}:{p.pid:04x}" if p.vid is not None else None,
             "usb_serial": p.serial_number, "description": p.description} for p in list_ports.comports()]
    if json_out:
        print_json(rows)
        return
    if not rows:
        note("no serial ports found")
    console().print(table("Serial ports", ["device", "VID:PID", "USB serial", "description"],
                          [[r["device"], r["vid_pid"], r["usb_serial"], r["description"]] for r in rows]))


@app.command("probe")
def probe(
    port: Annotated[str, typer.Argument(help="A device path, pyserial URL, or feature-key URL (serial:…, usb:…).")],
    timeout: Annotated[float, typer.Option("--timeout", help="Give up after this many seconds.", min=0.05,
                                           max=60)] = 2.0,
    plain_id: Annotated[bool, typer.Option("--plain-id", help="Accept a device that reports without proof.")] = False,
) -> None:
    """Read and verify a dongle; print its serial. Exit 1 when nothing valid answers."""
    url = port if ":" in port.split("/", 1)[0] else f"serial://{port}"
    sep = "&" if "?" in url else "?"
    url += f"{sep}timeout={timeout:g}&backoff_max=0" + ("&plain_id=1" if plain_id else "")
    try:
        key = open_feature_key(url)
    except FeatureKeyError as exc:
        raise UserError(str(exc)) from None

    async def read() -> str:
        async with key:
            return await key.read_serial()

    try:
        serial = asyncio.run(read())
    except FeatureKeyAbsentError as exc:
        print(f"ipo-emu: no dongle: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    except FeatureKeyError as exc:
        print(f"ipo-emu: invalid dongle: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    print(serial)

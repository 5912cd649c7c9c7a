"""`ipo-emu smdr listen`: receive units' SMDR feeds, as a call logger would."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from emulator.cli.output import UserError, note
from emulator.scenario.schema import parse_duration
from emulator.smdr.record import SmdrLineError, SmdrRecord

app = typer.Typer(add_completion=False, help="SMDR call records: receive a unit's live feed.", no_args_is_help=True)


@app.command("listen")
def listen(
    port: Annotated[int, typer.Argument(help="TCP port to listen on (0: any free port, printed).", min=0,
                                        max=65535)],
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Append the records to this file "
                                                "(default: print them).")] = None,
    count: Annotated[int | None, typer.Option("--count", help="Stop after this many records.", min=1)] = None,
    for_: Annotated[str | None, typer.Option("--for", help="Stop after this long, e.g. 90s, 1h.")] = None,
) -> None:
    """Receive SMDR records from units (their `smdr: {host, port}`) and print or store them.
    Lines that are not records are reported on stderr with their line number, and kept."""
    try:
        limit_s = parse_duration(for_) if for_ is not None else None
    except ValueError as exc:
        raise UserError(f"--for: {exc}") from None
    if limit_s is not None and limit_s <= 0:
        raise UserError("--for: must be more than 0 seconds")
    try:
        sink = open(output, "ab") if output is not None else None  # noqa: SIM115 - closed below
    except OSError as exc:
        raise UserError(f"--output {output}: cannot open: {exc.strerror}") from None
    try:
        records, malformed = asyncio.run(_listen(host, port, sink, count, limit_s))
    finally:
        if sink is not None:
            sink.close()
    note(f"received {records:,} records" + (f" and {malformed:,} lines that are not records" if malformed else ""))


async def _listen(host: str, port: int, sink, count: int | None, limit_s: float | None) -> tuple[int, int]:
    from emulator.smdr.receiver import SmdrReceiver

    done = asyncio.Event()
    counts = [0, 0]

    def on_line(peer: str, number: int, raw: bytes, parsed: SmdrRecord | SmdrLineError) -> None:
        if isinstance(parsed, SmdrLineError):
            counts[1] += 1
            note(f"warning: {peer} {str(parsed)[:200]}")
        else:
            counts[0] += 1
        line = raw if raw.endswith(b"\n") else raw + b"\r\n"
        if sink is not None:
            sink.write(line)
            sink.flush()
        else:
            sys.stdout.write(line.decode("utf-8", errors="replace").rstrip("\r\n") + "\n")
            sys.stdout.flush()
        if count is not None and counts[0] >= count:
            done.set()

    receiver = SmdrReceiver(on_line)
    try:
        bound = await receiver.start(host, port)
    except OSError as exc:
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    note(f"listening for SMDR on {host}:{bound}")
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, done.set)
    try:
        await asyncio.wait_for(done.wait(), limit_s)
    except asyncio.TimeoutError:
        pass
    finally:
        await receiver.stop()
    return counts[0], counts[1]

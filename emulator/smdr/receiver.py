"""A small SMDR receiver: what a call logger does with a unit's feed, for `ipo-emu smdr listen`
and the tests. It listens on TCP, reads CR LF lines from any number of units, and hands
each one on with its record (or why it is not one)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from emulator.smdr.record import MAX_LINE_BYTES, SmdrLineError, SmdrRecord, decode_line, parse_record

OnLine = Callable[[str, int, bytes, SmdrRecord | SmdrLineError], None]
"""(peer, line number on that connection, the raw line, its record or the error)."""


class SmdrReceiver:
    def __init__(self, on_line: OnLine) -> None:
        self.on_line = on_line
        self.server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task] = set()
        self.connections = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; returns the port (0 asks for a free one)."""
        self.server = await asyncio.start_server(self._serve, host, port, limit=MAX_LINE_BYTES + 2)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and close every connection (the units see their feed end)."""
        if self.server is not None:
            self.server.close()
        for writer in list(self._connections):
            writer.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self.server is not None:
            with contextlib.suppress(Exception):
                await self.server.wait_closed()
            self.server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._handlers.add(task)
        self._connections.add(writer)
        self.connections += 1
        peer = "{}:{}".format(*writer.get_extra_info("peername")[:2])
        number = 0
        try:
            while True:
                try:
                    raw = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError as exc:
                    if exc.partial:  # the connection ended inside a line
                        number += 1
                        self.on_line(peer, number, exc.partial,
                                     SmdrLineError(number, "the connection ended before the line did"))
                    return
                except asyncio.LimitOverrunError:
                    number += 1
                    await reader.read(MAX_LINE_BYTES + 2)
                    self.on_line(peer, number, b"", SmdrLineError(number, f"longer than {MAX_LINE_BYTES:,} bytes"))
                    continue
                number += 1
                try:
                    parsed: SmdrRecord | SmdrLineError = parse_record(decode_line(raw, number), number)
                except SmdrLineError as exc:
                    parsed = exc
                self.on_line(peer, number, raw, parsed)
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._connections.discard(writer)
            self._handlers.discard(task)
            writer.close()

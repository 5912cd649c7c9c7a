"""A unit's live SMDR feed: a TCP connection to where the call logger listens.

As on the real unit, the emulator connects out, and sends each record as a call ends.
While the destination cannot be reached the records wait in a buffer of `buffer` records
(500 by default, 10 to 3000); once it is full, each new record overwrites the oldest, and
the overwritten ones are counted. Reconnection backs off from 0.1 s to 5 s, jittered.

TCP gives no receipt, and SMDR has no acknowledgement: a record counts as sent once the
kernel took it. A call logger that closes its end is noticed at once (its end of file),
so records made after that wait for it; bytes already written when a receiver dies
without closing are lost with the connection, as with the real unit.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque

import structlog

MIN_BUFFER, MAX_BUFFER, DEFAULT_BUFFER = 10, 3000, 500
CONNECT_TIMEOUT_S = 5.0
BATCH = 256

log = structlog.get_logger("ipo_emu.smdr")


class SmdrLink:
    def __init__(self, unit: str, host: str, port: int, buffer: int = DEFAULT_BUFFER) -> None:
        if not MIN_BUFFER <= buffer <= MAX_BUFFER:
            raise ValueError(f"buffer: {buffer} records; give {MIN_BUFFER} to {MAX_BUFFER}")
        self.unit, self.host, self.port, self.capacity = unit, host, port, buffer
        self.buffer: deque[tuple[int, bytes]] = deque()
        self._seq = 0
        self._in_flight = 0  # the last record handed to the connection
        self.made = self.sent = self.overwritten = 0
        self.connects = self.failures = 0
        self.last_error: str | None = None
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.disconnected.set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    @property
    def destination(self) -> str:
        return f"{self.host}:{self.port}"

    def put(self, line: bytes) -> None:
        """A record to send (the newest overwrites the oldest once the buffer is full)."""
        self.made += 1
        if len(self.buffer) >= self.capacity:
            seq, _ = self.buffer.popleft()
            if seq <= self._in_flight:  # already written, awaiting the kernel: it is sent
                self.sent += 1
            else:
                self.overwritten += 1
        self._seq += 1
        self.buffer.append((self._seq, line))
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def close(self, drain_s: float = 3.0) -> None:
        """Stop, after up to drain_s seconds for what is buffered to go out while connected."""
        if self._task is None:
            return
        deadline = asyncio.get_running_loop().time() + drain_s
        while self.buffer and self.connected.is_set() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    def summary(self) -> dict:
        return {"unit": self.unit, "destination": self.destination, "buffer": self.capacity,
                "records": self.made, "sent": self.sent, "overwritten": self.overwritten,
                "unsent": len(self.buffer), "connects": self.connects, "connection_failures": self.failures,
                "last_error": self.last_error}

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port),
                                                        CONNECT_TIMEOUT_S)
            except (OSError, asyncio.TimeoutError) as exc:
                self._lost(exc, connected=False)
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            self.connects += 1
            self.connected.set()
            self.disconnected.clear()
            log.info("smdr.connected", unit=self.unit, destination=self.destination, waiting=len(self.buffer))
            try:
                await self._send(reader, writer)
            except (OSError, EOFError) as exc:
                self._lost(exc, connected=True)
            finally:
                writer.close()
                with contextlib.suppress(OSError, asyncio.CancelledError):
                    await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _send(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        closed = asyncio.ensure_future(reader.read(1 << 16))  # end of file: the call logger closed its end
        try:
            while True:
                if not self.buffer:
                    self._wake.clear()
                    wake = asyncio.ensure_future(self._wake.wait())
                    await asyncio.wait((wake, closed), return_when=asyncio.FIRST_COMPLETED)
                    wake.cancel()
                while closed.done():
                    if not closed.result():
                        raise EOFError("the call logger closed the connection")
                    closed = asyncio.ensure_future(reader.read(1 << 16))  # it said something: not ours to read
                    await asyncio.sleep(0)
                if not self.buffer:
                    continue
                batch = [self.buffer[i] for i in range(min(BATCH, len(self.buffer)))]
                last = self._in_flight = batch[-1][0]
                writer.write(b"".join(line for _, line in batch))
                await writer.drain()
                while self.buffer and self.buffer[0][0] <= last:  # some may have gone out of the buffer meanwhile
                    self.buffer.popleft()
                    self.sent += 1
        finally:
            closed.cancel()

    def _lost(self, exc: BaseException, *, connected: bool) -> None:
        self.failures += 1
        self.last_error = str(exc) or type(exc).__name__
        self.connected.clear()
        self.disconnected.set()
        if connected:
            log.warning("smdr.disconnected", unit=self.unit, destination=self.destination, error=self.last_error,
                        waiting=len(self.buffer))

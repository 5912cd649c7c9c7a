"""Events encoded in batches, in this process or in a helper process.

A batch is the events of one unit as they happened, numbered from its first seq. Encoding
is where the time goes when events are published (a dict and its JSON per event), so the
service hands batches to a helper process (`BatchEncoder`) and the decisions keep a core to
themselves. The helper is this module run as a program: it reads length-prefixed pickles of
batches on its standard input and answers with their JSON, in order. Everything on the
service's side runs in its event loop (no threads, which would contend for the GIL). When
the helper is not there, or dies, the same function runs in place. It ends when its input
closes, so it never outlives the service.

    python -m emulator.telemetry.event_batches     # the helper (started by the service)
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import pickle
import signal
import sys

import orjson

from emulator.telemetry.events import event_record

_LENGTH = 8


def encode_lines(start: float, items: list[tuple]) -> bytes:
    """JSON lines (docs/events.md) of events as given to an EventsFile: Event tuples, or
    (seq, Event) pairs when numbered (the service journal)."""
    dumps, option = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    return b"".join(dumps(event_record(item, start) if len(item) == 4 else event_record(item[1], start, item[0]),
                          default=str, option=option) for item in items)


def encode_batch(unit: str, start: float, first_seq: int, events: list[tuple]) -> bytes:
    """The EventsBatch payload of docs/mqtt.md, {"unit", "first_seq", "events": [records]},
    from a unit's events (at, unit, name, fields) numbered from first_seq."""
    records = [event_record(event, start, seq) for seq, event in enumerate(events, first_seq)]
    return orjson.dumps({"unit": unit, "first_seq": first_seq if events else 0, "events": records}, default=str)


def encode_pickled(unit: str, start: float, first_seq: int, blobs: list[bytes]) -> bytes:
    """encode_batch of events given as pickled lists (the outbox keeps them so)."""
    events = [event for blob in blobs for event in pickle.loads(blob)]
    return encode_batch(unit, start, first_seq, events)


class BatchEncoder:
    """encode_pickled for many batches at once, in the helper process when there is one."""

    def __init__(self, *, helper: bool = True) -> None:
        self.helper = helper
        self.failures = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._lock: asyncio.Lock | None = None

    async def start(self) -> None:
        """Start the helper (when asked for one): before the first batch, so none waits."""
        if not self.helper or self._proc is not None:
            return
        self._lock = asyncio.Lock()
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "emulator.telemetry.event_batches", stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        except OSError:
            self.failures += 1
            self.helper = False

    @property
    def in_helper(self) -> bool:
        return self._proc is not None

    async def encode_all(self, batches: list[tuple[str, float, int, list[bytes]]]) -> list[bytes]:
        """encode_pickled(unit, start, first_seq, pickled lists of events) of each batch, in order."""
        proc = self._proc
        if proc is not None and batches:
            async with self._lock:
                try:
                    request = pickle.dumps(batches, protocol=pickle.HIGHEST_PROTOCOL)
                    proc.stdin.write(len(request).to_bytes(_LENGTH, "little"))
                    proc.stdin.write(request)
                    await proc.stdin.drain()
                    size = int.from_bytes(await proc.stdout.readexactly(_LENGTH), "little")
                    return pickle.loads(await proc.stdout.readexactly(size))
                except (OSError, EOFError, asyncio.IncompleteReadError, pickle.PickleError):
                    self.failures += 1
                    self.close()
        return [encode_pickled(*batch) for batch in batches]

    async def aclose(self) -> None:
        """End the helper and wait for it (at most 2 s), while the event loop still runs."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.returncode is None:
            proc.stdin.close()  # the helper ends at the end of its input
            try:
                await asyncio.wait_for(proc.wait(), 2.0)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        proc._transport.close()  # noqa: SLF001 - asyncio keeps the pipes' transport until then

    def close(self) -> None:
        """From a failure: kill the helper (aclose waits for it)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()  # the helper ends at the end of its input
            try:
                proc.kill()
            except ProcessLookupError:
                pass


def _serve(stdin=None, stdout=None) -> None:
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    while True:
        batches = _read_frame(stdin)
        if batches is None:
            return
        answer = pickle.dumps([encode_pickled(*batch) for batch in batches], protocol=pickle.HIGHEST_PROTOCOL)
        stdout.write(len(answer).to_bytes(_LENGTH, "little"))
        stdout.write(answer)
        stdout.flush()


def _read_frame(stdin):
    head = stdin.read(_LENGTH)
    if len(head) < _LENGTH:
        return None
    return pickle.loads(stdin.read(int.from_bytes(head, "little")))


def _write_file(fd: int, start: float, whole: int) -> int:
    """The file writer: encode what comes in and append it to fd, whole lines only. On a
    failed write the file is cut back to its last whole line and the cause is the one line
    written to standard output (exit 1); at the end of its input, "ok" (exit 0)."""
    stdin = sys.stdin.buffer  # whole: bytes of whole lines on disk so far
    while True:
        items = _read_frame(stdin)
        if items is None:
            os.close(fd)
            sys.stdout.write("ok\n")
            return 0
        data = encode_lines(start, items)
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view):]
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, whole)
            sys.stdout.write(f"{exc.errno} {exc.strerror}\n")
            return 1
        whole += len(data)


if __name__ == "__main__":
    # Ctrl-C (and a service manager's SIGTERM) reach the whole process group: the service
    # decides when this ends, by closing its input, so they must not end it first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if len(sys.argv) == 5 and sys.argv[1] == "--write":
        gc.disable()  # it makes no cycles: collecting after every few hundred tuples unpickled is waste
        sys.exit(_write_file(int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])))
    _serve()

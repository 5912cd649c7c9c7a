"""--events through the writer process: the same bytes as written in place, and the same
guarantees when writing fails (one cause, the file cut back to its last whole line)."""

from __future__ import annotations

import json
import resource
import signal
import subprocess

import pytest

from emulator.scenario.runner import EventsFile, EventsWriteError
from emulator.telemetry.events import Event

START = 1_800_000_000.0


def events(n: int) -> list[Event]:
    out = []
    for i in range(n):
        if i % 3 == 2:
            out.append(Event(START + i, "office", "call.ended", (f"c{i - 2}",)))
        elif i % 3 == 1:
            out.append(Event(START + i, "office", "call.rejected",
                             (f"c{i}", "sip1", "500", "license_exhausted", "sip_trunk_channels", True)))
        else:
            out.append(Event(START + i, "office", "pool.limit_changed", {"pool": "sip_trunk_channels", "licensed": i}))
    return out


def write(path, items, *, writer: bool) -> EventsFile:
    file = EventsFile(path, START, writer_process=writer)
    for item in items:
        file.add([item])
    file.close()
    return file


def test_the_writer_process_writes_exactly_what_is_written_in_place(tmp_path):
    items = events(3 * EventsFile.BATCH + 17)
    write(tmp_path / "here.jsonl", items, writer=False)
    file = write(tmp_path / "writer.jsonl", items, writer=True)
    assert (tmp_path / "writer.jsonl").read_bytes() == (tmp_path / "here.jsonl").read_bytes()
    assert file.lines == len(items)
    numbered = [(seq, event) for seq, event in enumerate(items, 1)]
    write(tmp_path / "journal.jsonl", numbered, writer=True)
    lines = (tmp_path / "journal.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["seq"] for line in lines] == list(range(1, len(items) + 1))


def test_a_full_disk_is_one_cause_and_ends_the_run(tmp_path):
    file = EventsFile(tmp_path / "x.jsonl", START)
    file._fd, file.path = __import__("os").open("/dev/full", __import__("os").O_WRONLY), "/dev/full"  # noqa: SLF001
    with pytest.raises(EventsWriteError, match="--events /dev/full: cannot write: No space left on device"):
        for item in events(4 * EventsFile.BATCH):
            file.add([item])
        file.close()


def test_a_file_too_large_is_cut_back_to_its_last_whole_line(tmp_path, monkeypatch):
    """The writer's process may write a batch and a half (RLIMIT_FSIZE): the file keeps the
    first batch, whole, and not a byte of the second."""
    items = events(6 * EventsFile.BATCH)
    write(tmp_path / "one-batch.jsonl", items[:EventsFile.BATCH], writer=False)
    one_batch = (tmp_path / "one-batch.jsonl").read_bytes()
    limit = len(one_batch) * 3 // 2
    real = subprocess.Popen

    def limited(*args, **kwargs):
        def child() -> None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a signal
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        return real(*args, preexec_fn=child, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", limited)
    path = tmp_path / "big.jsonl"
    with pytest.raises(EventsWriteError, match="cannot write: File too large"):
        write(path, items, writer=True)
    assert path.read_bytes() == one_batch


def test_a_writer_that_dies_is_said(tmp_path):
    file = EventsFile(tmp_path / "x.jsonl", START)
    items = events(3 * EventsFile.BATCH)
    for item in items[:EventsFile.BATCH]:
        file.add([item])
    file._writer.kill()  # noqa: SLF001
    file._writer.wait()  # noqa: SLF001
    with pytest.raises(EventsWriteError, match="the writer process ended"):
        for item in items[EventsFile.BATCH:]:
            file.add([item])
        file.close()

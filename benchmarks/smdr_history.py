"""A synthetic site's SMDR history: what scenarios/smdr/example-site.csv was made with, and
the files the replay benchmark reads.

A business day (or several) of a small office: inbound and outbound calls on line 1 (SIP)
and line 2 (PRI), internal calls, calls to voicemail, lost calls, and calls of two segments
(answered, then sent on to voicemail or to a colleague). Records are written in the order
their segments end, as a unit writes them, and every record goes through the project's one
writer (emulator/smdr/record.py).

    python benchmarks/smdr_history.py --example                  # rewrites the shipped example
    python benchmarks/smdr_history.py OUT.csv --calls 1000000    # a large file
"""

from __future__ import annotations

import argparse
import heapq
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emulator.smdr.recorder import Channels  # noqa: E402  (lowest free channel numbers, as units number them)
from emulator.smdr.record import (  # noqa: E402
    FIRST_CALL_ID,
    SmdrRecord,
    extension_device,
    format_record,
    header_line,
    trunk_device,
    voicemail_device,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "scenarios" / "smdr" / "example-site.csv"
DAY_START = 1_772_438_400  # 2026/03/02 08:00:00 (UTC, as SMDR times are read)
APPEARANCES = 2
"""Calls an extension takes part in at once, at most."""
KINDS = (("inbound", 45), ("outbound", 25), ("internal", 14), ("voicemail", 6), ("to_voicemail", 5),
         ("transfer", 5))


def history(calls: int, *, extensions: int = 12, calls_per_hour: float = 90.0, seed: int = 2026,
            day_hours: float = 10.0) -> list[tuple[int, SmdrRecord]]:
    """(end time, record) of `calls` calls, in the order they end."""
    rng = random.Random(seed)
    exts = [str(201 + i) for i in range(extensions)]
    kinds, weights = zip(*KINDS, strict=True)
    lines = {1: Channels(), 2: Channels()}
    voicemail = Channels()
    releases: list[tuple[int, int, Channels, int]] = []  # (time, order, channels, channel)
    out: list[tuple[int, SmdrRecord]] = []
    t = float(DAY_START)
    day_end = DAY_START + day_hours * 3600
    order = 0

    busy: dict[str, list[tuple[int, int]]] = {ext: [] for ext in exts}  # each extension's calls

    def free(ext: str, begin: int, end: int) -> bool:
        """Fewer than APPEARANCES calls of the extension overlap [begin, end)."""
        spans = busy[ext] = [(b, e) for b, e in busy[ext] if e > start]
        points = [b for b, e in spans if begin <= b < end] + [begin]
        return all(sum(1 for b, e in spans if b <= p < e) < APPEARANCES for p in points)

    def free_until(now: int) -> None:
        while releases and releases[0][0] <= now:
            _, _, pool, channel = heapq.heappop(releases)
            pool.give(channel)

    def hold(pool: Channels, start: int, end: int) -> int:
        nonlocal order
        channel = pool.take()
        order += 1
        heapq.heappush(releases, (end, order, pool, channel))
        return channel

    for number in range(calls):
        t += rng.expovariate(calls_per_hour / 3600.0)
        if t >= day_end:  # the next business day
            t = DAY_START + (int((t - DAY_START) // 86_400) + 1) * 86_400 + rng.uniform(0, 60)
            day_end = t - (t - DAY_START) % 86_400 + day_hours * 3600
        start = int(t)
        free_until(start)
        call_id = FIRST_CALL_ID + number
        kind = rng.choices(kinds, weights)[0]
        talk = max(1, int(rng.expovariate(1 / 180.0)))
        ring = rng.randint(1, 20)
        held = rng.randint(4, 15)
        talk2 = max(1, int(rng.expovariate(1 / (40.0 if kind == "to_voicemail" else 150.0))))
        end1 = start + ring + talk + (held if kind in ("to_voicemail", "transfer") else 0)
        ext = next((e for e in rng.sample(exts, len(exts)) if free(e, start, end1)), None)
        other = next((e for e in rng.sample(exts, len(exts)) if e != ext and free(e, start, end1 + talk2)), None)
        if ext is None or other is None:  # everybody is on the phone: nobody calls
            continue
        busy[ext].append((start, end1))
        if kind in ("internal", "transfer"):
            busy[other].append((start, end1) if kind == "internal" else (end1, end1 + talk2))
        line = 1 if rng.random() < 0.8 else 2
        cli = f"0{rng.randrange(10**9, 10**10)}"
        common = dict(call_start=start, account="", hold_s=0, park_s=0)
        if kind in ("inbound", "to_voicemail", "transfer"):
            lost = kind == "inbound" and rng.random() < 0.1
            talk1 = 0 if lost else talk
            segments_end = start + ring + talk1
            if kind == "inbound":
                channel = hold(lines[line], start, segments_end)
                device, name = trunk_device(line, channel)
                out.append((segments_end, SmdrRecord(
                    connected_s=talk1, ring_s=ring, caller=cli, direction="I", called_number=ext,
                    dialled_number=ext, is_internal=False, call_id=call_id, continuation=False,
                    party1_device=extension_device(ext), party1_name=f"Extn{ext}", party2_device=device,
                    party2_name=name, **common)))
                continue
            end2 = end1 + talk2
            channel = hold(lines[line], start, end2)
            device, name = trunk_device(line, channel)
            out.append((end1, SmdrRecord(
                connected_s=talk, ring_s=ring, caller=cli, direction="I", called_number=ext, dialled_number=ext,
                is_internal=False, call_id=call_id, continuation=True, party1_device=extension_device(ext),
                party1_name=f"Extn{ext}", party2_device=device, party2_name=name,
                **{**common, "hold_s": held})))
            if kind == "to_voicemail":
                vm_device, vm_name = voicemail_device(hold(voicemail, end1, end2))
            else:
                vm_device, vm_name = extension_device(other), f"Extn{other}"
            out.append((end2, SmdrRecord(
                connected_s=talk2, ring_s=0, caller=cli, direction="I", called_number=ext, dialled_number=ext,
                is_internal=False, call_id=call_id, continuation=False, party1_device=vm_device,
                party1_name=vm_name, party2_device=device, party2_name=name, **common)))
        elif kind == "outbound":
            end = start + ring + talk
            channel = hold(lines[line], start, end)
            device, name = trunk_device(line, channel)
            dialled = f"9{cli}"
            out.append((end, SmdrRecord(
                connected_s=talk, ring_s=ring, caller=ext, direction="O", called_number=dialled,
                dialled_number=dialled, is_internal=False, call_id=call_id, continuation=False,
                party1_device=extension_device(ext), party1_name=f"Extn{ext}", party2_device=device,
                party2_name=name, **common)))
        elif kind == "internal":
            short = talk
            out.append((start + ring + short, SmdrRecord(
                connected_s=short, ring_s=ring, caller=ext, direction="O", called_number=other,
                dialled_number=other, is_internal=True, call_id=call_id, continuation=False,
                party1_device=extension_device(ext), party1_name=f"Extn{ext}", party2_device=extension_device(other),
                party2_name=f"Extn{other}", **common)))
        else:  # a user listens to their messages
            listen = min(talk, end1 - start)
            vm_device, vm_name = voicemail_device(hold(voicemail, start, start + listen))
            out.append((start + listen, SmdrRecord(
                connected_s=listen, ring_s=0, caller=ext, direction="O", called_number="VoiceMail",
                dialled_number="*17", is_internal=True, call_id=call_id, continuation=False,
                party1_device=extension_device(ext), party1_name=f"Extn{ext}", party2_device=vm_device,
                party2_name=vm_name, **common)))
    out.sort(key=lambda item: (item[0], item[1].call_id, item[1].continuation is False))
    return out


def write(path: Path, records: list[tuple[int, SmdrRecord]], *, header: bool = False,
          stray: tuple[tuple[int, str], ...] = ()) -> None:
    """The records in the order they ended; `stray` lines put in after the given records."""
    strays = dict(stray)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        if header:
            fh.write(header_line())
        for index, (_, record) in enumerate(records):
            fh.write(format_record(record))
            if index in strays:
                fh.write(strays[index])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", type=Path)
    parser.add_argument("--example", action="store_true", help=f"rewrite {EXAMPLE.relative_to(ROOT)}")
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--extensions", type=int, default=12)
    parser.add_argument("--calls-per-hour", type=float, default=90.0)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    if args.example:
        records = history(400, extensions=12, calls_per_hour=90.0, seed=2026, day_hours=10.0)
        # A call logger's export has lines that are not records: a restart notice and a record cut short.
        write(EXAMPLE, records, header=True,
              stray=((120, "*** SMDR link restarted ***\r\n"),
                     (260, "2026/03/02 12:14:09,00:01:3\r\n")))
        print(f"wrote {len(records)} records to {EXAMPLE.relative_to(ROOT)}")
        return
    if args.output is None:
        parser.error("give an output file, or --example")
    records = history(args.calls, extensions=args.extensions, calls_per_hour=args.calls_per_hour, seed=args.seed,
                      day_hours=24.0)
    write(args.output, records)
    print(f"wrote {len(records):,} records to {args.output}")


if __name__ == "__main__":
    main()

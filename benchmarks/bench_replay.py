"""Replay throughput: records per second from an SMDR file to every call's outcome.

Generates a synthetic site's export (benchmarks/smdr_history.py: inbound, outbound,
internal, voicemail and two-segment calls, 60 extensions) and a plan whose SIP licenses
refuse some of its calls, then times, in one process:

- the reference: reading the file with the standard library's csv module and nothing else;
- reading it into calls (emulator/smdr/history.py: every record checked);
- the whole replay as `ipo-emu replay` runs it (read, offer every call to the plan's unit
  on the virtual clock, report).

    python benchmarks/bench_replay.py                  # 1,000,000 records
    python benchmarks/bench_replay.py --records 100000
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.smdr_history import history, write  # noqa: E402
from emulator.scenario.loader import load_scenario  # noqa: E402
from emulator.scenario.runner import ScenarioRunner  # noqa: E402
from emulator.smdr.history import read_history  # noqa: E402

EXTENSIONS = 60


def plan_text(export: Path, sip_licenses: int) -> str:
    users = "\n".join(f'      - {{name: Extn{201 + i}, extension: "{201 + i}", phone: "2420"}}'
                      for i in range(EXTENSIONS))
    return f"""name: bench
units:
  - name: office
    licenses:
      - {{feature: sip_trunk_channels, instances: {sip_licenses}}}
      - {{feature: voicemail_pro, instances: 1}}
      - {{feature: voicemail_pro_additional_ports, instances: 26}}
    voicemail: {{}}
    vcm_modules: [{{type: vcm64}}, {{type: vcm64}}]
    trunks:
      - {{name: sip1, type: sip, channels: 1000}}
      - {{name: pri1, type: pri, channels: 30}}
    users:
{users}
replay:
  - file: {export}
expect:
  - calls: {{outcome: admitted}}
    at_least: 1
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000, help="about this many records")
    parser.add_argument("--sip-licenses", type=int, default=40)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    export = folder / "calls.csv"
    started = time.perf_counter()
    records = history(int(args.records / 1.1), extensions=EXTENSIONS, calls_per_hour=1500.0, seed=7,
                      day_hours=24.0)
    write(export, records)
    (folder / "plan.yaml").write_text(plan_text(export, args.sip_licenses), encoding="utf-8")
    size = export.stat().st_size
    print(f"{len(records):,} records, {size / 1e6:.0f} MB, made in {time.perf_counter() - started:.1f} s")

    started = time.perf_counter()
    with open(export, newline="", encoding="utf-8") as fh:
        rows = sum(1 for _ in csv.reader(fh))
    reference = time.perf_counter() - started
    started = time.perf_counter()
    calls = read_history(export)
    reading = time.perf_counter() - started
    started = time.perf_counter()
    loaded = load_scenario(folder / "plan.yaml")
    result = asyncio.run(ScenarioRunner(loaded).run())
    whole = time.perf_counter() - started
    replay = result.data["replay"][0]
    assert rows == len(records) == calls.records == replay["records"]
    print(f"reference, csv.reader only: {rows / reference:12,.0f} records/s ({reference:.2f} s)")
    print(f"reading into calls:         {calls.records / reading:12,.0f} records/s ({reading:.2f} s), "
          f"{reading / reference:.2f}x the reference")
    print(f"whole replay:               {replay['records'] / whole:12,.0f} records/s ({whole:.2f} s), "
          f"{whole / reference:.2f}x the reference; {replay['calls']:,} calls, {replay['refused']:,} refused, "
          f"{result.data['callbacks']:,} clock callbacks")


if __name__ == "__main__":
    main()

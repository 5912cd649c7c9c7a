"""Running the real SIPp (Debian package sip-tester) against a served trunk, and reading its counts."""

from __future__ import annotations

import asyncio
import csv
import shutil
import socket
from pathlib import Path

SCENARIO = Path(__file__).resolve().parent / "sipp" / "uac-busy-is-an-answer.xml"
POISSON = SCENARIO.with_name("uac-poisson.xml")


def sipp_binary() -> str:
    path = shutil.which("sipp")
    if path is None:
        raise RuntimeError("SIPp is not installed: apt-get install -y sip-tester (.ci/run does)")
    return path


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def run_sipp(port: int, folder: Path, *args: str, timeout_s: float = 90.0,
                   scenario: Path = SCENARIO) -> tuple[int, dict[str, int]]:
    """(exit code, message counts of its last -trace_counts line, e.g. {"5_200_Recv": 4})."""
    folder.mkdir(parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_exec(
        sipp_binary(), f"127.0.0.1:{port}", "-sf", str(scenario), "-s", "500", "-i", "127.0.0.1",
        "-p", str(free_udp_port()), "-nostdin", "-trace_counts", "-trace_err", *args,
        cwd=folder, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    files = sorted(folder.glob("*_counts.csv"))
    if not files:
        raise RuntimeError(f"SIPp wrote no counts (exit {proc.returncode}): {err.decode(errors='replace')[-500:]}")
    rows = list(csv.reader(files[-1].read_text().splitlines(), delimiter=";"))
    header, last = rows[0], rows[-1]
    counts = {name: int(value) for name, value in zip(header, last, strict=False) if value.isdigit() and "_" in name}
    return proc.returncode, counts

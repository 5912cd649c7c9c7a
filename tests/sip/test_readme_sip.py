"""The README's SIP front door lines, run as written (ports made free): the served office
answers SIPp's twenty calls with exactly what its 4 SIP Trunk Channel licenses allow."""

from __future__ import annotations

import csv
import json
import re
import select
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from tests.service.brokers import free_port
from tests.sip.sipp import free_udp_port, sipp_binary

ROOT = Path(__file__).resolve().parents[2]


def readme_lines() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## SIP front door\n\n```sh\n(.*?)```", text, re.S).group(1)
    return [shlex.split(line.split("  #")[0]) for line in block.splitlines() if line.strip()]


def test_the_readme_serves_a_sip_line_that_sipp_loads(tmp_path):
    serve_line, sipp_line = readme_lines()
    assert serve_line[:2] == ["ipo-emu", "serve"] and sipp_line[0] == "sipp"
    sip_port = free_udp_port()
    serve_args = [a.replace("127.0.0.1:5060", f"127.0.0.1:{sip_port}").replace("scenarios/", f"{ROOT}/scenarios/")
                  for a in serve_line[1:]]
    serve = subprocess.Popen([sys.executable, "-m", "emulator", *serve_args, "--embedded-port", str(free_port()),
                              "--json"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([serve.stderr], [], [], 20)
        assert ready
        said = b""
        while b"SIP: unit office line sip1 answers on" not in said:
            ready, _, _ = select.select([serve.stderr], [], [], 20)
            assert ready, said
            said += serve.stderr.read1(4096)
        sipp_args = [a.replace("127.0.0.1:5060", f"127.0.0.1:{sip_port}").replace("5070", str(free_udp_port()))
                     .replace("tests/sip/", f"{ROOT}/tests/sip/") for a in sipp_line[1:]]
        done = subprocess.run([sipp_binary(), *sipp_args, "-nostdin", "-trace_counts", "-timeout", "60"],
                              cwd=tmp_path, capture_output=True, timeout=90)
        assert done.returncode == 0, done.stderr[-500:]
    finally:
        serve.send_signal(signal.SIGINT)
        out, err = serve.communicate(timeout=30)
    assert serve.returncode == 0, err[-800:]
    report = json.loads(out.decode().split("\n", 1)[1])
    (line,) = report["sip"]
    counters = line["counters"]
    rows = list(csv.reader(next(tmp_path.glob("*_counts.csv")).read_text().splitlines(), delimiter=";"))
    counts = dict(zip(rows[0], rows[-1], strict=False))
    assert int(counts["5_200_Recv"]) == counters["admitted"] and int(counts["4_503_Recv"]) == counters["refused_503"]
    assert counters["admitted"] + counters["refused_503"] == 20 and counters["refused_503"] > 0
    sip = next(p for p in report["units"][0]["pools"] if p["pool"] == "sip_trunk_channels")
    assert sip["peak"] == 4 and sip["in_use_at_end"] == 0

"""--cluster: the same shards as --workers, run by a real Dask scheduler and worker processes on
loopback; the totals are those of --workers (and of one process)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emulator.cli import main
from tests.service.brokers import free_port

ROOT = Path(__file__).resolve().parents[2]
FLEET = str(ROOT / "scenarios" / "fleet-of-shops.yaml")


@pytest.fixture
def dask_cluster(tmp_path):
    dask = shutil.which("dask") or str(Path(sys.executable).with_name("dask"))
    port = free_port()
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([dask, "worker", f"tcp://127.0.0.1:{port}", "--nworkers", "2", "--nthreads", "1",
                               "--no-dashboard", "--host", "127.0.0.1"], cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        from distributed import Client

        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(f"tcp://127.0.0.1:{port}", timeout=5) as client:
                    if len(client.scheduler_info()["workers"]) >= 2:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the Dask cluster did not come up"
            time.sleep(0.5)
        yield f"tcp://127.0.0.1:{port}"
    finally:
        for proc in (worker, scheduler):
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_a_dask_cluster_gives_the_totals_of_local_workers(dask_cluster, capsys):
    assert main(["run", FLEET, "--workers", "2", "--json"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert main(["run", FLEET, "--workers", "2", "--cluster", dask_cluster, "--json"]) == 0
    remote = json.loads(capsys.readouterr().out)
    assert remote["units"] == local["units"] and remote["workers"] == local["workers"]
    assert [(t["attempts"], t["admitted"], t["rejected"]) for t in remote["traffic"]] == [
        (t["attempts"], t["admitted"], t["rejected"]) for t in local["traffic"]]
    assert remote["passed"]


def test_an_unreachable_scheduler_is_one_line(capsys):
    assert main(["run", FLEET, "--cluster", f"tcp://127.0.0.1:{free_port()}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--cluster tcp://127.0.0.1:" in err and "cannot reach the scheduler" in err

"""Every hostile input ends with exit 0, 1 or 2, one line on error and no traceback, within a
time bound and a memory cap (tests/hostile/worker.py runs them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hostile.corpus import cli_cases, scenario_files

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "IPO_EMU_ISSUER_SECRET": "a secret for the hostile-input corpus", "PYTHONUTF8": "1"}


def run_in_worker(cases: list[dict], tmp_path: Path) -> list[dict]:
    cases_file, results_file = tmp_path / "cases.json", tmp_path / "results.json"
    cases_file.write_text(json.dumps(cases))
    # in a folder of its own: a case that writes a file by a relative name writes it there
    env = {**ENV, "IPO_EMU_REGISTRY": str(tmp_path / "registry.sqlite3"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "tests.hostile.worker", str(cases_file), str(results_file)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(results_file.read_text())


def misbehaviour(result: dict) -> str | None:
    """Why a result breaks the rules, or None."""
    code, err = result["code"], result["stderr"]
    if code not in (0, 1, 2):
        return f"exit {code}"
    if "Traceback" in err or "Traceback" in result["stdout"]:
        return "a traceback"
    lines = [line for line in err.splitlines() if line.strip()]
    if code == 2 and (len(lines) != 1 or not lines[0].startswith("ipo-emu: error: ")):
        return f"{len(lines)} lines on stderr: {err[:300]!r}"
    if code == 1 and len(lines) > 1:
        return f"{len(lines)} lines on stderr: {err[:300]!r}"
    if result["seconds"] > 20:
        return f"took {result['seconds']:.1f} s"
    return None


def test_the_scenario_corpus(tmp_path):
    files = scenario_files(tmp_path)
    assert len(files) >= 150
    results = run_in_worker([{"argv": ["run", path, "--no-progress"]} for _, path in files], tmp_path)
    bad = [f"{what}: {why}" for (what, _), result in zip(files, results, strict=True)
           if (why := misbehaviour(result))]
    assert not bad, "\n".join(bad)
    base = results[0]
    assert base["code"] == 0, base["stderr"]  # the unspoilt base scenario runs
    refused = sum(r["code"] == 2 for r in results)
    assert refused >= 140  # nearly every case is invalid input, refused with one line


def test_the_cli_corpus(tmp_path):
    scenario = tmp_path / "ok.yaml"
    scenario.write_text("name: ok\nduration: 1m\nunits: [{name: u}]\nexpect: [{calls: {outcome: admitted}, equals: 0}]\n")
    cases = cli_cases(tmp_path, str(scenario))
    assert len(cases) >= 100
    results = run_in_worker(cases, tmp_path)
    bad = [f"{' '.join(r['argv'])[:100]}: {why}" for r in results if (why := misbehaviour(r))]
    assert not bad, "\n".join(bad)
    assert Path("/dev/full").is_char_device()  # never replaced by a rename
    assert not (tmp_path / "typo.sqlite3").exists()  # listing a registry creates nothing


@pytest.mark.parametrize("case", ["deep nesting", "alias bomb", "over the size limit"])
def test_resource_attacks_are_refused_by_name(tmp_path, case):
    from tests.hostile.corpus import scenario_texts

    texts = dict(scenario_texts())
    path = tmp_path / "s.yaml"
    path.write_bytes(texts[case])
    [result] = run_in_worker([{"argv": ["validate", str(path)]}], tmp_path)
    assert result["code"] == 2 and result["seconds"] < 10
    assert any(word in result["stderr"] for word in ("nest", "expands", "bytes"))

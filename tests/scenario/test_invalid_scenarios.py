"""A corpus of invalid scenario files: each gives one line naming the problem, exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emulator.cli import main

CORPUS = sorted((Path(__file__).parent / "invalid").glob("*.yaml"))


def expected_message(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} must start with '# expect: <text>'"
    return first.removeprefix("# expect: ")


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 20


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
@pytest.mark.parametrize("command", ["validate", "run"])
def test_invalid_scenario_is_one_clear_line_and_exit_2(path, command, capsys):
    code = main([command, str(path)])
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith(f"ipo-emu: error: {path.name}"), err
    assert expected_message(path) in err, err
    assert "Traceback" not in err and out == ""


def test_errors_carry_the_yaml_line():
    path = next(p for p in CORPUS if p.stem == "unknown-phone-model")
    code = main(["validate", str(path)])
    assert code == 2
    # the phone of users[3] is on line 14 of the file (the expect comment is line 1)
    lines = path.read_text().splitlines()
    assert "9999" in lines[13]


def test_the_line_number_is_reported(capsys):
    path = next(p for p in CORPUS if p.stem == "unknown-phone-model")
    main(["validate", str(path)])
    err = capsys.readouterr().err
    assert err.startswith(f"ipo-emu: error: {path.name}:14: units[0].users[3].phone")


def test_a_missing_file(capsys):
    assert main(["run", "/nonexistent/scenario.yaml"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_no_traceback_from_a_real_process():
    path = next(p for p in CORPUS if p.stem == "yaml-syntax-error")
    proc = subprocess.run([sys.executable, "-m", "emulator", "run", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr

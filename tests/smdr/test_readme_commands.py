"""The README's SMDR commands run as written (all but `smdr listen`, which waits for units:
tests/smdr/test_live_feed.py runs it)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from emulator.cli import main
from emulator.smdr.history import read_history

ROOT = Path(__file__).resolve().parents[2]


def readme_block(heading: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(rf"## {re.escape(heading)}\n\n```sh\n(.*?)```", text, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def test_the_smdr_lines_of_the_readme_run(tmp_path, monkeypatch, capsys):
    lines = readme_block("Call records (SMDR)")
    assert [shlex.split(line)[:2] for line in lines] == [["ipo-emu", "replay"], ["ipo-emu", "run"],
                                                          ["ipo-emu", "smdr"]]
    monkeypatch.chdir(tmp_path)
    for line in lines[:2]:
        args = [a.replace("scenarios/", f"{ROOT}/scenarios/") for a in shlex.split(line)[1:]]
        code = main(args)
        out, err = capsys.readouterr()
        assert code == 0, (line, err)
        if args[0] == "replay":
            assert "refused" in out and "What would refuse none of the 400 calls" in out
    history = read_history(tmp_path / "calls.csv")
    assert history.calls > 500 and history.malformed == 0

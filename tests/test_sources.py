"""Sources are cited by public titles a user can reach: every tag resolves, docs/sources.md is
generated from the data, no path outside the repository is cited, and the licensing document
is not called "seed" (a word that means the random seed here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from firmware_models import sources

ROOT = Path(__file__).resolve().parents[1]
CITING = sorted([*ROOT.glob("firmware_models/**/*.yaml"), *ROOT.glob("docs/*.md"), *ROOT.glob("scenarios/*.yaml"),
                 ROOT / "README.md", *ROOT.glob("emulator/**/*.py"), *ROOT.glob("hardware/**/*.py"),
                 *ROOT.glob("firmware_models/*.py")])
TAG = re.compile(r"\bS\d{1,2}\b")
RANDOM_SEED = re.compile(r"seed:|--seed|random|same seed|scenario's seed|seed \d|seed \{|\bseeded\b|\.seed\b|"
                         r"seed=|seed\)|seed,|\(seed|seed: int|_seed|seed_|seed \+|seed\]", re.IGNORECASE)


@pytest.mark.parametrize("path", CITING, ids=[str(p.relative_to(ROOT)) for p in CITING])
def test_every_source_tag_resolves_to_a_public_title(path):
    known = sources()
    text = path.read_text(encoding="utf-8")
    unknown = sorted(set(TAG.findall(text)) - set(known))
    assert not unknown, f"{path.name} cites {unknown}, which firmware_models/sources.yaml does not list"


@pytest.mark.parametrize("path", CITING, ids=[str(p.relative_to(ROOT)) for p in CITING])
def test_no_path_outside_the_repository_and_no_seed_for_the_source(path):
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        assert "../shared" not in line and "shared/seed" not in line, f"{path.name}:{number}: {line}"
        if re.search(r"\bseed\b", line, re.IGNORECASE):
            assert RANDOM_SEED.search(line), f"{path.name}:{number}: 'seed' for the source document: {line}"


def test_every_source_has_a_title_and_what_we_take_from_it():
    for tag, source in sources().items():
        assert TAG.fullmatch(tag) and source["title"] and source["covers"], tag


def test_docs_sources_is_generated_from_the_data():
    from emulator.cli.models_cmd import sources_markdown

    assert (ROOT / "docs" / "sources.md").read_text(encoding="utf-8") == sources_markdown(), (
        "docs/sources.md is stale: run ipo-emu models sources --markdown > docs/sources.md")


def test_models_assumptions_names_the_sources_it_cites(capsys):
    import json

    from emulator.cli import main

    assert main(["models", "assumptions", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    cited = {tag: title for e in entries for tag, title in e["sources"].items()}
    assert cited["S20"] == sources()["S20"]["title"]
    assert all(set(TAG.findall(e["reason"])) <= set(e["sources"]) for e in entries)

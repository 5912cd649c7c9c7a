"""`ipo-emu schema` is a schema editors can use: it accepts what `validate` accepts, describes
every property, and offers the names the firmware data knows."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from emulator.cli import main
from emulator.reasons import Reason
from emulator.scenario.loader import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))
INVALID = sorted((ROOT / "tests" / "scenario" / "invalid").glob("*.yaml"))
# Problems a JSON Schema cannot see: references between parts of the file, the network,
# key texts, the release data's rules. The loader reports these; everything else the schema
# must reject as well.
BEYOND_A_SCHEMA = {"duplicate-extension", "event-needs-unit-name", "event-past-the-end", "event-unknown-party",
                   "event-unknown-user", "expectation-unknown-pool", "malformed-license-key",
                   "network-shared-feature-key", "network-without-line-back", "traffic-unknown-party",
                   "trial-not-offered", "yaml-syntax-error"}


class EditorLoader(yaml.SafeLoader):
    """YAML as an editor's language server reads it: dates stay text."""


EditorLoader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("schema") / "scenario.schema.json"
    assert main(["schema", "--output", str(out)]) == 0
    return json.loads(out.read_text(encoding="utf-8"))


def errors(schema: dict, text: str) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [e.message for e in validator.iter_errors(yaml.load(text, Loader=EditorLoader))]


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_is_valid_against_the_schema(schema, path):
    assert errors(schema, path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_the_invalid_corpus_is_refused_by_the_schema_where_a_schema_can_tell(schema, path):
    with pytest.raises(ScenarioError):
        load_scenario(path)
    if path.stem in BEYOND_A_SCHEMA:
        return
    assert errors(schema, path.read_text(encoding="utf-8")), f"{path.name} passes the schema"


SLIPS = """
name: slips
duration: 3600
units:
  - name: office
    release: 6.0
    licenses:
      - {feature: sip_trunk_channels, instances: 4, serial: 12345678}
    trunks: [{name: sip1, type: sip, channels: 4}]
    users:
      - {name: a, extension: 202, phone: analog, login_code: 1234}
traffic:
  - {name: t, from: sip1, to: 202, erlangs: 1, holding: {mean: 180}, start: 60, stop: 30m}
expect:
  - calls: {traffic: t, outcome: admitted}
    at_least: 1
"""


def test_common_yaml_slips_are_accepted_by_the_loader_and_the_schema(schema, tmp_path):
    """`release: 6.0`, `extension: 202` and durations in plain seconds, as people write them."""
    path = tmp_path / "slips.yaml"
    path.write_text(textwrap.dedent(SLIPS), encoding="utf-8")
    loaded = load_scenario(path)
    assert loaded.units[0].release == "6.0" and loaded.units[0].users[0].extension == "202"
    assert loaded.scenario.traffic[0].holding.mean == 180
    assert errors(schema, SLIPS) == []


def test_every_property_has_a_description(schema):
    missing = []

    def walk(node, where):
        if isinstance(node, dict):
            for name, prop in (node.get("properties") or {}).items():
                if "description" not in prop:
                    missing.append(f"{where}.{name}")
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for value in node:
                walk(value, where)

    walk(schema, "")
    assert missing == []


def test_names_from_the_data_are_offered(schema):
    defs = schema["$defs"]
    assert "IP500" in defs["ScenarioUnit"]["properties"]["model"]["enum"]
    assert {"4.2", "6.0"} <= set(defs["ScenarioUnit"]["properties"]["release"]["anyOf"][0]["enum"])
    assert "9620" in defs["UserConfig"]["properties"]["phone"]["enum"]
    assert {"sip_trunk_channels", "ucsb_20"} <= set(defs["LicenseSpec"]["properties"]["feature"]["enum"])
    assert set(defs["Reason"]["enum"]) == {r.value for r in Reason}


def test_a_wrong_name_is_flagged_by_the_schema(schema):
    text = SLIPS.replace("phone: analog", "phone: nokia").replace("release: 6.0", "release: 7.7")
    found = errors(schema, text)
    assert any("nokia" in e for e in found) and any("7.7" in e for e in found)


def test_validate_lists_every_problem_a_line_each(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent("""
        name: bad
        duration: 1h
        units:
          - name: office
            users:
              - {name: a, extension: "202", phone: nokia}
              - {name: b, extension: "203", colour: red}
        traffic:
          - {name: t, from: "203", to: "202", erlangs: -1, holding: {mean: 1m}}
        """), encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3
    assert "users[0].phone" in lines[0] and "users[1].colour" in lines[1] and "traffic[0].erlangs" in lines[2]
    assert all(line.startswith("ipo-emu: error: bad.yaml:") for line in lines)
    assert main(["run", str(path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "and 2 more problems" in line

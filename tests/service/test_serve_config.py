"""What `ipo-emu serve` accepts as its configuration: a scenario, units without a name or
duration, or one unit's mapping."""

from __future__ import annotations

import pytest

from emulator.scenario.loader import SERVE_DEFAULT_DURATION, ScenarioError, load_scenario
from emulator.scenario.schema import parse_duration
from emulator.service.topics import TopicError, Topics, check_prefix, check_service_id


def test_a_plain_unit_configuration_is_served_as_that_unit(tmp_path):
    path = tmp_path / "front-desk.yaml"
    path.write_text("name: desk\nmodel: IP500\nlicenses: [{feature: sip_trunk_channels, instances: 3}]\n"
                    "trunks: [{name: sip1, type: sip, channels: 4}]\n", encoding="utf-8")
    loaded = load_scenario(path, serving=True)
    assert [u.name for u in loaded.units] == ["desk"]
    assert loaded.scenario.name == "front-desk"
    assert loaded.scenario.duration == parse_duration(SERVE_DEFAULT_DURATION)
    with pytest.raises(ScenarioError):  # `run` still wants a whole scenario
        load_scenario(path)


def test_units_without_name_or_duration(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("units: [{name: a, feature_key: 'virtual:1'}, {name: b, feature_key: 'virtual:2'}]\n",
                    encoding="utf-8")
    loaded = load_scenario(path, serving=True)
    assert [u.name for u in loaded.units] == ["a", "b"]


def test_a_bad_unit_configuration_is_one_line_naming_the_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model: IP500\ntrunks: [{name: sip1, type: carrier-pigeon}]\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"units\[0\]\.trunks\[0\]\.type|trunks"):
        load_scenario(path, serving=True)


def test_topic_tree_names():
    topics = Topics("lab/ipo")
    assert topics.status("hq") == "lab/ipo/hq/status"
    assert topics.parse("lab/ipo/hq/cmd/offer_call") == ("hq", "cmd", "offer_call")
    assert topics.parse("lab/ipo/hq/licenses") == ("hq", "licenses", "")
    assert topics.parse("lab/ipo/_service/x/status") is None
    assert topics.parse_service("lab/ipo/_service/x/status") == "x"
    assert topics.parse("other/hq/status") is None
    for bad in ("", "a//b", "a/+", "#", "$SYS", "$share/g/ipo", "x" * 201):
        with pytest.raises(TopicError):
            check_prefix(bad)
    with pytest.raises(TopicError):
        check_service_id("has space")

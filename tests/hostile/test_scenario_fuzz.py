"""A structure-aware fuzzer of scenario files: documents shaped like scenarios, with values
drawn from valid ones, wrong types and hostile numbers. Each must load and run, or be refused
with one line (ScenarioError); nothing else may escape."""

from __future__ import annotations

import asyncio
import copy
import math

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.scenario.loader import ScenarioError, load_scenario
from emulator.scenario.runner import ScenarioRunner

WILD = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                 st.text(max_size=12), st.sampled_from(["1h", "90s", "-5m", "1e308s", "١٠m", "0", ".inf"]),
                 st.lists(st.integers(0, 3), max_size=3))


def maybe(valid: st.SearchStrategy) -> st.SearchStrategy:
    """A valid value; `corrupted` below makes one value of a document anything at all."""
    return valid


DURATION = maybe(st.sampled_from(["30m", "1h", "2h", 600, 3600.5]))
PARTY = maybe(st.sampled_from(["sip1", "201", "202", "500", "voicemail"]))
USERS = st.lists(st.fixed_dictionaries({
    "name": maybe(st.sampled_from(["a", "b", "c", "d"])),
    "extension": maybe(st.sampled_from(["201", "202", "203", 204])),
    "phone": maybe(st.sampled_from(["analog", "9620", "2420", "third_party_sip"])),
}, optional={"call_appearances": maybe(st.integers(1, 10)), "mobility": maybe(st.booleans())}), max_size=4)
UNIT = st.fixed_dictionaries({
    "name": maybe(st.just("office")),
    "licenses": st.lists(st.fixed_dictionaries({
        "feature": maybe(st.sampled_from(["sip_trunk_channels", "softconsole", "voicemail_pro", "ucsb_20"])),
    }, optional={"instances": maybe(st.integers(1, 50)), "trial": maybe(st.booleans()),
                 "issued": maybe(st.sampled_from(["-59d", "0s", "1d"]))}), max_size=3),
    "trunks": st.just([{"name": "sip1", "type": "sip", "channels": 8}]),
    "users": USERS,
}, optional={"vcm_modules": st.just([{"type": "vcm32"}]), "voicemail": maybe(st.just({})),
             "groups": st.lists(st.fixed_dictionaries({"name": st.just("g"), "extension": st.just("500"),
                                                       "members": st.lists(PARTY, max_size=3)}), max_size=1)})
TRAFFIC = st.lists(st.fixed_dictionaries({
    "name": maybe(st.sampled_from(["t1", "t2"])),
    "from": PARTY,
    "to": st.one_of(PARTY, st.lists(PARTY, max_size=3)),
    "erlangs": maybe(st.floats(0.1, 3)),
    "holding": st.fixed_dictionaries({"mean": maybe(st.sampled_from(["1m", "3m", 120]))}),
}, optional={"answer_after": maybe(st.sampled_from(["5s", 0])), "max_calls": maybe(st.integers(1, 100))}), max_size=2)
EVENTS = st.lists(st.fixed_dictionaries({"at": maybe(st.sampled_from(["0s", "1m", "10m"]))}, optional={
    "call": st.fixed_dictionaries({"from": PARTY, "to": PARTY}, optional={"duration": DURATION}),
    "register": PARTY, "pull_feature_key": st.just({}), "insert_feature_key": st.just({}),
}), max_size=3)
SCENARIO = st.fixed_dictionaries({
    "name": maybe(st.just("fuzz")),
    "duration": DURATION,
    "units": st.lists(UNIT, min_size=1, max_size=2),
}, optional={"seed": maybe(st.integers(0, 2**40)), "events": EVENTS, "traffic": TRAFFIC,
             "sample_interval": maybe(st.sampled_from(["1m", "1ms"])),
             "expect": st.just([{"calls": {"outcome": "admitted"}, "at_least": 0}])})


def _plain(value):
    """YAML has no NaN/inf literals in safe_dump's eyes: write them as YAML does."""
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _leaves(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _leaves(value, (*path, i))
    else:
        yield path


def _replace(node, path, value):
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@st.composite
def corrupted(draw):
    """A scenario-shaped document; half of them with one value (any one) made anything at all:
    so that many load and run (the rules under fuzzed configurations) and the rest are refused."""
    document = copy.deepcopy(draw(SCENARIO))  # st.just values are shared between examples
    if draw(st.booleans()):
        leaves = list(_leaves(document))
        if leaves:
            _replace(document, leaves[draw(st.integers(0, len(leaves) - 1))], draw(WILD))
    return document


@settings(max_examples=120, deadline=10_000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(document=corrupted())
def test_fuzzed_scenarios_run_or_are_refused_with_one_line(tmp_path, document):
    path = tmp_path / "fuzz.yaml"
    text = yaml.safe_dump(_plain(document), allow_unicode=True).replace("'.nan'", ".nan").replace(
        "'.inf'", ".inf").replace("'-.inf'", "-.inf")
    path.write_text(text, encoding="utf-8")
    try:
        loaded = load_scenario(path)
    except ScenarioError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    result = asyncio.run(ScenarioRunner(loaded).run())
    assert result.data["simulated_s"] == loaded.scenario.duration

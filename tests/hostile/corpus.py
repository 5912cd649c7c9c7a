"""Hostile input, as an attacker of a license system (or a careless user) would try it.

Scenario files: a valid base scenario with one thing made hostile at a time: non-finite and
absurd numbers in every numeric field, wrong types, text that is not valid Unicode, digits
that are not ASCII, alias bombs, deep nesting, duplicate keys, huge and empty files, binary
garbage, and files that are not files. CLI invocations: bad values for every option that
takes one, and files of every wrong kind.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE = """\
name: base
duration: 1h
seed: 3
sample_interval: 1m
units:
  - name: office
    grace_period_s: 2h
    licenses: [{feature: sip_trunk_channels, instances: 4}, {feature: softconsole, trial: true, issued: -5d}]
    vcm_modules: [{type: vcm32}]
    trunks: [{name: sip1, type: sip, channels: 8}]
    users: [{name: a, extension: "201"}, {name: b, extension: "202", phone: "9620"}, {name: c, extension: "203"}]
    groups: [{name: g, extension: "500", members: ["201", "203"]}]
events:
  - {at: 1m, call: {from: sip1, to: "201", duration: 2m, answer_after: 5s}}
  - {at: 2m, register: "202"}
traffic:
  - {name: t, from: sip1, to: [{party: "500", weight: 3}, {party: "202", weight: 1}], erlangs: 1, holding: {mean: 3m}}
  - {name: r, from: sip1, to: "500", ramp: [{at: 0, calls_per_hour: 10}, {at: 30m, calls_per_hour: 20}], holding: {distribution: lognormal, mean: 3m, stdev: 1m}, max_calls: 50}
expect:
  - calls: {outcome: admitted}
    at_least: 0
  - blocking: {traffic: t}
    equals: 0.5
    tolerance: 0.5
"""

# (what, text in BASE, replacement) for each numeric field
NUMERIC_SITES = [
    ("duration", "duration: 1h", "duration: {}"),
    ("seed", "seed: 3", "seed: {}"),
    ("sample_interval", "sample_interval: 1m", "sample_interval: {}"),
    ("grace period", "grace_period_s: 2h", "grace_period_s: {}"),
    ("instances", "instances: 4}", "instances: {}}}"),
    ("issued", "issued: -5d", "issued: {}"),
    ("trunk channels", "channels: 8", "channels: {}"),
    ("event at", "at: 1m, call", "at: {}, call"),
    ("call duration", "duration: 2m, answer", "duration: {}, answer"),
    ("answer after", "answer_after: 5s", "answer_after: {}"),
    ("weight", "weight: 3", "weight: {}"),
    ("erlangs", "erlangs: 1,", "erlangs: {},"),
    ("holding mean", "holding: {mean: 3m}", "holding: {{mean: {}}}"),
    ("ramp rate", "calls_per_hour: 20", "calls_per_hour: {}"),
    ("lognormal stdev", "stdev: 1m", "stdev: {}"),
    ("max calls", "max_calls: 50", "max_calls: {}"),
    ("expectation number", "at_least: 0", "at_least: {}"),
    ("tolerance", "tolerance: 0.5", "tolerance: {}"),
]
BAD_NUMBERS = [".inf", "-.inf", ".nan", "1e308", "-1", "1e-320", "'١٠m'", "9" * 5000, "[1, 2]", "{a: 1}", "true"]


def scenario_texts() -> list[tuple[str, bytes]]:
    cases: list[tuple[str, bytes]] = [("base", BASE.encode())]
    for what, old, new in NUMERIC_SITES:
        assert old in BASE, old
        for bad in BAD_NUMBERS:
            cases.append((f"{what} = {bad[:12]}", BASE.replace(old, new.format(bad), 1).encode()))
    structural = {
        "empty file": b"",
        "only a comment": b"# nothing\n",
        "a list": b"- 1\n- 2\n",
        "a string": b"hello\n",
        "null": b"~\n",
        "binary garbage": bytes(range(256)) * 8,
        "not UTF-8": BASE.encode().replace(b"base", b"\xff\xfe"),
        "lone surrogate in a name": BASE.replace("name: base", 'name: "\\ud800"').encode(),
        "lone surrogate in a user": BASE.replace("name: a,", 'name: "\\udfff",').encode(),
        "nul byte": BASE.replace("name: base", 'name: "a\\0b"').encode(),
        "duplicate key": BASE.replace("duration: 1h", "duration: 1h\nduration: 100000d").encode(),
        "duplicate unit key": BASE.replace("    grace_period_s: 2h", "    grace_period_s: 2h\n    grace_period_s: 1h").encode(),
        "alias bomb": ("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
                                 f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
                                 f"*{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(9))
                       + BASE).encode(),
        "deep nesting": ("name: " + "[" * 10_000 + "]" * 10_000 + "\n").encode(),
        "deep mapping": ("x: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n").encode(),
        "huge name": BASE.replace("name: base", "name: " + "x" * 2_000_000).encode(),
        "over the size limit": b"# " + b"x" * (9 * 1024 * 1024) + b"\n",
        "many units": (BASE.split("units:")[0] + "units:\n" + "".join(
            f"  - {{name: u{i}, feature_key: 'virtual:{10000000 + i}'}}\n" for i in range(1500))).encode(),
        "tab indentation": BASE.replace("  - name: office", "\t- name: office").encode(),
        "unclosed bracket": BASE.replace("vcm_modules: [{type: vcm32}]", "vcm_modules: [{type: vcm32}").encode(),
        "python tag": BASE.replace("name: base", "name: !!python/object/apply:os.system ['true']").encode(),
        "binary tag": BASE.replace("name: base", "name: !!binary aGVsbG8=").encode(),
        "date as name": BASE.replace("name: base", "name: 2026-01-01").encode(),
        "start far future": BASE.replace("seed: 3", "seed: 3\nstart: 9999-12-31T23:59:59Z").encode(),
        "start far past": BASE.replace("seed: 3", "seed: 3\nstart: 0001-01-01T00:00:00Z").encode(),
        "start not a date": BASE.replace("seed: 3", "seed: 3\nstart: tomorrow").encode(),
        "unit is a string": BASE.replace("  - name: office", "  - office\n  - name: office").encode(),
        "users is a mapping": BASE.replace('users: [{name: a, extension: "201"}, {name: b, extension: "202", phone: "9620"}, {name: c, extension: "203"}]', "users: {a: 1}").encode(),
        "extension with letters": BASE.replace('extension: "201"', 'extension: "2O1"').encode(),
        "extension as float": BASE.replace('extension: "201"', "extension: 201.5").encode(),
        "extension negative": BASE.replace('extension: "201"', "extension: -201").encode(),
        "unicode extension digits": BASE.replace('extension: "201"', 'extension: "٢٠١"').encode(),
        "feature key garbage": BASE.replace("    grace_period_s: 2h", "    feature_key: '\x07\x08'\n    grace_period_s: 2h").encode(),
        "feature key unknown scheme": BASE.replace("    grace_period_s: 2h", "    feature_key: 'gopher://x'\n    grace_period_s: 2h").encode(),
        "feature key FIFO path": BASE.replace("    grace_period_s: 2h", "    feature_key: 'serial:///dev/null?timeout=0.1'\n    grace_period_s: 2h").encode(),
        "license key garbage": BASE.replace("{feature: sip_trunk_channels, instances: 4}", "'not a key at all'").encode(),
        "license key huge": BASE.replace("{feature: sip_trunk_channels, instances: 4}", "'" + "A" * 100_000 + "'").encode(),
        "license feature unknown": BASE.replace("feature: sip_trunk_channels", "feature: warp_drive").encode(),
        "license 65535 instances": BASE.replace("instances: 4}", "instances: 65535}").encode(),
        "license 65536 instances": BASE.replace("instances: 4}", "instances: 65536}").encode(),
        "second trial": BASE.replace("{feature: softconsole, trial: true, issued: -5d}", "{feature: softconsole, trial: true}, {feature: softconsole, trial: true}").encode(),
        "serial too long": BASE.replace("{feature: sip_trunk_channels, instances: 4}", "{feature: sip_trunk_channels, serial: '" + "9" * 500 + "'}").encode(),
        "serial letters": BASE.replace("{feature: sip_trunk_channels, instances: 4}", "{feature: sip_trunk_channels, serial: 'ABCDEFGH'}").encode(),
        "validity days huge": BASE.replace("instances: 4}", "instances: 4, validity_days: 100000}").encode(),
        "vcm codec unknown": BASE.replace("{type: vcm32}", "{type: vcm32, codec: opus}").encode(),
        "trunk peer loop": BASE.replace("{name: sip1, type: sip, channels: 8}", "{name: sip1, type: h323_scn, channels: 8, peer: office}").encode(),
        "group member unknown": BASE.replace('members: ["201", "203"]', 'members: ["999"]').encode(),
        "group empty": BASE.replace('members: ["201", "203"]', "members: []").encode(),
        "group calls out": BASE.replace('call: {from: sip1, to: "201"', 'call: {from: "500", to: "201"').encode(),
        "call to itself": BASE.replace('call: {from: sip1, to: "201"', 'call: {from: "201", to: "201"').encode(),
        "call to unknown unit": BASE.replace('to: "201", duration', 'to: "mars/201", duration').encode(),
        "mix weight zero": BASE.replace("weight: 3", "weight: 0").encode(),
        "mix empty": BASE.replace('to: [{party: "500", weight: 3}, {party: "202", weight: 1}]', "to: []").encode(),
        "ramp unordered": BASE.replace("{at: 0, calls_per_hour: 10}, {at: 30m, calls_per_hour: 20}", "{at: 30m, calls_per_hour: 10}, {at: 0, calls_per_hour: 20}").encode(),
        "ramp empty": BASE.replace("[{at: 0, calls_per_hour: 10}, {at: 30m, calls_per_hour: 20}]", "[]").encode(),
        "two rates": BASE.replace("erlangs: 1,", "erlangs: 1, calls_per_hour: 5,").encode(),
        "expectation kind twice": BASE.replace("  - calls: {outcome: admitted}", "  - calls: {outcome: admitted}\n    peak: {pool: vcm_channels}").encode(),
        "expectation reason unknown": BASE.replace("{outcome: admitted}", "{outcome: rejected, reason: bored}").encode(),
        "expectation pool unknown": BASE.replace("  - calls: {outcome: admitted}", "  - peak: {pool: 'x' }").encode(),
        "erlang_b huge": BASE.replace("    equals: 0.5\n", "    erlang_b: 1000000000\n").encode(),
        "event past the end": BASE.replace("at: 1m, call", "at: 2h, call").encode(),
        "events is a string": BASE.replace("events:\n  - {at: 1m, call: {from: sip1, to: \"201\", duration: 2m, answer_after: 5s}}\n  - {at: 2m, register: \"202\"}", "events: lots").encode(),
        "unknown top-level key": (BASE + "colour: red\n").encode(),
        "windows line ends": BASE.replace("\n", "\r\n").encode(),
        "bom": b"\xef\xbb\xbf" + BASE.encode(),
        "utf-16": BASE.encode("utf-16"),
        "very long line": BASE.replace("name: base", "name: base # " + "y" * 500_000).encode(),
        "many traffic sources": (BASE + "".join(f"  - calls: {{traffic: t, outcome: admitted}}\n    at_least: {i}\n" for i in range(2000))).encode(),
        "ten thousand users": BASE.replace('users: [{name: a, extension: "201"}, {name: b, extension: "202", phone: "9620"}, {name: c, extension: "203"}]', "users: [" + ", ".join(f'{{name: u{i}, extension: "{10000 + i}"}}' for i in range(10000)) + ']').encode(),
    }
    cases += list(structural.items())
    return cases


def scenario_files(folder: Path) -> list[tuple[str, str]]:
    """(what, path) for every hostile scenario, written into folder, plus files that are not files."""
    out = []
    for i, (what, data) in enumerate(scenario_texts()):
        path = folder / f"case{i:03d}.yaml"
        path.write_bytes(data)
        out.append((what, str(path)))
    fifo = folder / "fifo.yaml"
    os.mkfifo(fifo)
    link = folder / "zero.yaml"
    link.symlink_to("/dev/zero")
    (folder / "a-folder.yaml").mkdir()
    out += [("a FIFO", str(fifo)), ("/dev/zero", "/dev/zero"), ("a link to /dev/zero", str(link)),
            ("a folder", str(folder / "a-folder.yaml")), ("missing", str(folder / "missing.yaml")),
            ("/dev/null", "/dev/null")]
    return out


def cli_cases(folder: Path, scenario: str) -> list[dict]:
    """Hostile invocations of every command: bad values for each option, files of every wrong kind."""
    fifo = folder / "fifo.keys"
    os.mkfifo(fifo)
    garbage = folder / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 100)
    long_line = folder / "long.jsonl"
    long_line.write_text('{"time": 1, "t": 0, "unit": "' + "u" * 3_000_000 + '", "kind": "call.admitted", "outcome": "x"}\n')
    long_field = folder / "field.jsonl"
    long_field.write_text('{"time": 1, "t": 0, "unit": "' + "u" * 500_000 + '", "kind": "call.admitted", "outcome": "x"}\n')
    nan_events = folder / "nan.jsonl"
    nan_events.write_text('{"time": NaN, "t": 0, "unit": "u", "kind": "call.admitted", "outcome": "x"}\n')
    keys = folder / "ok.keys"
    keys.write_text("# a comment\n\n")
    bad_numbers = ["nan", "inf", "-inf", "-1", "0", "1e308", "1e999", "abc", "", "٣"]
    argvs: list[list[str]] = []
    for value in bad_numbers:
        argvs += [["run", scenario, "--no-progress", "--realtime", "--speed", value],
                  ["run", scenario, "--no-progress", "--seed", value],
                  ["run", scenario, "--no-progress", "--realtime", "--max-lag", value],
                  ["size", "--erlangs", value],
                  ["size", "--erlangs", "5", "--holding", value],
                  ["size", "--erlangs", "5", "--grade", value],
                  ["license", "issue", "--serial", "12345678", "--feature", "softconsole", "--instances", value],
                  ["license", "issue", "--serial", "12345678", "--feature", "softconsole", "--validity-days", value]]
    argvs += [
        ["run", scenario, "--no-progress", "--seed", "9" * 5000],
        ["run", scenario, "--no-progress", "--events", str(folder)],
        ["run", scenario, "--no-progress", "--events", "/nonexistent/dir/e.jsonl"],
        ["run", scenario, "--no-progress", "--events", "/dev/full"],
        ["run", scenario, "--no-progress", "--report", "/dev/full"],
        ["run", scenario, "--no-progress", "--report", "-"],
        ["run", scenario, "--no-progress", "--plot", "/dev/full"],
        ["run", scenario, "--no-progress", "--plot", str(folder)],
        ["run", scenario, "--no-progress", "--feature-key", "gopher://x"],
        ["run", scenario, "--no-progress", "--feature-key", "mars=virtual:12345678"],
        ["run", scenario, "--no-progress", "--feature-key", "virtual:"],
        ["run", scenario, "--no-progress", "--feature-key", "serial:///dev/null?timeout=abc"],
        ["run", str(fifo)], ["run", "/dev/zero"], ["run", str(garbage)], ["validate", str(fifo)],
        ["validate", "/dev/zero"], ["validate", str(folder)],
        ["events", str(fifo)], ["events", "/dev/zero"], ["events", str(garbage)], ["events", str(long_line)],
        ["events", str(long_field)], ["events", str(nan_events)], ["events", str(folder)],
        ["events", str(long_field), "--kind", "call.rjected"], ["events", str(long_field), "--unit", "x" * 100_000],
        ["license", "inspect", ""], ["license", "inspect", "x" * 1_000_000], ["license", "inspect", "\ud800" * 32],
        ["license", "inspect", "0" * 32], ["license", "inspect", "2340-4P6A-0000-0000-0000-0000-0000-0000", "--at", "x"],
        ["license", "inspect", "2340-4P6A-0000-0000-0000-0000-0000-0000", "--serial", "x" * 10_000],
        ["license", "inspect", "2340-4P6A-0000-0000-0000-0000-0000-0000", "--serial", "12345678", "--at", "0001-01-01"],
        ["license", "inspect", "2340-4P6A-0000-0000-0000-0000-0000-0000", "--serial", "12345678", "--at", "9999-12-31"],
        ["license", "issue", "--serial", "", "--feature", "softconsole"],
        ["license", "issue", "--serial", "1" * 1000, "--feature", "softconsole"],
        ["license", "issue", "--serial", "12345678", "--feature", "x" * 10_000],
        ["license", "issue", "--serial", "12345678", "--feature", "softconsole", "--issued-at", "2135-12-01"],
        ["license", "issue", "--serial", "12345678", "--feature", "softconsole", "--issued-at", "garbage"],
        ["license", "issue", "--serial", "12345678", "--feature", "softconsole", "--secret-file", str(fifo)],
        ["license", "issue", "--serial", "12345678", "--feature", "softconsole", "--secret-file", "/dev/zero"],
        ["license", "issue", "--serial", "12345678", "--feature", "softconsole", "--registry", str(folder)],
        ["license", "issue", "--serial", "12345678", "--feature", "softconsole", "--registry", str(garbage)],
        ["license", "exchange", str(fifo), "--from", "12345678", "--to", "87654321"],
        ["license", "exchange", "/dev/zero", "--from", "12345678", "--to", "87654321"],
        ["license", "exchange", str(keys), "--from", "12345678", "--to", "87654321"],
        ["license", "exchange", str(keys), "--from", "12345678", "--to", "12345678"],
        ["license", "registry", "--registry", str(folder / "typo.sqlite3")],
        ["license", "registry", "--registry", str(garbage)],
        ["unit", "status", "--licenses-file", str(fifo)], ["unit", "status", "--licenses-file", "/dev/zero"],
        ["unit", "status", "--licenses-file", str(garbage)], ["unit", "status", "--at", "x"],
        ["unit", "status", "--unit", "IP9000"], ["unit", "status", "--release", "99.9"],
        ["unit", "status", "--feature-key", "serial:///nonexistent"],
        ["unit", "status", "--key-absent-since", "2999-01-01", "--at", "2000-01-01"],
        ["models", "show", "IP9000"], ["models", "show", "IP500", "--release", "x"],
        ["dongle", "probe", "/nonexistent"], ["dongle", "probe", "/dev/null", "--timeout", "0.2"],
        ["dongle", "serve", "--serial", "x"], ["nonsense"], ["run"], ["--version"],
    ]
    cases = [{"argv": argv} for argv in argvs]
    cases.append({"argv": ["license", "exchange", "-", "--from", "12345678", "--to", "87654321"],
                  "stdin": "\udcff\udcfe garbage\n"})
    return cases

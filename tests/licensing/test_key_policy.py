"""The policy around keys: minted only by the issuer, never valid before their issue date,
replaced (not multiplied) by an exchange, and loud about the public development secrets."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from emulator.cli import main

ROOT = Path(__file__).resolve().parents[2]
REAL_SECRET = "a real issuer secret, long enough"


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("IPO_EMU_REGISTRY", str(tmp_path / "registry.sqlite3"))
    monkeypatch.delenv("IPO_EMU_ISSUER_SECRET", raising=False)
    monkeypatch.delenv("IPO_EMU_REQUIRE_SECRET", raising=False)

    def run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent("""
        name: keys
        duration: 1m
        units: [{name: u, licenses: [{feature: softconsole, trial: true}, {feature: sip_trunk_channels, instances: 65535}]}]
        expect: [{license: {feature: softconsole}, status: Valid}]
        """), encoding="utf-8")
    return path


def test_keys_a_scenario_describes_are_valid_in_its_run_and_nowhere_else(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("IPO_EMU_ISSUER_SECRET", REAL_SECRET)
    code, out, err = cli("run", scenario(tmp_path), "--json")
    assert code == 0, err
    keys = [lic["key"] for lic in json.loads(out)["units"][0]["licenses"]]
    assert len(keys) == 2
    for key in keys:  # a second trial, and a 65,535-instance key: minted outside the issuer
        code, out, _ = cli("license", "inspect", key, "--serial", "12345678", "--json")
        assert code == 1 and json.loads(out)["status"] == "Invalid"
    # the same file gives the same keys (runs stay reproducible)
    assert [lic["key"] for lic in json.loads(cli("run", scenario(tmp_path), "--json")[1])["units"][0]["licenses"]] == keys


def test_a_key_is_not_valid_before_its_issue_date(cli):
    code, out, err = cli("license", "issue", "--serial", "12345678", "--feature", "softconsole", "--trial",
                         "--issued-at", "2135-12-01")
    assert code == 2 and "in the future" in err and err.count("\n") == 1
    code, out, _ = cli("license", "issue", "--serial", "12345678", "--feature", "softconsole", "--issued-at",
                       "2026-01-01")
    key = out.split()[0]
    code, out, _ = cli("license", "inspect", key, "--serial", "12345678", "--at", "0001-01-01", "--json")
    assert code == 1 and json.loads(out)["status"] == "NotYetValid"
    code, out, _ = cli("license", "inspect", key, "--serial", "12345678", "--at", "2026-01-01T00:00:01Z", "--json")
    assert code == 0 and json.loads(out)["status"] == "Valid"


def test_an_exchange_chain_leaves_exactly_one_valid_set(cli, tmp_path):
    code, out, _ = cli("license", "issue", "--serial", "11111111", "--feature", "sip_trunk_channels", "-n", "10",
                       "--issued-at", "2026-01-01")
    a_keys = tmp_path / "a.keys"
    a_keys.write_text(out)
    assert cli("license", "exchange", "--from", "11111111", "--to", "22222222", a_keys, "-o", tmp_path / "b.keys")[0] == 0
    assert cli("license", "exchange", "--from", "22222222", "--to", "33333333", tmp_path / "b.keys",
               "-o", tmp_path / "c.keys")[0] == 0
    valid = {}
    for name, serial in (("a", "11111111"), ("b", "22222222"), ("c", "33333333")):
        key = (tmp_path / f"{name}.keys").read_text().split()[0]
        code, out, _ = cli("license", "inspect", key, "--serial", serial, "--json")
        valid[name] = (code, json.loads(out)["status"])
    assert valid == {"a": (1, "Revoked"), "b": (1, "Revoked"), "c": (0, "Valid")}
    code, out, _ = cli("unit", "status", "--feature-key", "virtual:11111111", "-f", a_keys, "--json")
    assert json.loads(out)["licenses"][0]["status"] == "Revoked"
    code, _, err = cli("license", "exchange", "--from", "33333333", "--to", "11111111", tmp_path / "c.keys",
                       "-o", tmp_path / "back.keys")
    assert code == 2 and "exchanging back to an earlier feature key is refused" in err and err.count("\n") == 1
    assert not (tmp_path / "back.keys").exists()


@pytest.mark.parametrize("argv", [
    ["run", "SCENARIO", "--no-progress"],
    ["validate", "SCENARIO"],
    ["unit", "status"],
    ["license", "inspect", "2340-4P6A-0000-0000-0000-0000-0000-0000", "--serial", "12345678"],
    ["license", "issue", "--serial", "12345678", "--feature", "softconsole"],
])
def test_with_the_guard_set_every_key_checking_command_refuses_the_development_secret(cli, monkeypatch,
                                                                                       tmp_path, argv):
    monkeypatch.setenv("IPO_EMU_REQUIRE_SECRET", "1")
    argv = [str(scenario(tmp_path)) if a == "SCENARIO" else a for a in argv]
    code, _, err = cli(*argv)
    if argv[0] == "license" and argv[1] == "inspect":
        assert code == 2  # a malformed key is refused first, or the secret: either way no check runs
    else:
        assert code == 2 and "IPO_EMU_REQUIRE_SECRET" in err and err.count("\n") == 1


def test_the_development_secret_is_said_once_and_in_the_report(cli, tmp_path):
    code, out, err = cli("run", scenario(tmp_path), "--no-progress")
    assert code == 0
    assert err.count("public development issuer secret") == 1
    assert "Keys checked with the public development issuer secret" in out


def test_listing_the_registry_creates_nothing(cli, tmp_path):
    missing = tmp_path / "typo.sqlite3"
    code, _, err = cli("license", "registry", "--registry", missing)
    assert code == 2 and "no such file" in err and not missing.exists()


def test_a_secret_that_is_not_utf8_in_the_environment_is_taken_as_its_bytes(cli, monkeypatch):
    monkeypatch.setenv("IPO_EMU_ISSUER_SECRET", "\udcff\udcfe not UTF-8 but long enough")
    code, out, err = cli("license", "issue", "--serial", "12345678", "--feature", "softconsole")
    assert code == 0 and len(out.split()[0]) == 32 and "development" not in err

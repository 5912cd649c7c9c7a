"""The ipo-emu command: tables and --json, round trips, and one-line errors with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from emulator.cli import main
from tests.conftest import OTHER_SERIAL, SERIAL


@pytest.fixture(autouse=True)
def private_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("IPO_EMU_REGISTRY", str(tmp_path / "issuer.sqlite3"))
    monkeypatch.delenv("IPO_EMU_ISSUER_SECRET", raising=False)
    monkeypatch.delenv("IPO_EMU_ISSUER_SECRET_FILE", raising=False)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def issue(capsys, *args) -> list[str]:
    code, out, err = run(capsys, "license", "issue", *args)
    assert code == 0, err
    return out.split()


# -- models --------------------------------------------------------------------------------

def test_models_list_table_and_json(capsys):
    code, out, _ = run(capsys, "models", "list")
    assert code == 0 and "Small Office Edition" in out and "IP500 V2" in out
    code, out, _ = run(capsys, "models", "list", "--json")
    rows = json.loads(out)
    assert {"release": "6.0", "id": "ip500_v2"}.items() <= next(r for r in rows if r["id"] == "ip500_v2").items()


def test_models_show_ip500_release_6(capsys):
    code, out, _ = run(capsys, "models", "show", "IP500", "--release", "6.0")
    assert code == 0
    for text in ("Capacities", "License catalogue", "sip_trunk_channels", "ucsb_50", "384"):
        assert text in out
    code, out, _ = run(capsys, "models", "show", "ip500", "-r", "6.0", "--json")
    data = json.loads(out)
    assert data["capacities"]["extensions"]["value"] == 384
    vpn = next(lic for lic in data["licenses"] if lic["id"] == "vpn_ip_extensions")
    assert vpn["availability"] == "obsolete"
    code, out, _ = run(capsys, "models", "show", "IP412", "-r", "6.0", "--json")
    vpn = next(lic for lic in json.loads(out)["licenses"] if lic["id"] == "vpn_ip_extensions")
    assert vpn["availability"] == "supported"


def test_models_assumptions_json(capsys):
    code, out, _ = run(capsys, "models", "assumptions", "--json")
    entries = json.loads(out)
    assert code == 0 and any(e["where"] == "feature_key.grace_period_s" for e in entries)


# -- license issue / inspect / exchange -----------------------------------------------------

def test_issue_then_inspect_round_trip(capsys):
    [key] = issue(capsys, "--serial", SERIAL, "--feature", "sip_trunk_channels", "--instances", "24",
                  "--issued-at", "2026-03-01T12:00:00Z")
    code, out, err = run(capsys, "license", "inspect", key, "--serial", SERIAL, "--at", "2026-03-02", "--json")
    info = json.loads(out)
    assert code == 0
    assert (info["feature"], info["instances"], info["status"]) == ("sip_trunk_channels", 24, "Valid")
    assert info["issued_at"] == "2026-03-01T12:00:00Z"
    code, out, _ = run(capsys, "license", "inspect", key, "--serial", OTHER_SERIAL, "--json")
    assert code == 1 and json.loads(out)["status"] == "Invalid"
    code, out, _ = run(capsys, "license", "inspect", key.lower())
    assert code == 0 and "SIP Trunk Channels" in out


def test_trial_inspected_on_day_sixty(capsys):
    [key] = issue(capsys, "-s", SERIAL, "-f", "softconsole", "--trial", "--issued-at", "2026-01-01T00:00:00Z")
    code, out, _ = run(capsys, "license", "inspect", key, "-s", SERIAL, "--at", "2026-03-01T23:59:59Z", "--json")
    assert code == 0 and json.loads(out)["expires_at"] == "2026-03-02T00:00:00Z"
    code, out, _ = run(capsys, "license", "inspect", key, "-s", SERIAL, "--at", "2026-03-02T00:00:00Z", "--json")
    assert code == 1 and json.loads(out)["status"] == "Expired"


def test_issue_license_set_prints_one_key_per_license(capsys):
    code, out, _ = run(capsys, "license", "issue", "-s", SERIAL, "-f", "ucsb_30", "--json")
    rows = json.loads(out)
    assert code == 0
    assert sorted((r["feature"], r["instances"]) for r in rows) == [
        ("mobility_features", 30), ("phone_manager_pro", 30), ("phone_manager_pro_ip_audio_enabled", 30)]


def test_exchange_and_registry(capsys, tmp_path):
    keys = issue(capsys, "-s", SERIAL, "-f", "sip_trunk_channels", "-n", "10")
    keys += issue(capsys, "-s", SERIAL, "-f", "voicemail_pro")
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("# site A\n" + "\n".join(f"{k}  # a comment" for k in keys) + "\n\n")
    out_file = tmp_path / "new.txt"
    code, _, err = run(capsys, "license", "exchange", str(keys_file), "--from", SERIAL, "--to", "55556666",
                       "-o", str(out_file))
    assert code == 0, err
    new_keys = out_file.read_text().split()
    assert len(new_keys) == 2 and set(new_keys).isdisjoint(keys)
    code, out, _ = run(capsys, "unit", "status", "-k", "virtual:55556666", "-f", str(out_file), "--json")
    status = json.loads(out)
    assert code == 0 and {lic["status"] for lic in status["licenses"]} == {"Valid"}
    code, out, _ = run(capsys, "license", "registry", "--serial", SERIAL, "--json")
    assert {r["state"] for r in json.loads(out)} == {"exchanged"}


def test_exchange_failure_leaves_no_output_file_and_no_record(capsys, tmp_path):
    foreign = issue(capsys, "-s", OTHER_SERIAL, "-f", "softconsole")
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("\n".join(foreign) + "\n")
    out_file = tmp_path / "new.txt"
    code, _, err = run(capsys, "license", "exchange", str(keys_file), "--from", SERIAL, "--to", "55556666",
                       "-o", str(out_file))
    assert code == 2 and "line 1" in err
    assert not out_file.exists()
    code, out, _ = run(capsys, "license", "registry", "--serial", "55556666", "--json")
    assert json.loads(out) == []


# -- unit status ------------------------------------------------------------------------------

def test_unit_status_shows_capacity_cap_and_grace(capsys):
    keys = issue(capsys, "-s", SERIAL, "-f", "sip_trunk_channels", "-n", "200", "--issued-at", "2026-01-01")
    code, out, _ = run(capsys, "unit", "status", "-l", keys[0], "--at", "2026-02-01", "--json")
    pool = next(p for p in json.loads(out)["pools"] if p["pool"] == "sip_trunk_channels")
    assert (pool["licensed"], pool["effective"], pool["refusal_reason"]) == (200, 128, "capacity_reached")
    code, out, _ = run(capsys, "unit", "status", "-l", keys[0], "--at", "2026-02-01T02:00:00Z",
                       "--key-absent-since", "2026-02-01T00:00:00Z", "--json")
    data = json.loads(out)
    assert data["feature_key_state"] == "absent" and data["serial"] is None
    assert data["licenses"][0]["status"] == "Invalid"
    code, out, _ = run(capsys, "unit", "status", "-l", keys[0], "--at", "2026-02-01T01:59:59Z",
                       "--key-absent-since", "2026-02-01T00:00:00Z", "--json")
    assert json.loads(out)["licenses"][0]["status"] == "Valid"
    code, out, _ = run(capsys, "unit", "status", "-l", keys[0], "--at", "2026-02-01")
    assert code == 0 and "capacity_reached" in out and "License pools" in out


# -- bad input: one line, exit 2, never a traceback ------------------------------------------

BAD_INPUTS = [
    (["license", "issue", "-s", SERIAL, "-f", "warp_drive"], "unknown feature 'warp_drive'"),
    (["license", "issue", "-s", "12", "-f", "softconsole"], "malformed feature-key serial '12'"),
    (["license", "issue", "-s", "1234 5678", "-f", "softconsole"], "malformed feature-key serial"),
    (["license", "issue", "-s", SERIAL, "-f", "softconsole", "-n", "-4"], "positive whole number, got -4"),
    (["license", "issue", "-s", SERIAL, "-f", "softconsole", "-n", "many"], "'--instances'"),
    (["license", "issue", "-f", "softconsole"], "Missing option '--serial'"),
    (["license", "issue", "-s", SERIAL, "-f", "softconsole", "--issued-at", "soon"], "--issued-at: 'soon'"),
    (["license", "issue", "-s", SERIAL, "-f", "cti_link_pro", "--trial"], "no trial is offered"),
    (["license", "issue", "-s", SERIAL, "-f", "ip500_vcm_channels"], "obsolete in release 6.0"),
    (["license", "issue", "-s", SERIAL, "-f", "softconsole", "-r", "9.9"], "no data for release '9.9'"),
    (["license", "issue", "-s", SERIAL, "-f", "softconsole", "--registry", "/"], "issuer registry /"),
    (["license", "issue", "-s", SERIAL, "-f", "softconsole", "--secret-file", "/nonexistent/s"], "cannot read"),
    (["license", "inspect", "ZZZZ"], "has 4"),
    (["license", "inspect", "0" * 32], "key '" + "0" * 32 + "'"),
    (["license", "inspect", "0" * 31 + "!"], "'!' at position 32"),
    (["license", "inspect", "0" * 32, "--at", "tomorrow"], None),
    (["license", "exchange", "/nonexistent/keys", "--from", SERIAL, "--to", OTHER_SERIAL], "cannot read"),
    (["license", "exchange", "-", "--from", SERIAL, "--to", SERIAL], "same feature key"),
    (["license", "exchange", "-", "--from", SERIAL, "--to", OTHER_SERIAL], "no keys to exchange"),
    (["models", "show", "IP600"], "unknown control unit 'IP600'"),
    (["models", "show", "IP500", "-r", "4.x"], "no data for release '4.x'"),
    (["unit", "status", "-k", "warp:1"], "unknown feature-key interface 'warp'"),
    (["unit", "status", "-k", "12345678"], "INTERFACE:CHANNEL"),
    (["unit", "status", "-k", "virtual:12"], "malformed feature-key serial '12'"),
    (["unit", "status", "-f", "/nonexistent/plan.keys"], "cannot read"),
    (["unit", "status", "--at", "2026-01-01", "--key-absent-since", "2026-02-01"], "later than --at"),
    (["frobnicate"], "No such command"),
    (["models", "list", "--colour"], "No such option"),
]


@pytest.mark.parametrize(("argv", "expected"), BAD_INPUTS, ids=[" ".join(a)[:60] for a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_and_exit_2(capsys, monkeypatch, argv, expected):
    monkeypatch.setattr(sys, "stdin", open("/dev/null"))  # noqa: SIM115 - closed by pytest teardown
    code, out, err = run(capsys, *argv)
    assert code == 2, (code, out, err)
    assert err.startswith("ipo-emu: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    if expected:
        assert expected in err


def test_trial_twice_is_refused_with_exit_2(capsys):
    issue(capsys, "-s", SERIAL, "-f", "mobility_features", "--trial")
    code, _, err = run(capsys, "license", "issue", "-s", SERIAL, "-f", "mobility_features", "--trial")
    assert code == 2 and "already issued" in err and err.count("\n") == 1


def test_non_utf8_keys_file(capsys, tmp_path):
    path = tmp_path / "keys.bin"
    path.write_bytes(b"\xff\xfe\x00garbage")
    code, _, err = run(capsys, "license", "exchange", str(path), "--from", SERIAL, "--to", OTHER_SERIAL)
    assert code == 2 and "not UTF-8" in err


def test_real_process_exit_codes_and_no_traceback(tmp_path):
    """The installed entry point, as a user runs it."""
    env = {"IPO_EMU_REGISTRY": str(tmp_path / "r.sqlite3"), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run([sys.executable, "-m", "emulator", "license", "issue", "-s", SERIAL, "-f", "softconsole"],
                        capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0 and len(ok.stdout.strip()) == 32
    bad = subprocess.run([sys.executable, "-m", "emulator", "license", "inspect", "garbage!"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    version = subprocess.run([sys.executable, "-m", "emulator", "--version"], capture_output=True, text=True,
                             env=env, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("ipo-emu ")


@pytest.mark.parametrize("argv", [["--version"], ["--help"]])
def test_version_and_help_load_no_subcommand_and_no_data(argv):
    """Start-up cost is what --version and --help import: typer, and nothing of ours beyond
    the root command (the speed itself is measured by a benchmark, not by a timed test)."""
    import subprocess
    import sys

    probe = ("import sys; from emulator.cli import main; main(%r); "
             "print(sorted(m for m in sys.modules if m.startswith(('emulator.licensing', 'emulator.scenario', "
             "'emulator.cli.', 'firmware_models', 'pydantic', 'hardware'))))" % argv)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "['emulator.cli.output']"


@pytest.mark.parametrize("args", [
    ["run", "scenarios/live-office.yaml", "--events", "/proc/no-such-file.jsonl"],
    ["serve", "scenarios/live-office.yaml", "--journal", "/proc/no-such-file.jsonl", "--embedded-port", "0",
     "--for", "1s"],
])
def test_an_events_file_that_cannot_be_opened_is_one_line(args, capsys):
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    args = [str(root / a) if a.startswith("scenarios/") else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert [line for line in err if "error" in line] == [
        f"ipo-emu: error: {args[2]} /proc/no-such-file.jsonl: cannot open: No such file or directory"]

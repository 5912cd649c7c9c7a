"""`ipo-emu license ...`: issue, inspect and exchange license keys."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, TextIO

import typer

from emulator.cli.models_cmd import ReleaseOpt, resolve_release
from emulator.cli.output import DEVELOPMENT_ISSUER_NOTE, tell_once, UserError, console, note, parse_time, print_json, table, utc
from emulator.licensing import (
    KeyAuthority,
    LicenseEngine,
    LicenseStatus,
    decode_key,
    group_key,
    normalize_serial,
)
from emulator.licensing.issuer import IssuedLicense, LicenseIssuer
from emulator.licensing.issuer_registry import IssuerRegistry
from emulator.licensing.issuer_secret import IssuerSecret, load_issuer_secret
from firmware_models import feature_codes

app = typer.Typer(help="Issue, inspect and exchange 32-character license keys.", no_args_is_help=True)

ENV_REGISTRY = "IPO_EMU_REGISTRY"

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
SecretOpt = Annotated[Path | None, typer.Option(
    "--secret-file", help="Issuer secret file (default: $IPO_EMU_ISSUER_SECRET, $IPO_EMU_ISSUER_SECRET_FILE, "
    "else the development default).")]
RegistryOpt = Annotated[Path | None, typer.Option(
    "--registry", help=f"Issuer registry, an SQLite file created on first use (default: ${ENV_REGISTRY}, "
    "else ~/.local/share/ipo-emu/issuer.sqlite3).")]


def default_registry_path() -> Path:
    if os.environ.get(ENV_REGISTRY):
        return Path(os.environ[ENV_REGISTRY])
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "ipo-emu" / "issuer.sqlite3"


def note_if_development(secret: IssuerSecret) -> None:
    """Said after the work is done, so that an error stays the only line on stderr."""
    if secret.is_development:
        tell_once(DEVELOPMENT_ISSUER_NOTE)


def exchanged_keys(registry: Path | None) -> dict[str, str]:
    """Keys the issuer registry records as exchanged (read-only; none when there is no registry)."""
    path = registry or default_registry_path()
    if not path.is_file():
        return {}
    with IssuerRegistry(path, read_only=True) as reg:
        return reg.exchanged()


@app.command("issue")
def issue(
    serial: Annotated[str, typer.Option("--serial", "-s", help="Feature-key serial number the key is bound to.")],
    feature: Annotated[str, typer.Option("--feature", "-f", help="License id, or a license set id such as ucsb_20.")],
    instances: Annotated[int | None, typer.Option(
        "--instances", "-n", help="Instances (for a license set: how many sets). Default: the license's default.")] = None,
    trial: Annotated[bool, typer.Option("--trial", help="A trial: valid 60 days, once per feature and serial.")] = False,
    validity_days: Annotated[int, typer.Option("--validity-days", help="Expire this many days after issue (0: never).")] = 0,
    issued_at: Annotated[str | None, typer.Option("--issued-at", help="Issue time, ISO 8601 (default: now).")] = None,
    release: ReleaseOpt = None,
    registry: RegistryOpt = None,
    secret_file: SecretOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Issue a key (or, for a license set, one key per license it contains) and print it."""
    when = parse_time(issued_at, "--issued-at") if issued_at else int(time.time())
    secret = load_issuer_secret(secret_file)
    authority = KeyAuthority(secret.value)
    with IssuerRegistry(registry or default_registry_path()) as reg:
        issued = LicenseIssuer(authority, resolve_release(release), reg).issue(
            serial, feature, issued_at=when, instances=instances, trial=trial, validity_days=validity_days)
    if json_out:
        print_json([_issued_json(lic) for lic in issued])
    else:
        for lic in issued:
            print(lic.key)
    note_if_development(secret)


@app.command("inspect")
def inspect(
    key: Annotated[str, typer.Argument(help="The 32-character key (spaces and dashes are ignored).")],
    serial: Annotated[str | None, typer.Option("--serial", "-s", help="Check the key against this feature-key serial.")] = None,
    unit: Annotated[str, typer.Option("--unit", "-u", help="Control unit to check on.")] = "IP500",
    release: ReleaseOpt = None,
    at: Annotated[str | None, typer.Option("--at", help="Check as of this time, ISO 8601 (default: now).")] = None,
    registry: RegistryOpt = None,
    secret_file: SecretOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Decode a key and, given --serial, show its status on that feature key.

    Exit 0 when the key is Valid (or was not checked), 1 when checked and not Valid.
    """
    decoded = decode_key(key, feature_codes().by_code)
    if decoded.error is not None or decoded.fields is None:
        raise UserError(f"key {decoded.text!r}: {decoded.error}")
    rel = resolve_release(release)
    spec = rel.licenses_by_id().get(decoded.feature_id or "")
    fields = decoded.fields
    info = {
        "key": decoded.text,
        "grouped": group_key(decoded.text),
        "license_type": spec.name if spec else decoded.feature_id,
        "feature": decoded.feature_id,
        "instances": fields.instances,
        "trial": fields.trial,
        "issued_at": utc(fields.issued_at),
        "expires_at": utc(fields.expires_at),
        "format_version": fields.version,
        "serial": None,
        "status": None,
        "detail": "not checked: give --serial",
    }
    status = None
    if serial is not None:
        now = parse_time(at, "--at") if at else int(time.time())
        rel_unit = rel.unit(unit)
        secret = load_issuer_secret(secret_file)
        engine = LicenseEngine(rel, rel_unit, KeyAuthority(secret.value), now=now, revoked=exchanged_keys(registry))
        engine.feature_key_read(serial, now)
        lic = engine.install(decoded.text, now)
        status = lic.status
        info.update(serial=normalize_serial(serial), unit=rel_unit.name, release=rel.release,
                    checked_at=utc(now), status=str(status), detail=lic.detail or None)
    if json_out:
        print_json(info)
    else:
        out = console()
        for name, value in info.items():
            if value is not None and name != "key":
                out.print(f"{name.replace('_', ' '):<15} {value}")
    if serial is not None:
        note_if_development(secret)
    if status is not None and status is not LicenseStatus.VALID:
        raise typer.Exit(1)


@app.command("exchange")
def exchange(
    keys_file: Annotated[Path, typer.Argument(help="File of keys, one per line ('#' comments; '-' for stdin).",
                                              allow_dash=True)],
    from_serial: Annotated[str, typer.Option("--from", help="Serial of the feature key being replaced.")],
    to_serial: Annotated[str, typer.Option("--to", help="Serial of the replacement feature key.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the new keys here instead of stdout.")] = None,
    release: ReleaseOpt = None,
    registry: RegistryOpt = None,
    secret_file: SecretOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Re-issue every key of a faulty or lost feature key for its replacement.

    Every key must be valid on --from; the old keys are recorded as exchanged.
    """
    lines = read_keys_file(keys_file)
    secret = load_issuer_secret(secret_file)
    authority = KeyAuthority(secret.value)
    # Claim the output file first: once the registry records the exchange, the new keys
    # must reach the user.
    out_file = _create_new_file(output) if output is not None else sys.stdout
    try:
        with IssuerRegistry(registry or default_registry_path()) as reg:
            pairs = LicenseIssuer(authority, resolve_release(release), reg).exchange(from_serial, to_serial, lines)
    except BaseException:
        if output is not None:
            out_file.close()
            output.unlink(missing_ok=True)
        raise
    if json_out:
        text = json.dumps([{"old_key": old, **_issued_json(new)} for old, new in pairs], indent=2) + "\n"
    else:
        text = "".join(f"{new.key}\n" for _, new in pairs)
    out_file.write(text)
    if output is not None:
        out_file.close()
        note(f"wrote {len(pairs)} exchanged keys to {output}")
    note_if_development(secret)


@app.command("registry")
def registry_list(
    serial: Annotated[str | None, typer.Option("--serial", "-s", help="Only keys of this feature key.")] = None,
    registry: RegistryOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """What the issuer has issued and exchanged."""
    with IssuerRegistry(registry or default_registry_path(), read_only=True) as reg:
        entries = reg.entries(normalize_serial(serial) if serial else None)
    rows = [{"key": e.license_key, "serial": e.serial, "feature": e.feature, "instances": e.instances,
             "trial": e.trial, "issued_at": utc(e.issued_at), "expires_at": utc(e.expires_at),
             "state": e.state, "replaced_by": e.replaced_by} for e in entries]
    if json_out:
        print_json(rows)
        return
    console().print(table(f"Issuer registry ({len(rows)} keys)", list(rows[0]) if rows else ["key"],
                          [list(r.values()) for r in rows]))


def read_keys_file(path: Path) -> list[tuple[int, str]]:
    """(line number, key text) of every non-blank, non-comment line."""
    from emulator.bounded_input import KEYS_FILE_MAX_BYTES, InputError, read_text

    try:
        text = read_text(path, "keys file", KEYS_FILE_MAX_BYTES)
    except InputError as exc:
        raise UserError(str(exc)) from None
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        content = line.split("#", 1)[0].strip()
        if content:
            out.append((number, content))
    return out



def _issued_json(lic: IssuedLicense) -> dict:
    return {"key": lic.key, "serial": lic.serial, "feature": lic.feature_id, "instances": lic.instances,
            "trial": lic.trial, "issued_at": utc(lic.issued_at), "expires_at": utc(lic.expires_at)}


def _create_new_file(path: Path) -> TextIO:
    """Never overwrite: exchanged keys are the only copy of a customer's licenses."""
    try:
        return path.open("x", encoding="utf-8")
    except FileExistsError:
        raise UserError(f"--output {path}: file exists; not overwriting it") from None
    except OSError as exc:
        raise UserError(f"--output {path}: cannot write: {exc.strerror}") from None

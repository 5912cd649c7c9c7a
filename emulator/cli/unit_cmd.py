"""`ipo-emu unit status`: what a control unit would enforce with a given set of keys."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer

from emulator.cli.license_cmd import RegistryOpt, SecretOpt, exchanged_keys, note_if_development, read_keys_file
from emulator.licensing.issuer_secret import load_issuer_secret
from emulator.cli.models_cmd import ReleaseOpt, resolve_release
from emulator.cli.output import UserError, console, parse_time, print_json, table, utc
from emulator.licensing import KeyAuthority, LicenseEngine
from hardware.feature_keys import FeatureKeyAbsentError, open_feature_key

app = typer.Typer(help="Inspect an emulated control unit.", no_args_is_help=True)

DEFAULT_FEATURE_KEY = "virtual:12345678"


@app.command("status")
def status(
    unit: Annotated[str, typer.Option("--unit", "-u", help="Control unit, by id or name.")] = "IP500",
    release: ReleaseOpt = None,
    feature_key: Annotated[str, typer.Option(
        "--feature-key", "-k", help="Feature key URL, e.g. virtual:12345678.")] = DEFAULT_FEATURE_KEY,
    licenses_file: Annotated[list[Path] | None, typer.Option(
        "--licenses-file", "-f", help="File of keys, one per line ('#' comments). Repeatable.")] = None,
    license_keys: Annotated[list[str] | None, typer.Option("--license", "-l", help="A key. Repeatable.")] = None,
    at: Annotated[str | None, typer.Option("--at", help="Evaluate as of this time, ISO 8601 (default: now).")] = None,
    key_absent_since: Annotated[str | None, typer.Option(
        "--key-absent-since", help="Pretend the feature key was pulled at this time (grace period applies).")] = None,
    all_pools: Annotated[bool, typer.Option("--all-pools", help="List every pool, not only those the keys fill.")] = False,
    registry: RegistryOpt = None,
    secret_file: SecretOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """License statuses and pool limits of a unit with these keys and this feature key."""
    rel = resolve_release(release)
    model = rel.unit(unit)
    now = parse_time(at, "--at") if at else int(time.time())
    pulled = parse_time(key_absent_since, "--key-absent-since") if key_absent_since else None
    if pulled is not None and pulled > now:
        raise UserError("--key-absent-since is later than --at")
    keys = [text for path in licenses_file or [] for _, text in read_keys_file(path)] + list(license_keys or [])
    secret = load_issuer_secret(secret_file)
    engine = LicenseEngine(rel, model, KeyAuthority(secret.value), now=min(now, pulled or now),
                           revoked=exchanged_keys(registry))
    serial = asyncio.run(_read_serial(feature_key))
    start = pulled if pulled is not None else now
    if serial is None:
        engine.feature_key_lost(start)
    else:
        engine.feature_key_read(serial, start)
        if pulled is not None:
            engine.feature_key_lost(pulled)
    for key in keys:
        engine.install(key, start)
    engine.advance(now)
    licenses = [{"key": lic.key, "feature": lic.feature_id, "instances": lic.instances, "status": str(lic.status),
                 "detail": lic.detail, "expires_at": utc(lic.expires_at)} for lic in engine.licenses()]
    specs = rel.licenses_by_id()
    touched = {pool_id for lic in engine.licenses() if lic.feature_id in specs
               for pool_id in specs[lic.feature_id].pool_grants()}
    pools = [{"pool": p.pool_id, "consumed": p.consumed, "licensed": p.licensed, "free": p.free,
              "capacity": p.capacity, "effective": p.effective, "refusal_reason": str(p.refusal_reason)}
             for p in engine.pools.values() if all_pools or p.free or p.pool_id in touched]
    data = {"unit": model.name, "release": rel.release, "feature_key": feature_key,
            "serial": engine.feature_key_serial, "feature_key_state": engine.feature_key_state,
            "at": utc(now), "licenses": licenses, "pools": pools}
    if json_out:
        print_json(data)
        note_if_development(secret)
        return
    out = console()
    out.print(f"[bold]{model.name}[/bold] release {rel.release} at {utc(now)} — feature key {feature_key}: "
              f"{engine.feature_key_state}, validating against {engine.feature_key_serial or 'nothing'}")
    out.print(table("Licenses", ["key", "feature", "instances", "status", "detail", "expires"],
                    [[r["key"], r["feature"], r["instances"], r["status"], r["detail"], r["expires_at"]] for r in licenses]))
    out.print(table("License pools", ["pool", "consumed", "licensed", "free", "capacity", "effective", "when full"],
                    [[p["pool"], p["consumed"], p["licensed"], p["free"], p["capacity"] if p["capacity"] is not None else "-",
                      p["effective"], p["refusal_reason"]] for p in pools]))
    note_if_development(secret)


async def _read_serial(url: str) -> str | None:
    async with open_feature_key(url) as key:
        try:
            return await key.read_serial()
        except FeatureKeyAbsentError:
            return None

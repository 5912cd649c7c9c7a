"""The dependency rule, checked on the source: the core knows nothing of the shell."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

IO_AND_SHELL = {"asyncio", "structlog", "serial", "aiomqtt", "typer", "rich", "socket", "sqlite3", "time",
                "emulator.cli", "emulator.runtime", "emulator.scenario", "emulator.telemetry", "hardware"}
ISSUER_SIDE = {"emulator.licensing.issuer", "emulator.licensing.issuer_registry", "emulator.licensing.issuer_secret"}


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def forbidden(names: set[str], banned: set[str]) -> set[str]:
    return {n for n in names if any(n == b or n.startswith(b + ".") for b in banned)}


def _files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


SANS_IO_CORE = ([p for p in _files("emulator/licensing") if not p.stem.startswith("issuer")]
                + _files("emulator/rules") + [ROOT / "emulator/reasons.py"]
                + [ROOT / "emulator/smdr/record.py", ROOT / "emulator/smdr/recorder.py"])


@pytest.mark.parametrize("path", SANS_IO_CORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_is_sans_io(path):
    assert not forbidden(imports_of(path), IO_AND_SHELL | ISSUER_SIDE)


@pytest.mark.parametrize("path", _files("emulator/licensing"), ids=lambda p: str(p.relative_to(ROOT)))
def test_issuer_side_stays_out_of_the_shell(path):
    assert not forbidden(imports_of(path), {"asyncio", "structlog", "serial", "aiomqtt", "typer", "rich",
                                            "emulator.cli", "emulator.runtime", "hardware"})


@pytest.mark.parametrize("path", _files("firmware_models"), ids=lambda p: str(p.relative_to(ROOT)))
def test_firmware_models_import_nothing_of_ours(path):
    assert not forbidden(imports_of(path), {"emulator", "hardware"})


@pytest.mark.parametrize("path", _files("hardware"), ids=lambda p: str(p.relative_to(ROOT)))
def test_hardware_does_not_import_the_emulator(path):
    assert not forbidden(imports_of(path), {"emulator"})


def test_reason_codes_are_all_documented():
    from emulator.reasons import Reason

    doc = (ROOT / "docs" / "reason-codes.md").read_text(encoding="utf-8")
    missing = [r.value for r in Reason if f"`{r.value}`" not in doc]
    assert not missing, f"reason codes missing from docs/reason-codes.md: {missing}"


def test_event_names_are_all_documented():
    from emulator.telemetry.events import EVENT_NAMES

    doc = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    missing = [name for name in EVENT_NAMES if f"`{name}`" not in doc]
    assert not missing, f"event names missing from docs/events.md: {missing}"


def test_only_the_mqtt_link_talks_mqtt():
    """aiomqtt (and paho under it) stay in one module, so a client upgrade stays local."""
    for path in _files("emulator") + _files("hardware"):
        if path.relative_to(ROOT).as_posix() == "emulator/service/mqtt_link.py":
            continue
        assert not forbidden(imports_of(path), {"aiomqtt", "paho"}), path


def test_the_service_stays_out_of_the_core_and_the_scenario_layer():
    for path in SANS_IO_CORE + _files("emulator/scenario") + _files("emulator/runtime"):
        assert not forbidden(imports_of(path), {"emulator.service", "amqtt"}), path

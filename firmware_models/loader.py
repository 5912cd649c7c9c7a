"""Reading release data files and the feature-code table, with one-line errors."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml
from pydantic import ValidationError

from firmware_models.schema import HardwareCatalogue, Release

DATA_DIR = Path(__file__).resolve().parent
RELEASES_DIR = DATA_DIR / "releases"
FEATURE_CODES_FILE = DATA_DIR / "feature_codes.yaml"
HARDWARE_FILE = DATA_DIR / "hardware.yaml"
MAX_FEATURE_CODE = 1023  # the key format spends 10 bits on the feature


class ModelDataError(ValueError):
    """A data file is missing, unreadable or does not match the schema."""


def available_releases() -> list[str]:
    """Release versions with a data file, oldest first."""
    return list(_release_files())


@functools.cache
def _release_files() -> tuple[str, ...]:
    """(read once a process: every unit's configuration asks)"""
    versions = [p.stem for p in RELEASES_DIR.glob("*.yaml")]
    return tuple(sorted(versions, key=lambda v: tuple(int(x) for x in v.split("."))))


@functools.cache
def load_release(version: str) -> Release:
    """The validated data of one release; cached because it never changes in a process."""
    path = RELEASES_DIR / f"{version}.yaml"
    if not path.is_file():
        known = ", ".join(available_releases())
        raise ModelDataError(f"no data for release {version!r} (known: {known})")
    release = load_release_file(path)
    if release.release != version:
        raise ModelDataError(f"{path.name}: declares release {release.release!r}, expected {version!r}")
    return release


def load_release_file(path: Path) -> Release:
    raw = _read_yaml(path)
    try:
        release = Release.model_validate(raw)
    except ValidationError as exc:
        raise ModelDataError(f"{path.name}: {_first_error(exc)}") from None
    codes = feature_codes()
    missing = [lic.id for lic in release.licenses if lic.id not in codes.by_id]
    if missing:
        raise ModelDataError(f"{path.name}: licenses without a feature code: {', '.join(missing)}")
    known_modules = {m.type for m in hardware_catalogue().vcm_modules}
    unknown = [t for t in release.vcm.module_types if t not in known_modules]
    if unknown:
        raise ModelDataError(f"{path.name}: vcm.module_types: unknown module types {', '.join(unknown)}")
    return release


SOURCES_FILE = Path(__file__).parent / "sources.yaml"


@functools.cache
def sources() -> dict[str, dict[str, str]]:
    """Source tag -> {title, covers}: the public titles the data and docs cite by tag."""
    return _read_yaml(SOURCES_FILE)


@functools.cache
def hardware_catalogue() -> HardwareCatalogue:
    """Telephone models and VCM module types (the same in every release)."""
    raw = _read_yaml(HARDWARE_FILE)
    try:
        return HardwareCatalogue.model_validate(raw)
    except ValidationError as exc:
        raise ModelDataError(f"{HARDWARE_FILE.name}: {_first_error(exc)}") from None


class FeatureCodes:
    """The permanent mapping between license ids and the numbers keys carry.

    It is shared by all releases so that a key issued under one release decodes under any
    other: a code, once given, is never reused.
    """

    __slots__ = ("by_id", "by_code")

    def __init__(self, by_id: dict[str, int]) -> None:
        self.by_id = dict(by_id)
        self.by_code = {code: fid for fid, code in by_id.items()}


@functools.cache
def feature_codes() -> FeatureCodes:
    raw = _read_yaml(FEATURE_CODES_FILE)
    if not isinstance(raw, dict) or not raw:
        raise ModelDataError(f"{FEATURE_CODES_FILE.name}: expected a mapping of license id to code")
    seen: dict[int, str] = {}
    for fid, code in raw.items():
        if not isinstance(fid, str) or not isinstance(code, int) or isinstance(code, bool):
            raise ModelDataError(f"{FEATURE_CODES_FILE.name}: {fid!r}: code must be an integer")
        if not 1 <= code <= MAX_FEATURE_CODE:
            raise ModelDataError(f"{FEATURE_CODES_FILE.name}: {fid}: code {code} outside 1..{MAX_FEATURE_CODE}")
        if code in seen:
            raise ModelDataError(f"{FEATURE_CODES_FILE.name}: {fid}: code {code} already used by {seen[code]}")
        seen[code] = fid
    return FeatureCodes(raw)


def _read_yaml(path: Path) -> object:
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except OSError as exc:
        raise ModelDataError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ModelDataError(f"{path.name}{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{loc}: {err['msg']}{more}"

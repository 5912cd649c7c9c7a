"""The issuer's record of every key it made (SQLite): enforces one trial per feature and serial.

Several processes may share one file: writes run in BEGIN IMMEDIATE transactions and a
partial unique index makes the database itself refuse a second trial, so exactly one of
two racing issuers wins.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS issued_licenses (
    id           INTEGER PRIMARY KEY,
    license_key  TEXT NOT NULL UNIQUE,
    serial       TEXT NOT NULL,
    feature      TEXT NOT NULL,
    instances    INTEGER NOT NULL CHECK (instances > 0),
    trial        INTEGER NOT NULL CHECK (trial IN (0, 1)),
    issued_at    INTEGER NOT NULL,
    expires_at   INTEGER,
    state        TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'exchanged')),
    replaced_by  TEXT,
    recorded_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_trial_per_feature_and_serial
    ON issued_licenses (serial, feature) WHERE trial = 1;
"""


class RegistryError(RuntimeError):
    """The registry file cannot be opened or used."""


class TrialAlreadyIssuedError(RuntimeError):
    """A trial of this feature was issued for this serial before."""


class DuplicateKeyError(RuntimeError):
    """This exact key text is already recorded (same order in the same second)."""


class AlreadyExchangedError(RuntimeError):
    """The key was exchanged before; its replacement is the one to use."""


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    license_key: str
    serial: str
    feature: str
    instances: int
    trial: bool
    issued_at: int
    expires_at: int | None
    state: str = "active"
    replaced_by: str | None = None


class IssuerRegistry:
    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        """read_only: open an existing registry to read it, creating nothing and taking no lock
        (a snapshot: a writer busy at that moment is neither waited for nor blocked)."""
        self.path = Path(path)
        if read_only:
            if not self.path.is_file():
                raise RegistryError(f"issuer registry {self.path}: no such file")
            try:
                uri = f"file:{self.path.resolve()}?mode=ro&immutable=1"
                self._db = sqlite3.connect(uri, uri=True, isolation_level=None)
                self._db.execute("SELECT 1 FROM issued_licenses LIMIT 1")
            except sqlite3.Error as exc:
                raise RegistryError(f"issuer registry {self.path}: {_message(exc)}") from None
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA busy_timeout = 30000")
            with self._write():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
        except (sqlite3.Error, OSError) as exc:
            raise RegistryError(f"issuer registry {self.path}: {_message(exc)}") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> IssuerRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record_issued(self, entries: list[RegistryEntry]) -> None:
        """Store new keys atomically; a trial seen before fails the whole batch."""
        try:
            with self._write():
                for entry in entries:
                    if entry.trial and self._db.execute(
                        "SELECT 1 FROM issued_licenses WHERE serial = ? AND feature = ? AND trial = 1",
                        (entry.serial, entry.feature),
                    ).fetchone():
                        raise TrialAlreadyIssuedError(
                            f"a trial of {entry.feature} was already issued for feature key {entry.serial}"
                        )
                    self._insert(entry)
        except sqlite3.IntegrityError as exc:
            raise self._integrity(exc, entries) from None
        except sqlite3.Error as exc:
            raise RegistryError(f"issuer registry {self.path}: {_message(exc)}") from None

    def record_exchange(self, pairs: list[tuple[RegistryEntry, RegistryEntry]]) -> None:
        """Mark each old key exchanged (recording it if it was issued elsewhere) and store its replacement."""
        try:
            with self._write():
                for old, new in pairs:
                    row = self._db.execute(
                        "SELECT replaced_by FROM issued_licenses WHERE license_key = ? AND state = 'exchanged'",
                        (old.license_key,),
                    ).fetchone()
                    if row is not None:
                        raise AlreadyExchangedError(f"key {old.license_key} was already exchanged for {row[0]}")
                    self._db.execute(
                        "INSERT OR IGNORE INTO issued_licenses (license_key, serial, feature, instances,"
                        " trial, issued_at, expires_at, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (old.license_key, old.serial, old.feature, old.instances, int(old.trial),
                         old.issued_at, old.expires_at, int(time.time())),
                    )
                    self._db.execute(
                        "UPDATE issued_licenses SET state = 'exchanged', replaced_by = ? WHERE license_key = ?",
                        (new.license_key, old.license_key),
                    )
                    self._insert(new)
        except sqlite3.IntegrityError as exc:
            raise self._integrity(exc, [new for _, new in pairs]) from None
        except sqlite3.Error as exc:
            raise RegistryError(f"issuer registry {self.path}: {_message(exc)}") from None

    def entries(self, serial: str | None = None) -> list[RegistryEntry]:
        query = ("SELECT license_key, serial, feature, instances, trial, issued_at, expires_at, state,"
                 " replaced_by FROM issued_licenses")
        args: tuple[str, ...] = ()
        if serial is not None:
            query += " WHERE serial = ?"
            args = (serial,)
        try:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        except sqlite3.Error as exc:
            raise RegistryError(f"issuer registry {self.path}: {_message(exc)}") from None
        return [RegistryEntry(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7], r[8]) for r in rows]

    def exchanged(self) -> dict[str, str]:
        """Key text -> what replaced it, for every key exchanged to another feature key."""
        try:
            rows = self._db.execute(
                "SELECT o.license_key, o.replaced_by, n.serial FROM issued_licenses o"
                " LEFT JOIN issued_licenses n ON n.license_key = o.replaced_by WHERE o.state = 'exchanged'"
            ).fetchall()
        except sqlite3.Error as exc:
            raise RegistryError(f"issuer registry {self.path}: {_message(exc)}") from None
        return {old: f"replaced by {new} on feature key {serial}" for old, new, serial in rows}

    def _insert(self, entry: RegistryEntry) -> None:
        self._db.execute(
            "INSERT INTO issued_licenses (license_key, serial, feature, instances, trial, issued_at,"
            " expires_at, state, replaced_by, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry.license_key, entry.serial, entry.feature, entry.instances, int(entry.trial),
             entry.issued_at, entry.expires_at, entry.state, entry.replaced_by, int(time.time())),
        )

    def _integrity(self, exc: sqlite3.IntegrityError, entries: list[RegistryEntry]) -> Exception:
        if "issued_licenses.license_key" in str(exc):
            return DuplicateKeyError(f"issuer registry {self.path}: key already recorded")
        if "trial" in str(exc) or "issued_licenses.serial" in str(exc):
            trial = next((e for e in entries if e.trial), None)
            if trial is not None:
                return TrialAlreadyIssuedError(
                    f"a trial of {trial.feature} was already issued for feature key {trial.serial}"
                )
        return RegistryError(f"issuer registry {self.path}: {_message(exc)}")

    def _write(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")  # a full disk fails here, with its own message
            return
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite may have rolled back already (e.g. the disk is full): keep the first error


def _message(exc: BaseException) -> str:
    text = str(exc)
    return text[:1].lower() + text[1:] if text else type(exc).__name__

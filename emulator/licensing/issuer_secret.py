"""Where the issuer's secret comes from: a file, the environment, or the development default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from emulator.licensing.key_signing import DEVELOPMENT_SECRET, MIN_SECRET_BYTES

ENV_SECRET = "IPO_EMU_ISSUER_SECRET"
ENV_SECRET_FILE = "IPO_EMU_ISSUER_SECRET_FILE"
ENV_REQUIRE_SECRET = "IPO_EMU_REQUIRE_SECRET"
"""Set to 1: the development secrets are an error, not a fallback."""


class IssuerSecretError(ValueError):
    """The configured secret cannot be used."""


@dataclass(frozen=True)
class IssuerSecret:
    value: bytes
    origin: str  # for people: where it came from

    @property
    def is_development(self) -> bool:
        return self.value == DEVELOPMENT_SECRET


def load_issuer_secret(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> IssuerSecret:
    """First of: the file given, $IPO_EMU_ISSUER_SECRET, $IPO_EMU_ISSUER_SECRET_FILE, the
    clearly labelled development default (so the emulator runs with zero set-up)."""
    env = os.environ if env is None else env
    if path is None and env.get(ENV_SECRET):
        # the environment's bytes as they are (os.environ keeps undecodable bytes as surrogates)
        return _checked(env[ENV_SECRET].encode("utf-8", "surrogateescape"), f"${ENV_SECRET}", env)
    if path is None and env.get(ENV_SECRET_FILE):
        path = env[ENV_SECRET_FILE]
    if path is not None:
        from emulator.bounded_input import SECRET_FILE_MAX_BYTES, InputError, read_bytes

        try:
            raw = read_bytes(Path(path), "issuer secret file", SECRET_FILE_MAX_BYTES)
        except InputError as exc:
            raise IssuerSecretError(str(exc)) from None
        return _checked(raw.strip(), f"file {path}", env)
    if development_secrets_forbidden(env):
        raise IssuerSecretError(f"${ENV_REQUIRE_SECRET} is set: give the issuer secret in ${ENV_SECRET} or "
                                f"${ENV_SECRET_FILE} (the development secret is refused)")
    return IssuerSecret(DEVELOPMENT_SECRET, "development default (set $IPO_EMU_ISSUER_SECRET for real use)")


def development_secrets_forbidden(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get(ENV_REQUIRE_SECRET, "").strip().lower() in ("1", "true", "yes")


def _checked(value: bytes, origin: str, env: Mapping[str, str]) -> IssuerSecret:
    if len(value) < MIN_SECRET_BYTES:
        raise IssuerSecretError(f"issuer secret from {origin} is shorter than {MIN_SECRET_BYTES} bytes")
    if value == DEVELOPMENT_SECRET and development_secrets_forbidden(env):
        raise IssuerSecretError(f"issuer secret from {origin} is the public development secret, refused "
                                f"because ${ENV_REQUIRE_SECRET} is set")
    return IssuerSecret(value, origin)

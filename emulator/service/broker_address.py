"""`--mqtt mqtt://[user:pass@]host:port` and `mqtts://...` with TLS files: parsed once, checked
with one-line errors naming what is wrong."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit


class BrokerAddressError(ValueError):
    pass


@dataclass(frozen=True)
class TlsFiles:
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: TlsFiles | None = None

    @property
    def url(self) -> str:
        """The address without its password, for messages and logs."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def parse_broker_url(url: str, *, tls_ca: Path | None = None, tls_cert: Path | None = None,
                     tls_key: Path | None = None) -> BrokerAddress:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BrokerAddressError(f"--mqtt {url!r}: {exc}") from None
    if parts.scheme not in ("mqtt", "mqtts"):
        raise BrokerAddressError(f"--mqtt {url!r}: give mqtt://host:port or mqtts://host:port")
    if not parts.hostname:
        raise BrokerAddressError(f"--mqtt {url!r}: no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise BrokerAddressError(f"--mqtt {url!r}: only user, password, host and port are understood")
    tls = None
    if parts.scheme == "mqtts":
        for path, option in ((tls_ca, "--tls-ca"), (tls_cert, "--tls-cert"), (tls_key, "--tls-key")):
            if path is not None and not path.is_file():
                raise BrokerAddressError(f"{option} {path}: no such file")
        if (tls_cert is None) != (tls_key is None):
            raise BrokerAddressError("--tls-cert and --tls-key go together (a client certificate and its key)")
        tls = TlsFiles(tls_ca, tls_cert, tls_key)
    elif tls_ca or tls_cert or tls_key:
        raise BrokerAddressError("--tls-ca/--tls-cert/--tls-key need an mqtts:// broker")
    return BrokerAddress(parts.hostname, port or (8883 if tls else 1883),
                         unquote(parts.username) if parts.username else None,
                         unquote(parts.password) if parts.password is not None else None, tls)

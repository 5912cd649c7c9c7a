"""Real brokers for the service tests: mosquitto started on a free loopback port (the
`mosquitto` Debian package; .ci/run installs it), TLS material made with cryptography."""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def mosquitto_binary() -> str:
    path = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if path is None:
        raise RuntimeError("mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients "
                           "(.ci/run does)")
    return path


@dataclass
class Mosquitto:
    """A mosquitto in the foreground, logging to a file; stop() and start() again on the same port."""

    folder: Path
    port: int = field(default_factory=free_port)
    extra: str = ""
    anonymous: bool = True
    proc: subprocess.Popen | None = None
    tls_port: int | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Mosquitto:
        conf = self.folder / f"mosquitto-{self.port}.conf"
        # set_tcp_nodelay: without it each small message can wait 40 ms for a delayed ACK
        conf.write_text(f"listener {self.port} 127.0.0.1\nset_tcp_nodelay true\n"
                        f"allow_anonymous {str(self.anonymous).lower()}\n"
                        "log_dest stderr\n"
                        # as root it would switch to the mosquitto user, who cannot read the test's files
                        + ("user root\n" if os.geteuid() == 0 else "")
                        +
                        f"log_type error\nlog_type warning\n{self.extra}\n", encoding="utf-8")
        log = open(self.folder / f"mosquitto-{self.port}.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=log, stderr=log)
        log.close()
        _wait_for_port(self.port, self.proc, self.folder / f"mosquitto-{self.port}.log")
        if self.tls_port:
            _wait_for_port(self.tls_port, self.proc, self.folder / f"mosquitto-{self.port}.log")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited: {log.read_text(errors='replace')[-500:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"mosquitto did not listen on {port} within 10 s")


def make_tls_material(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 signed by it, and a client certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    now = datetime.datetime.now(datetime.UTC)

    def key():
        return ec.generate_private_key(ec.SECP256R1())

    def write_key(k, name: str) -> Path:
        path = folder / name
        path.write_bytes(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
        return path

    def write_cert(c, name: str) -> Path:
        path = folder / name
        path.write_bytes(c.public_bytes(serialization.Encoding.PEM))
        return path

    ca_key = key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ipo-emu test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))

    def leaf(cn: str, server: bool):
        k = key()
        builder = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                   .issuer_name(ca_name).public_key(k.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1)))
        if server:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        return k, builder.sign(ca_key, hashes.SHA256())

    server_key, server_cert = leaf("127.0.0.1", True)
    client_key, client_cert = leaf("ipo-emu-client", False)
    return {"ca": write_cert(ca, "ca.pem"), "server_cert": write_cert(server_cert, "server.pem"),
            "server_key": write_key(server_key, "server.key"), "client_cert": write_cert(client_cert, "client.pem"),
            "client_key": write_key(client_key, "client.key")}

"""`ipo-emu serve` and `ipo-emu watch` as users run them: real processes, a real broker, the
watch view read through a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.service.brokers import free_port
from tests.service.probe import Probe

ROOT = Path(__file__).resolve().parents[2]
LIVE_OFFICE = ROOT / "scenarios" / "live-office.yaml"
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]")


def ipo_emu(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "emulator", *args], cwd=kwargs.pop("cwd", None),
                            stdout=kwargs.pop("stdout", subprocess.PIPE), stderr=kwargs.pop("stderr", subprocess.PIPE),
                            **kwargs)


def first_line(proc: subprocess.Popen, timeout: float = 20) -> str:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, f"no first line within {timeout} s: {proc.stderr.read1(4000) if proc.poll() is not None else ''}"
    return proc.stdout.readline().decode().strip()


def _lines_until(proc: subprocess.Popen, done, timeout: float = 20) -> list[str]:
    """Lines a process prints (read straight from its pipe, unbuffered), until done(lines)."""
    lines: list[str] = []
    pending = getattr(proc, "pending_bytes", b"")
    deadline = time.monotonic() + timeout
    while True:
        *complete, pending = pending.split(b"\n")
        lines += [line.decode() for line in complete]
        proc.pending_bytes = pending
        if done(lines):
            return lines
        left = deadline - time.monotonic()
        assert left > 0, f"not seen within {timeout} s; got {lines}"
        ready, _, _ = select.select([proc.stdout], [], [], left)
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            assert chunk, f"the process ended; got {lines}"
            pending += chunk


class PtyReader:
    """Everything a program writes to its terminal, without the escape sequences."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.raw = b""

    def read_until(self, *needles: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while True:
            text = ANSI.sub(b"", self.raw).decode("utf-8", errors="replace")
            if all(n in text for n in needles):
                return text
            left = deadline - time.monotonic()
            assert left > 0, f"{needles} not on the screen within {timeout} s; last screen:\n{text[-3000:]}"
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.2))
            if ready:
                try:
                    self.raw += os.read(self.fd, 65536)
                except OSError:
                    pass


def test_serve_on_the_embedded_broker_watched_in_a_terminal(tmp_path):
    port = free_port()
    report = tmp_path / "report.json"
    serve = ipo_emu("serve", str(LIVE_OFFICE), "--embedded-port", str(port), "--speed", "30",
                    "--report", str(report), cwd=tmp_path)
    try:
        url = first_line(serve)
        assert url == f"mqtt://127.0.0.1:{port}"
        master, slave = os.openpty()
        env = {**os.environ, "COLUMNS": "120", "LINES": "50", "TERM": "xterm-256color"}
        watch = ipo_emu("watch", "--mqtt", url, stdin=slave, stdout=slave, stderr=slave, env=env)
        os.close(slave)
        screen = PtyReader(master)
        try:
            text = screen.read_until("office", "online", "sip_trunk_channels", "key present", "█")
            assert "IP500 6.0" in text
            # the timeline's fifth SIP call at 1m (2 s real at x30) is refused: seen within the minute
            screen.read_until("license_exhausted")

            async def offer() -> dict:
                async with Probe(port, version="3.1.1") as probe:
                    return await probe.command("office", "pull_feature_key")

            assert asyncio.run(offer())["outcome"] == "absent"
            screen.read_until("key absent", "grace ends in")
            watch.send_signal(signal.SIGINT)
            assert watch.wait(10) == 0
        finally:
            if watch.poll() is None:
                watch.kill()
            os.close(master)
    finally:
        serve.send_signal(signal.SIGTERM)
        out, err = serve.communicate(timeout=30)
    assert serve.returncode == 0, err.decode()
    assert err.decode().count("\n") < 12 and "Traceback" not in err.decode(), err.decode()
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["service"]["counters"]["commands"] == 1
    assert data["service"]["mqtt_version"] == "3.1.1"
    assert data["interrupted"] == "SIGTERM"
    assert any("stopped by SIGTERM" in w for w in data["warnings"])


async def test_offline_on_clean_stop_and_last_will_on_a_crash(mosquitto, tmp_path):
    config = tmp_path / "one.yaml"
    config.write_text("name: one\nunits: [{name: solo, licenses: [{feature: sip_trunk_channels, instances: 1}]}]\n",
                      encoding="utf-8")
    async with Probe(mosquitto.port) as probe:
        await probe.subscribe("ipo/solo/status", "ipo/_service/+/status")
        serve = ipo_emu("serve", str(config), "--mqtt", mosquitto.url, "--service-id", "crashy", cwd=tmp_path)
        assert first_line(serve) == mosquitto.url
        assert (await probe.wait_for("ipo/solo/status", lambda s: s["online"], timeout=20))["service"] == "crashy"
        await probe.wait_for("ipo/_service/crashy/status", lambda s: s["online"])
        serve.kill()  # no goodbye: the broker publishes the Last Will
        serve.communicate()
        await probe.wait_for("ipo/_service/crashy/status", lambda s: not s["online"], timeout=30)
        serve = ipo_emu("serve", str(config), "--mqtt", mosquitto.url, "--service-id", "crashy", cwd=tmp_path)
        first_line(serve)
        await probe.wait_for("ipo/_service/crashy/status", lambda s: s["online"], timeout=20)
        serve.send_signal(signal.SIGINT)
        _, err = serve.communicate(timeout=30)
        assert serve.returncode == 0, err.decode()
        await probe.wait_for("ipo/solo/status", lambda s: not s["online"])
        await probe.wait_for("ipo/_service/crashy/status", lambda s: not s["online"])


def test_serve_refuses_bad_options_in_one_line(tmp_path):
    cases = [
        (["--mqtt", "http://x"], "--mqtt"),
        (["--prefix", "a/+/b"], "--prefix"),
        (["--prefix", "$share/g"], "--prefix"),
        (["--service-id", "bad id"], "--service-id"),
        (["--mqtt-version", "4"], "--mqtt-version"),
        (["--state-interval", "1ms"], "--state-interval"),
        (["--for", "0s"], "--for"),
        (["--tls-ca", "/etc/hostname"], "--tls"),
    ]
    for args, named in cases:
        proc = subprocess.run([sys.executable, "-m", "emulator", "serve", str(LIVE_OFFICE), *args],
                              capture_output=True, text=True, timeout=30, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and named in lines[0] and "Traceback" not in proc.stderr, (args, proc.stderr)


async def test_a_unit_is_served_by_one_process_only(mosquitto, tmp_path):
    config = tmp_path / "one.yaml"
    config.write_text("name: one\nunits: [{name: solo}]\n", encoding="utf-8")
    first = ipo_emu("serve", str(config), "--mqtt", mosquitto.url, "--service-id", "first", cwd=tmp_path)
    try:
        first_line(first)
        async with Probe(mosquitto.port) as probe:
            await probe.subscribe("ipo/solo/status")
            await probe.wait_for("ipo/solo/status", lambda s: s["online"] and s["service"] == "first", timeout=20)
        second = subprocess.run([sys.executable, "-m", "emulator", "serve", str(config), "--mqtt", mosquitto.url,
                                 "--service-id", "second"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert second.returncode == 2
        assert "unit solo is already served by first" in second.stderr
        assert len(second.stderr.strip().splitlines()) <= 2, second.stderr  # the URL line, the error
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    # stopped cleanly: another service may take the unit now
    second = ipo_emu("serve", str(config), "--mqtt", mosquitto.url, "--service-id", "second", "--for", "1s",
                     cwd=tmp_path)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 0, err.decode()


def test_the_readme_lines_drive_a_served_unit_by_hand(tmp_path):
    """README's live-units commands, with the embedded broker's port: mosquitto_sub and
    mosquitto_pub (MQTT 3.1.1, no reply topic) get their replies on ipo/office/reply."""
    port = free_port()
    serve = ipo_emu("serve", str(LIVE_OFFICE), "--embedded-port", str(port), cwd=tmp_path)
    try:
        first_line(serve)
        # subscribed to the retained status too: once it shows, the subscription is in place
        sub = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-v", "-t", "ipo/office/reply",
                                "-t", "ipo/office/status"], stdout=subprocess.PIPE)
        try:
            lines = _lines_until(sub, lambda got: any(line.startswith("ipo/office/status ") for line in got))
            for args in (["-m", '{"a": "sip1", "b": "203", "call_id": "c1"}'], ["-n"]):
                verb = "offer_call" if args[0] == "-m" else "pull_feature_key"
                subprocess.run(["mosquitto_pub", "-p", str(port), "-q", "1", "-t", f"ipo/office/cmd/{verb}", *args],
                               check=True, timeout=20)
            lines = _lines_until(sub, lambda got: sum(line.startswith("ipo/office/reply ") for line in got) >= 2)
        finally:
            sub.kill()
            sub.communicate()
        replies = [json.loads(line.split(" ", 1)[1]) for line in lines if line.startswith("ipo/office/reply ")]
        assert [(r["verb"], r["outcome"]) for r in replies] == [("offer_call", "admitted"),
                                                                ("pull_feature_key", "absent")]
    finally:
        serve.send_signal(signal.SIGINT)
        serve.communicate(timeout=30)
    assert serve.returncode == 0


def test_a_journal_on_a_full_disk_ends_the_service_in_one_line(tmp_path):
    """/dev/full: every write fails with ENOSPC, as on a full disk."""
    proc = subprocess.run([sys.executable, "-m", "emulator", "serve", str(LIVE_OFFICE), "--embedded-port",
                           str(free_port()), "--journal", "/dev/full", "--speed", "100", "--for", "10m"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "--journal" in errors[0] and "/dev/full" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr

"""Feature-key backends chosen by URL; the virtual key; third-party backends by entry point."""

from __future__ import annotations

import sys
import textwrap

import pytest

from hardware.feature_keys import (
    FeatureKey,
    FeatureKeyAbsentError,
    FeatureKeyConfigError,
    available_interfaces,
    open_feature_key,
)
from hardware.feature_keys.virtual import VirtualFeatureKey


async def test_virtual_key_reads_its_serial_and_can_be_pulled():
    key = open_feature_key("virtual:12345678")
    assert isinstance(key, VirtualFeatureKey) and key.url == "virtual:12345678"
    assert await key.read_serial() == "12345678"
    key.remove()
    with pytest.raises(FeatureKeyAbsentError):
        await key.read_serial()
    key.insert("87654321")
    assert await key.read_serial() == "87654321" and key.url == "virtual:87654321"


async def test_close_is_idempotent_and_a_closed_key_is_absent():
    async with open_feature_key("virtual:12345678") as key:
        pass
    await key.close()
    assert key.closed
    with pytest.raises(FeatureKeyAbsentError):
        await key.read_serial()


@pytest.mark.parametrize(("url", "message"), [
    ("12345678", "not of the form INTERFACE:CHANNEL"),
    (":12345678", "not of the form INTERFACE:CHANNEL"),
    ("warp:1234", "unknown feature-key interface 'warp'"),
    ("virtual:", "needs a serial number"),
])
def test_bad_urls_are_clear_errors(url, message):
    with pytest.raises(FeatureKeyConfigError, match=message):
        open_feature_key(url)


def test_interface_names_are_case_insensitive():
    assert isinstance(open_feature_key("VIRTUAL:1234"), VirtualFeatureKey)


@pytest.fixture
def plugin_on_path(tmp_path, monkeypatch):
    """A real installed-looking distribution declaring a backend in our entry-point group."""
    (tmp_path / "acme_keys.py").write_text(textwrap.dedent('''
        from hardware.feature_keys import FeatureKey

        class AcmeKey(FeatureKey):
            interface = "acme"

            async def read_serial(self):
                return "ACME" + self.channel

        class NotAKey:
            pass
    '''))
    dist = tmp_path / "acme_keys-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-keys\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[ipo_emu.feature_keys]\nacme = acme_keys:AcmeKey\nbroken = acme_keys:NotAKey\nmissing = no_such_module:X\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("acme_keys", None)


async def test_third_party_backend_via_entry_point(plugin_on_path):
    assert "acme" in available_interfaces()
    key = open_feature_key("acme:0042")
    assert isinstance(key, FeatureKey)
    assert await key.read_serial() == "ACME0042"


def test_broken_plugins_fail_alone_and_clearly(plugin_on_path):
    with pytest.raises(FeatureKeyConfigError, match="'broken' is not a FeatureKey backend"):
        open_feature_key("broken:1")
    with pytest.raises(FeatureKeyConfigError, match="'missing' cannot be loaded"):
        open_feature_key("missing:1")
    assert isinstance(open_feature_key("virtual:1234"), VirtualFeatureKey)

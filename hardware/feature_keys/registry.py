"""Choosing a feature-key backend by URL, python-can style.

Built-in backends are listed by module path and imported only when chosen, so a missing
driver breaks only its own backend. Third parties add backends through the entry-point
group "ipo_emu.feature_keys" (name = "package.module:Class").
"""

from __future__ import annotations

import functools
import importlib
from importlib.metadata import entry_points

from hardware.feature_keys.base import FeatureKey, FeatureKeyConfigError

ENTRY_POINT_GROUP = "ipo_emu.feature_keys"

BACKENDS: dict[str, tuple[str, str]] = {
    "virtual": ("hardware.feature_keys.virtual", "VirtualFeatureKey"),
    "serial": ("hardware.feature_keys.serial_key", "SerialFeatureKey"),
    "usb": ("hardware.feature_keys.serial_key", "UsbFeatureKey"),
    "smartcard": ("hardware.feature_keys.cards", "SmartCardKey"),
    "sdcard": ("hardware.feature_keys.cards", "SdCardKey"),
}

# What each interface is, in the terms of firmware_models (ControlUnitModel.feature_key_types);
# a unit is checked against it. Interfaces not listed (virtual, plugins) fit any unit.
KEY_TYPES = {"serial": "serial", "usb": "usb", "smartcard": "smart_card", "sdcard": "sd_card"}


@functools.cache
def _all_backends() -> dict[str, tuple[str, str]]:
    """The built-in backends and the entry points' (read once: scanning the installed
    packages costs milliseconds, and a fleet opens a key per unit)."""
    backends = dict(BACKENDS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        module, _, attr = ep.value.partition(":")
        backends.setdefault(ep.name, (module, attr))
    return backends


def available_interfaces() -> list[str]:
    _all_backends.cache_clear()  # rarely asked: look at the installed packages again
    return sorted(_all_backends())


def backend_class(interface: str) -> type[FeatureKey]:
    backends = _all_backends()
    if interface not in backends:  # installed since the first look? Look once more
        _all_backends.cache_clear()
        backends = _all_backends()
    if interface not in backends:
        known = ", ".join(sorted(backends))
        raise FeatureKeyConfigError(f"unknown feature-key interface {interface!r} (known: {known})")
    module_name, class_name = backends[interface]
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise FeatureKeyConfigError(f"feature-key interface {interface!r} cannot be loaded: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, FeatureKey)):
        raise FeatureKeyConfigError(f"feature-key interface {interface!r} is not a FeatureKey backend")
    return cls


def open_feature_key(url: str) -> FeatureKey:
    """A feature key from a URL such as "virtual:12345678" or "serial:///dev/ttyUSB0?baudrate=9600"."""
    interface, sep, channel = url.partition(":")
    if not sep or not interface:
        raise FeatureKeyConfigError(
            f"feature key {url!r} is not of the form INTERFACE:CHANNEL (e.g. virtual:12345678)"
        )
    return backend_class(interface.lower()).from_channel(channel)

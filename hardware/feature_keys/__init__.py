"""Feature-key devices whose serial number licenses are bound to."""

from hardware.feature_keys.base import (
    FeatureKey,
    FeatureKeyAbsentError,
    FeatureKeyConfigError,
    FeatureKeyError,
)
from hardware.feature_keys.registry import (
    BACKENDS,
    ENTRY_POINT_GROUP,
    available_interfaces,
    backend_class,
    open_feature_key,
)

__all__ = [
    "BACKENDS",
    "ENTRY_POINT_GROUP",
    "FeatureKey",
    "FeatureKeyAbsentError",
    "FeatureKeyConfigError",
    "FeatureKeyError",
    "available_interfaces",
    "backend_class",
    "open_feature_key",
]

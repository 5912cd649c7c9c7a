"""Control-unit capacities and license catalogues, one validated data file per release."""

from firmware_models.loader import (
    FeatureCodes,
    ModelDataError,
    available_releases,
    feature_codes,
    hardware_catalogue,
    load_release,
    load_release_file,
    sources,
)
from firmware_models.schema import (
    IP_PHONE_KINDS,
    Codec,
    ConsumptionKind,
    ControlUnitModel,
    HardwareCatalogue,
    PhoneModel,
    VcmModuleType,
    LicenseSet,
    LicenseSpec,
    PoolSpec,
    Release,
)

__all__ = [
    "IP_PHONE_KINDS",
    "Codec",
    "HardwareCatalogue",
    "PhoneModel",
    "VcmModuleType",
    "hardware_catalogue",
    "ConsumptionKind",
    "ControlUnitModel",
    "FeatureCodes",
    "LicenseSet",
    "LicenseSpec",
    "ModelDataError",
    "PoolSpec",
    "Release",
    "available_releases",
    "feature_codes",
    "load_release",
    "load_release_file",
    "sources",
]

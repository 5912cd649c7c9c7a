"""Control-unit capacities and license catalogues, one validated data file per release."""

from firmware_models.loader import (
    FeatureCodes,
    ModelDataError,
    available_releases,
    feature_codes,
    load_release,
    load_release_file,
)
from firmware_models.schema import (
    ConsumptionKind,
    ControlUnitModel,
    LicenseSet,
    LicenseSpec,
    PoolSpec,
    Release,
)

__all__ = [
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
]

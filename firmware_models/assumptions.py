"""Every choice the data makes where the reference is silent, gathered from one release."""

from __future__ import annotations

from dataclasses import dataclass

from firmware_models.schema import HardwareCatalogue, Release


@dataclass(frozen=True, slots=True)
class AssumptionEntry:
    release: str
    where: str  # dotted path into the data file
    value: str  # the chosen value or rule
    reason: str


def collect_assumptions(release: Release) -> list[AssumptionEntry]:
    rel = release.release
    out: list[AssumptionEntry] = []
    for name, fig in release.feature_key:
        if fig.assumption:
            out.append(AssumptionEntry(rel, f"feature_key.{name}", str(fig.value), fig.assumption))
    for unit in release.control_units:
        if unit.assumption:
            out.append(AssumptionEntry(rel, f"control_units.{unit.id}", "modelled in this release", unit.assumption))
        for cap, fig in unit.capacities.items():
            if fig.assumption:
                out.append(AssumptionEntry(rel, f"control_units.{unit.id}.capacities.{cap}", str(fig.value), fig.assumption))
    for pool_id, pool in release.pools.items():
        if pool.assumption:
            value = f"consumed {pool.consumed}, capped by {pool.capped_by or 'nothing'}"
            out.append(AssumptionEntry(rel, f"pools.{pool_id}", value, pool.assumption))
    for lic in release.licenses:
        if lic.assumption:
            requires = ", ".join(lic.requires) or "nothing"
            grants = ", ".join(f"{p} x{n}" for p, n in lic.pool_grants().items())
            out.append(AssumptionEntry(rel, f"licenses.{lic.id}", f"requires {requires}; grants {grants}", lic.assumption))
    for lset in release.license_sets:
        if lset.assumption:
            out.append(AssumptionEntry(rel, f"license_sets.{lset.id}", str(lset.expands_to), lset.assumption))
    for name, policy in (("endpoints", release.endpoints), ("vcm", release.vcm), ("voicemail", release.voicemail)):
        if policy.assumption:
            out.append(AssumptionEntry(rel, name, "see the data file", policy.assumption))
    for name in ("lite_ports", "embedded_ports"):
        fig = getattr(release.voicemail, name)
        if fig.assumption:
            out.append(AssumptionEntry(rel, f"voicemail.{name}", str(fig.value), fig.assumption))
    for general in release.assumptions:
        out.append(AssumptionEntry(rel, f"assumptions: {general.topic}", general.choice, general.reason))
    return out


def collect_hardware_assumptions(catalogue: HardwareCatalogue) -> list[AssumptionEntry]:
    out = [AssumptionEntry("all", f"hardware.call_appearances.{kind}", str(fig.value), fig.assumption)
           for kind, fig in catalogue.call_appearances.items() if fig.assumption]
    out += [AssumptionEntry("all", f"hardware.phones.{p.model}", p.kind, p.assumption)
            for p in catalogue.phones if p.assumption]
    out += [AssumptionEntry("all", f"hardware.vcm_modules.{m.type}", str(m.channels), m.assumption)
            for m in catalogue.vcm_modules if m.assumption]
    return out

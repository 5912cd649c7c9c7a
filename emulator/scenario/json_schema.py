"""The JSON Schema of scenario files, for editors: the pydantic schema plus what the data knows.

pydantic gives the structure, types and descriptions. The names that come from the firmware
data (control unit models, releases, phone models, VCM modules, license ids and license
sets) are added here as enums, so an editor can offer them; and the YAML shortcuts the
loader accepts (`release: 6.0` and `extension: 202` written as numbers) are allowed.
"""

from __future__ import annotations

from typing import Any

from emulator.scenario.schema import ACTIONS, Scenario
from firmware_models import available_releases, hardware_catalogue, load_release


def scenario_json_schema() -> dict[str, Any]:
    schema = Scenario.model_json_schema(by_alias=True)
    releases = [load_release(name) for name in available_releases()]
    models = sorted({form for r in releases for u in r.control_units for form in (u.name, u.id)})
    features = sorted({lic for r in releases for lic in r.licenses_by_id()} | {s.id for r in releases for s in r.license_sets})
    catalogue = hardware_catalogue()
    defs = schema["$defs"]
    unit = defs["ScenarioUnit"]["properties"]
    unit["model"]["enum"] = models
    unit["release"] = _with(unit["release"], {"anyOf": [
        {"type": "string", "enum": list(available_releases())},
        {"type": "number", "enum": [float(r) for r in available_releases()]}]})
    users = defs["UserConfig"]["properties"]
    users["phone"]["enum"] = [p.model for p in catalogue.phones]
    for name in ("extension", "login_code"):
        users[name] = _digits(users[name])
    mobility = users["mobility"]
    users["mobility"] = _with(mobility, {"anyOf": [{k: v for k, v in mobility.items() if k in ("type", "items")},
                                                   {"type": "boolean"}]})
    defs["VcmModuleConfig"]["properties"]["type"]["enum"] = [m.type for m in catalogue.vcm_modules]
    spec = defs["LicenseSpec"]["properties"]
    spec["feature"]["enum"] = features
    spec["serial"] = _digits(spec["serial"])
    defs["LicenseSelector"]["properties"]["feature"]["enum"] = features
    # "Exactly one of" rules that pydantic checks in model validators:
    defs["Event"]["oneOf"] = [{"required": [action]} for action in ACTIONS]
    defs["Traffic"]["oneOf"] = [{"required": [rate]} for rate in ("calls_per_hour", "busy_hour_calls", "erlangs", "ramp")]
    defs["Expectation"]["oneOf"] = [{"required": [kind]} for kind in ("calls", "peak", "license", "events", "blocking")]
    defs["Expectation"]["anyOf"] = [{"required": [judge]} for judge in ("equals", "at_least", "at_most", "status",
                                                                         "tolerance")]
    # A run is timed by its duration, or by the calls it replays (then without start or duration):
    schema["oneOf"] = [{"required": ["duration"], "not": {"required": ["replay"]}},
                       {"required": ["replay"], "not": {"anyOf": [{"required": ["start"]}, {"required": ["duration"]}]}}]
    return schema


def _with(prop: dict, replacement: dict) -> dict:
    """A property's schema replaced, keeping its description and default."""
    return {**{k: v for k, v in prop.items() if k in ("description", "default", "title")}, **replacement}


def _digits(prop: dict) -> dict:
    """Digits written as text, or as a number in YAML (which the loader turns into text)."""
    def text_or_number(branch: dict) -> list[dict]:
        if branch.get("type") == "string":
            return [branch, {"type": "integer", "minimum": 0}]
        return [branch]

    if "anyOf" in prop:
        return {**prop, "anyOf": [b for branch in prop["anyOf"] for b in text_or_number(branch)]}
    string = {k: v for k, v in prop.items() if k in ("type", "pattern")}
    return _with(prop, {"anyOf": text_or_number(string)})

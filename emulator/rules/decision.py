"""What the rules answer: accepted or not, the outcome, and the reason code when refused."""

from __future__ import annotations

from typing import NamedTuple

from emulator.reasons import Reason


class Decision(NamedTuple):
    accepted: bool
    outcome: str
    """admitted, rejected, connected, held, ended, registered, registered_unlicensed,
    unregistered, started, fallback, stopped."""
    reason: Reason | None = None
    detail: str = ""


ADMITTED = Decision(True, "admitted")
CONNECTED = Decision(True, "connected")
ENDED = Decision(True, "ended")
HELD = Decision(True, "held")
RESUMED = Decision(True, "resumed")
REGISTERED = Decision(True, "registered")
UNREGISTERED = Decision(True, "unregistered")
STARTED = Decision(True, "started")
STOPPED = Decision(True, "stopped")
JOINED = Decision(True, "joined")
LEFT = Decision(True, "left")

_REJECTIONS: dict[tuple[Reason, str], Decision] = {}


def rejected(reason: Reason, detail: str = "") -> Decision:
    """A refusal. Details are pool ids and party names, a bounded set, so each distinct
    refusal is built once and shared: refusing stays as cheap as admitting."""
    decision = _REJECTIONS.get((reason, detail))
    if decision is None:
        decision = _REJECTIONS[(reason, detail)] = Decision(False, "rejected", reason, detail)
    return decision


class CoreEvent(NamedTuple):
    """Something the unit did on its own (a license expiring, a user losing Mobility)."""

    at: float
    name: str
    data: dict

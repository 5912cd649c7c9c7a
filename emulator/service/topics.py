"""The MQTT topic tree (docs/mqtt.md). Names only: no client, no I/O.

    <prefix>/<unit>/status            retained: online/offline, model, release, feature key
    <prefix>/<unit>/licenses          retained: every pool and key, on change (rate-limited)
    <prefix>/<unit>/events            decision events in batches
    <prefix>/<unit>/cmd/<verb>        commands to the unit
    <prefix>/<unit>/reply             replies to commands that named no reply topic
    <prefix>/_service/<id>/status     retained: the serving process; its Last Will says offline

A process announces each unit it serves under the unit's name, and the unit is online while
both its status and its service's status say so (the broker can hold one Last Will per
connection, so the will is the service's, as Sparkplug does for a node and its devices).
"""

from __future__ import annotations

import re

SERVICE_LEVEL = "_service"
_LEVEL = re.compile(r"[^/+#\x00]+")
_SERVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class TopicError(ValueError):
    """A prefix, unit name or service id that cannot be used in the topic tree."""


def check_prefix(prefix: str) -> str:
    """A prefix of one or more levels, without wildcards, not a $-topic."""
    if not prefix or len(prefix) > 200:
        raise TopicError("--prefix: give 1 to 200 characters, e.g. ipo or lab/ipo")
    if prefix.startswith("$"):
        raise TopicError(f"--prefix {prefix!r}: topics starting with '$' belong to the broker "
                         "(and $share/ would share one unit's commands between processes)")
    if not all(_LEVEL.fullmatch(level) for level in prefix.split("/")):
        raise TopicError(f"--prefix {prefix!r}: no empty levels, '+', '#' or NUL")
    return prefix


def check_service_id(service_id: str) -> str:
    if not _SERVICE_ID.fullmatch(service_id):
        raise TopicError(f"--service-id {service_id!r}: use up to 100 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit")
    return service_id


class Topics:
    __slots__ = ("prefix",)

    def __init__(self, prefix: str = "ipo") -> None:
        self.prefix = check_prefix(prefix)

    def status(self, unit: str) -> str:
        return f"{self.prefix}/{unit}/status"

    def licenses(self, unit: str) -> str:
        return f"{self.prefix}/{unit}/licenses"

    def events(self, unit: str) -> str:
        return f"{self.prefix}/{unit}/events"

    def reply(self, unit: str) -> str:
        return f"{self.prefix}/{unit}/reply"

    def command(self, unit: str, verb: str) -> str:
        return f"{self.prefix}/{unit}/cmd/{verb}"

    def commands_of(self, unit: str) -> str:
        """The subscription for one unit's commands (never a shared subscription)."""
        return f"{self.prefix}/{unit}/cmd/+"

    def service_status(self, service_id: str) -> str:
        return f"{self.prefix}/{SERVICE_LEVEL}/{service_id}/status"

    def all_service_statuses(self) -> str:
        return f"{self.prefix}/{SERVICE_LEVEL}/+/status"

    def all_unit_topics(self) -> list[str]:
        """What `ipo-emu watch` subscribes to for every unit."""
        return [f"{self.prefix}/+/status", f"{self.prefix}/+/licenses", f"{self.prefix}/+/events"]

    def parse(self, topic: str) -> tuple[str, str, str] | None:
        """(unit, kind, verb) of a topic under the prefix: kind is status, licenses, events,
        reply or cmd (verb set for cmd only); None for anything else."""
        head = self.prefix + "/"
        if not topic.startswith(head):
            return None
        parts = topic[len(head):].split("/")
        if len(parts) == 2 and parts[0] != SERVICE_LEVEL and parts[1] in ("status", "licenses", "events", "reply"):
            return parts[0], parts[1], ""
        if len(parts) == 3 and parts[1] == "cmd" and parts[0] != SERVICE_LEVEL:
            return parts[0], "cmd", parts[2]
        return None

    def parse_service(self, topic: str) -> str | None:
        """The service id of a service status topic, else None."""
        head = f"{self.prefix}/{SERVICE_LEVEL}/"
        if topic.startswith(head) and topic.endswith("/status"):
            service = topic[len(head):-len("/status")]
            return service if "/" not in service else None
        return None

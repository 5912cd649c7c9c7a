"""Event names, the event sink, and structlog set-up."""

from emulator.telemetry.events import EVENT_NAMES, Event, EventSink

__all__ = ["EVENT_NAMES", "Event", "EventSink"]

"""structlog set-up, and a subscriber that logs events under their stable names."""

from __future__ import annotations

import logging
import sys

import structlog

from emulator.telemetry.events import Event


def configure_logging(*, level: str = "info", json: bool = False) -> None:
    """Logs to stderr, as JSON lines or as readable key=value pairs."""
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[structlog.processors.add_log_level, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


class LogSubscriber:
    """Logs each event at info level: event=<name> unit=<unit> t=<time> plus its fields."""

    def __init__(self, logger: structlog.typing.FilteringBoundLogger | None = None) -> None:
        self.log = logger or structlog.get_logger("ipo_emu")

    def __call__(self, event: Event) -> None:
        self.log.info(event.name, unit=event.unit, t=event.at, **event.data)

"""structlog set-up: JSON lines distributed, readable lines embedded; the correlation id rides in contextvars."""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

CORRELATION_HEADER = "X-Correlation-ID"


# What the embedded console shows at INFO besides warnings and errors: the gateway's requests (one short line
# each) and the few events a person at the console acts on. `terminarz run --verbose` shows every line.
CONSOLE_EVENTS = frozenset({"rules.loaded", "rules.rejected", "secrets.created", "stopping", "backup.written"})
# Bound around work the console need not narrate line by line (e.g. loading the demo): `with bound(**CONSOLE_OFF)`.
CONSOLE_OFF = {"console": "off"}


def _console_filter(quiet: bool) -> Any:
    def keep(_logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
        if method in ("warning", "error", "critical", "exception"):
            return event
        if quiet or event.get("console") == "off":
            raise structlog.DropEvent
        name = event.get("event")
        if name == "http.request" and event.get("service") == "gateway":
            # One line per request the person (or their browser) made: "GET /cases 200 12.3 ms".
            return {"event": f"{event.get('method')} {event.get('path')} {event.get('status')} {event.get('ms')} ms",
                    "timestamp": event.get("timestamp"), "level": event.get("level")}
        if name in CONSOLE_EVENTS:
            return event
        raise structlog.DropEvent
    return keep


def configure_logging(*, json: bool, level: str = "INFO", console: str | None = None) -> None:
    """`console`: None logs every event at `level`; "brief" (the embedded `run`) keeps warnings, errors, one line
    per gateway request and `CONSOLE_EVENTS`; "quiet" keeps warnings and errors only."""
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    if console is not None:
        processors.append(_console_filter(console == "quiet"))
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )


def new_correlation_id() -> str:
    return uuid.uuid4().hex


_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def accepted_correlation_id(value: str | None) -> str | None:
    """A caller's correlation id when it is safe to log and pass on in headers; None means make a new one."""
    return value if value is not None and _CORRELATION_ID.match(value) else None


def current_correlation_id() -> str | None:
    value = structlog.contextvars.get_contextvars().get("correlation_id")
    return str(value) if value else None


@contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Bind values (e.g. correlation_id, service) to every log line inside the block."""
    with structlog.contextvars.bound_contextvars(**values):
        yield


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)

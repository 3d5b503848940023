"""``streamq worker --json``: each log line a JSON object, for log shippers."""

from __future__ import annotations

import sys

import structlog


def use_json_logs() -> None:
    """Write each log event as one line of JSON on stdout: ``event``, ``level``,
    ``timestamp`` (ISO 8601, UTC), the event's fields and the context variables bound with
    ``structlog.contextvars``; an exception as a structured traceback. An App module that
    configures structlog itself when it is imported overrides this."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
    )

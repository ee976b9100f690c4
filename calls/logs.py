"""Structured logging: one JSON object per line, tagged with the current request or connection id."""

from __future__ import annotations

import contextvars
import logging
import secrets
from datetime import UTC, datetime

import orjson

# Set per HTTP request (RequestIdMiddleware) and per WebSocket connection (the consumer).
context_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("rtc_context_id", default=None)

_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "context_id"}


def new_id() -> str:
    """A short random id for a request or connection."""
    return secrets.token_hex(6)


class ContextFilter(logging.Filter):
    """Copies the current request/connection id onto every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.context_id = context_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """Formats a record as a JSON line; `extra={...}` fields become keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if getattr(record, "context_id", None):
            entry["id"] = record.context_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()

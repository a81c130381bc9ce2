"""Time: an injectable clock and the one wire format for timestamps.

Timestamps are RFC 3339 UTC with a ``Z`` suffix and whole seconds
(``2024-01-15T10:30:00Z``), as in the API seeds. Everything that deals with time
takes ``now`` (or a :data:`Clock`) as an argument so tests can pin it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainSerializer

__all__ = ["Clock", "Timestamp", "format_timestamp", "utcnow"]

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (the default :data:`Clock`)."""
    return datetime.now(UTC)


def format_timestamp(value: datetime) -> str:
    """RFC 3339 UTC with ``Z``; naive values are taken to be UTC already."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[
    datetime, PlainSerializer(format_timestamp, return_type=str, when_used="json")
]
"""A datetime field that serializes as ``2024-01-15T10:30:00Z`` in JSON."""

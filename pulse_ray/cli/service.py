"""What commands that talk to the running service share: the SDK client and JSON input."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pulse_ray.errors import ValidationError
from pulse_ray.sdk import Pulse

__all__ = ["client", "json_argument"]


def client(api_key: str | None = None) -> Pulse:
    """The SDK client, with ``api_key`` or the key and URL the SDK finds
    (``PULSE_API_KEY``, ``PULSE_BASE_URL``, or `pulse auth login`). Commands call it
    through this module so tests can hand them a client over a mocked transport."""
    return Pulse(api_key)


def json_argument(value: str, *, field: str) -> dict[str, Any]:
    """A JSON object given inline, as ``@file.json``, or as ``-`` (stdin)."""
    if value == "-":
        text = sys.stdin.read()
    elif value.startswith("@"):
        try:
            text = Path(value[1:]).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise ValidationError.for_field(field, f"cannot read {value[1:]}: {exc}") from None
    else:
        text = value
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise ValidationError.for_field(field, f"is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise ValidationError.for_field(field, "must be a JSON object")
    return parsed

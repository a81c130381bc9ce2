"""Caps on what one request may carry, beyond its byte size: items per array and
characters per string, from the settings. Checked on the parsed JSON body before any
route sees it, so every resource gets them without declaring them."""

from __future__ import annotations

from typing import Any

from pulse_ray.errors import ErrorDetail, ValidationError

__all__ = ["check_caps"]

_MAX_DETAILS = 20


def check_caps(body: Any, *, max_items: int, max_string_length: int) -> None:
    """Raises ValidationError naming each over-long array or string by dotted path."""
    details: list[ErrorDetail] = []

    def walk(value: Any, path: str) -> None:
        if len(details) >= _MAX_DETAILS:
            return
        if isinstance(value, str):
            if len(value) > max_string_length:
                details.append(ErrorDetail(path or "body",
                                           f"must be at most {max_string_length} characters"))
        elif isinstance(value, list):
            if len(value) > max_items:
                details.append(ErrorDetail(path or "body",
                                           f"must have at most {max_items} items"))
                return
            for i, item in enumerate(value):
                walk(item, f"{path}.{i}" if path else str(i))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(key, path)
                walk(item, f"{path}.{key}" if path else str(key))

    walk(body, "")
    if details:
        raise ValidationError("Request exceeds a size limit", details=details)

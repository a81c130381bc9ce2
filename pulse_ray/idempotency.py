"""Idempotent POSTs: rules for ``Idempotency-Key`` (no I/O; the store keeps records).

The same key with the same request within 24 h gets the first response again and
creates nothing new; with a different request it is refused (422), and while the
first is still running it gets 409. Only successful (2xx) answers are kept: after a
failure the client may retry with the same key, as with Stripe. Keys belong to the
API key that sent them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pulse_ray.errors import ConflictError, IdempotencyMismatchError, ValidationError

__all__ = ["HEADER", "ParsedBody", "Replay", "check_key", "fingerprint", "replay_or_refuse"]

HEADER = "Idempotency-Key"
_MAX_LENGTH = 255


def check_key(value: str) -> str:
    """Raises ValidationError unless ``value`` is 1–255 printable ASCII characters."""
    if not 0 < len(value) <= _MAX_LENGTH or not value.isascii() or not value.isprintable():
        raise ValidationError.for_field(
            HEADER, f"must be 1 to {_MAX_LENGTH} printable ASCII characters (a UUID will do)"
        )
    return value


@dataclass(frozen=True, slots=True)
class ParsedBody:
    """A JSON body its reader has parsed already, so :func:`fingerprint` does not
    parse it again."""

    value: Any


def fingerprint(method: str, path: str, query: str, body: bytes | ParsedBody) -> str:
    """What makes two requests "the same": method, path, query and body, with a JSON
    body compared by content (key order and spacing do not matter).

    Args:
        body: as sent (parsed here if it is JSON), or already parsed.
    """
    if isinstance(body, ParsedBody):
        canonical = _canonical(body.value)
    else:
        try:
            canonical = _canonical(json.loads(body))
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested deeper
            # than the parser goes: compared as sent
            canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), query.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Replay:
    status_code: int
    content_type: str | None
    body: bytes


def replay_or_refuse(
    *, request_hash: str, stored_hash: str, status_code: int | None,
    content_type: str | None, body: bytes | None,
) -> Replay:
    """What to answer when the key was already used.

    Raises:
        IdempotencyMismatchError: the key was used for a different request.
        ConflictError: the first request with this key is still running.
    """
    if stored_hash != request_hash:
        raise IdempotencyMismatchError(
            f"This {HEADER} was already used with a different request; use a new key",
        )
    if status_code is None:
        raise ConflictError(
            f"A request with this {HEADER} is still being processed; retry shortly",
        )
    return Replay(status_code=status_code, content_type=content_type, body=body or b"")

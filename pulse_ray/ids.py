"""Prefixed, opaque, URL-safe ids that sort by creation time.

An id is ``<prefix>_<22 base62 chars>`` encoding 128 bits: 48 bits of Unix
milliseconds followed by 80 random bits (the ULID layout). Because the base62
alphabet is in ASCII order and the width is fixed, comparing two ids as strings
compares their creation times, which is what keyset pagination (``starting_after``)
relies on. Ids made in one process within the same millisecond take the previous
one's random bits plus one (ULID's monotonic mode), so a list "newest first" keeps the
order things happened in even when several were made in one millisecond.
"""

from __future__ import annotations

import secrets
import threading
from datetime import UTC, datetime
from enum import StrEnum

__all__ = ["BASE62", "IdPrefix", "b62encode", "created_at", "has_prefix", "new_id"]

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ID_WIDTH = 22  # ceil(128 / log2(62))
_RANDOM_BITS = 80


class _Monotonic:
    """The last id's millisecond and random bits, for ULID's monotonic mode."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._millis = -1
        self._random = 0

    def next(self, millis: int) -> int:
        with self._lock:
            if millis == self._millis and self._random + 1 < (1 << _RANDOM_BITS):
                self._random += 1
            else:
                self._millis, self._random = millis, secrets.randbits(_RANDOM_BITS - 1)
            return (millis << _RANDOM_BITS) | self._random


_MONOTONIC = _Monotonic()


class IdPrefix(StrEnum):
    """The resources Pulse names itself (``sess_`` and ``prod_`` come from clients)."""

    INFERENCE = "inf"
    RUN = "run"
    SNAPSHOT = "snap"
    DATASOURCE = "ds"
    KEY = "key"
    WEBHOOK = "wh"
    MESSAGE = "msg"
    TAGGING_JOB = "tagjob"
    CONVERSION = "conv"
    AUDIT = "aud"
    ROLLOUT = "rol"
    RETRAIN = "rtr"
    # Internal: never part of a URL (models are addressed by name, versions by number).
    MODEL = "mdl"
    VERSION = "ver"
    PROMOTION = "prm"


def b62encode(value: int, width: int) -> str:
    """Fixed-width base62 of a non-negative integer (left-padded with ``0``)."""
    chars = []
    while value:
        value, rem = divmod(value, 62)
        chars.append(BASE62[rem])
    if len(chars) > width:
        raise ValueError(f"{value} does not fit in {width} base62 characters")
    return "".join(reversed(chars)).rjust(width, "0")


def new_id(prefix: IdPrefix, *, now: datetime) -> str:
    """A new id for ``prefix`` created at ``now`` (passed in so tests control time)."""
    millis = int(now.timestamp() * 1000) & ((1 << 48) - 1)
    return f"{prefix.value}_{b62encode(_MONOTONIC.next(millis), _ID_WIDTH)}"


def has_prefix(value: str, prefix: IdPrefix) -> bool:
    """Whether ``value`` looks like an id of ``prefix`` (cheap check before a lookup)."""
    head, sep, body = value.partition("_")
    return (
        sep == "_"
        and head == prefix.value
        and len(body) == _ID_WIDTH
        and all(c in BASE62 for c in body)
    )


def created_at(value: str) -> datetime | None:
    """When an id was made (from its first 48 bits); None if it is not one of ours."""
    body = value.partition("_")[2]
    if len(body) != _ID_WIDTH or not all(c in BASE62 for c in body):
        return None
    number = 0
    for char in body:
        number = number * 62 + BASE62.index(char)
    if number >> 128:  # 22 base62 characters hold more than the 128 bits an id has
        return None
    try:
        return datetime.fromtimestamp((number >> 80) / 1000, tz=UTC)
    except (OverflowError, ValueError):  # 48 bits of milliseconds reach past year 9999
        return None

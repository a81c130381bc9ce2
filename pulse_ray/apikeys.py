"""API key secrets: format, checksum and hashing (no storage, no I/O).

A secret looks like ``pulse_sk_<32 random base62><6 base62 checksum>``:

* the ``pulse_sk_`` prefix makes a leaked key recognisable to secret scanners and to
  people reading logs;
* 32 base62 characters carry ~190 bits from :mod:`secrets`, so brute force is moot
  and a fast hash (SHA-256) is the right way to store it, as GitHub and Stripe do;
* the CRC-32 checksum (GitHub's scheme) lets clients and the server reject a mistyped
  or truncated key without a database lookup.

Only :func:`hash_secret` of a key is ever stored; the plain secret is shown once.
"""

from __future__ import annotations

import hashlib
import secrets
import zlib

from pulse_ray.errors import UnauthorizedError
from pulse_ray.ids import BASE62, b62encode

__all__ = ["KEY_PREFIX", "display_prefix", "generate_secret", "hash_secret", "parse_secret"]

KEY_PREFIX = "pulse_sk_"
_RANDOM_LEN = 32
_CHECKSUM_LEN = 6
_SECRET_LEN = len(KEY_PREFIX) + _RANDOM_LEN + _CHECKSUM_LEN


def _checksum(random_part: str) -> str:
    return b62encode(zlib.crc32(random_part.encode("ascii")), _CHECKSUM_LEN)


def generate_secret() -> str:
    """A new, never-before-seen API key secret."""
    random_part = "".join(secrets.choice(BASE62) for _ in range(_RANDOM_LEN))
    return f"{KEY_PREFIX}{random_part}{_checksum(random_part)}"


def parse_secret(token: str) -> str:
    """Checks a presented secret's shape and checksum; returns it unchanged.

    Raises:
        UnauthorizedError: the token cannot be a Pulse key (wrong prefix, length,
            alphabet or checksum), so there is no point looking it up.
    """
    body = token[len(KEY_PREFIX) :]
    if (
        len(token) != _SECRET_LEN
        or not token.startswith(KEY_PREFIX)
        or not all(c in BASE62 for c in body)
    ):
        raise UnauthorizedError(
            f"Malformed API key: expected '{KEY_PREFIX}' followed by "
            f"{_RANDOM_LEN + _CHECKSUM_LEN} letters and digits"
        )
    random_part, checksum = body[:_RANDOM_LEN], body[_RANDOM_LEN:]
    if not secrets.compare_digest(checksum, _checksum(random_part)):
        raise UnauthorizedError("Malformed API key: checksum mismatch (is it mistyped?)")
    return token


def hash_secret(secret: str) -> str:
    """The stored form of a secret: hex SHA-256."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def display_prefix(secret: str) -> str:
    """The part of a key that is safe to show in listings (``pulse_sk_Ab3d…``)."""
    return secret[: len(KEY_PREFIX) + 4]

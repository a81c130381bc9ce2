"""Secrets at rest: datasource URLs (their passwords) and webhook signing secrets are
sealed with a key the operator holds, so a copy of the store — the SQLite file, a
``pg_dump`` — holds no secret in clear.

Fernet from ``cryptography`` (AES-128-CBC with an HMAC-SHA256: authenticated, so a
tampered value fails to open instead of opening wrong) in a MultiFernet key ring: the
first key seals, every key opens. Rotation is putting a new key in front, re-sealing the
store (``pulse secrets rotate-key``) and dropping the old one.

Where the keys come from (:func:`load_keys`): ``PULSE_SECRET_KEYS`` when set (comma
separated, newest first; it wins); else the key file ``data_dir/secret.key`` (one key a
line, newest first), created 0600 with a fresh key when the service first starts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from pulse_ray.config import Settings
from pulse_ray.errors import InternalError

__all__ = ["KEY_FILE", "SecretBox", "key_file", "load_keys", "write_key_file"]

logger = logging.getLogger(__name__)

KEY_FILE = "secret.key"


def key_file(settings: Settings) -> Path:
    return settings.data_dir / KEY_FILE


def write_key_file(path: Path, keys: Sequence[str]) -> None:
    """Replaces the key file at once (a reader sees the old file or the new, never half),
    readable by its owner only from the first byte on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".new")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a leftover file keeps its mode through O_CREAT
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write("".join(f"{key}\n" for key in keys))
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)


def load_keys(settings: Settings, *, create: bool = False) -> list[str]:
    """The key ring, newest first: the setting when given, else the key file.

    Args:
        create: make the key file with a fresh key when there is none (the service's
            first start, `pulse db upgrade`); elsewhere a missing key is an error, so a
            process that cannot see the file never seals with a key nobody keeps.

    Raises:
        InternalError: no key, or a key that is not a Fernet key.
    """
    if settings.secret_keys is not None:
        keys = [k.strip() for k in settings.secret_keys.get_secret_value().split(",")]
        where = "PULSE_SECRET_KEYS"
    else:
        path = key_file(settings)
        if not path.exists() and create:
            write_key_file(path, [Fernet.generate_key().decode()])
            logger.info("created the secret key file %s (keep it: the store's secrets "
                        "cannot be read without it)", path)
        try:
            keys = path.read_text(encoding="ascii").split()
        except OSError:
            raise InternalError(
                f"No secret key: {path} is missing and PULSE_SECRET_KEYS is not set"
            ) from None
        where = str(path)
    keys = [k for k in keys if k]
    if not keys:
        raise InternalError(f"No secret key in {where}")
    for key in keys:
        try:
            Fernet(key)
        except ValueError:
            raise InternalError(f"{where} holds a value that is not a Fernet key (32 "
                                "url-safe base64-encoded bytes)") from None
    return keys


class SecretBox:
    """Seals and opens the store's secrets with a key ring.

    Args:
        keys: Fernet keys, newest first.
        reload: reads the ring again; used once when a value does not open, so a
            process started before a rotation picks up the new key instead of failing.
    """

    def __init__(self, keys: Sequence[str],
                 reload: Callable[[], Sequence[str]] | None = None) -> None:
        self._reload = reload
        self._ring = self._make(keys)

    @staticmethod
    def _make(keys: Sequence[str]) -> MultiFernet:
        return MultiFernet([Fernet(key) for key in keys])

    @classmethod
    def generate(cls) -> SecretBox:
        """A box with a fresh key of its own (tests, or a store nobody reopens)."""
        return cls([Fernet.generate_key().decode()])

    @classmethod
    def from_settings(cls, settings: Settings, *, create: bool = False) -> SecretBox:
        return cls(load_keys(settings, create=create), reload=lambda: load_keys(settings))

    def seal(self, plaintext: str) -> str:
        return self._ring.encrypt(plaintext.encode()).decode()

    def open(self, token: str) -> str:
        """Raises InternalError when no key of the ring opens it (the message names no
        secret)."""
        try:
            return self._ring.decrypt(token.encode()).decode()
        except InvalidToken:
            if self._reload is None:
                raise self._unreadable() from None
        self._ring = self._make(self._reload())
        try:
            return self._ring.decrypt(token.encode()).decode()
        except InvalidToken:
            raise self._unreadable() from None

    def reseal(self, token: str) -> str:
        """The same secret sealed with the newest key."""
        try:
            return self._ring.rotate(token.encode()).decode()
        except InvalidToken:
            raise self._unreadable() from None

    @staticmethod
    def _unreadable() -> InternalError:
        return InternalError("A stored secret cannot be opened with the configured secret "
                             "keys (PULSE_SECRET_KEYS or data_dir/secret.key)")

"""Rotating the key that seals the store's secrets (``pulse secrets rotate-key``).

With the key file (the default), a new key is put in front of the file — from then on
every process that reloads it opens both — and every sealed value is re-sealed with it
in one transaction; the old keys are dropped from the file only when asked, since a
process started before the rotation may still seal with the key it loaded until it
restarts. With ``PULSE_SECRET_KEYS`` the operator puts the new key first in the setting,
and this re-seals with it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cryptography.fernet import Fernet

from pulse_ray.config import Settings
from pulse_ray.secretbox import SecretBox, key_file, load_keys, write_key_file
from pulse_ray.store import Database, upgrade
from pulse_ray.store.secrets import reseal_all

__all__ = ["Rotation", "rotate_key"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rotation:
    resealed: int  # values sealed again with the newest key
    keys_kept: int  # keys the ring holds afterwards (the newest first)
    from_setting: bool  # the keys are PULSE_SECRET_KEYS (nothing was written)


def rotate_key(settings: Settings, *, drop_old: bool = False) -> Rotation:
    """Re-seals every stored secret with a new key (the key file's: made here; the
    setting's: its first).

    Args:
        drop_old: with the key file, keep only the new key afterwards (run it with the
            service stopped, or after every process has restarted).
    """
    from_setting = settings.secret_keys is not None
    keys = load_keys(settings, create=True)
    if not from_setting:
        keys = [Fernet.generate_key().decode(), *keys]
        write_key_file(key_file(settings), keys)  # opened by both from here on
    database = Database(settings.store_url, secrets=SecretBox(keys))
    try:
        upgrade(database)
        with database.session() as session:
            resealed = reseal_all(session=session)
    finally:
        database.dispose()
    if drop_old and not from_setting:
        keys = keys[:1]
        write_key_file(key_file(settings), keys)
    logger.info("re-sealed %d stored secrets with a new key", resealed)
    return Rotation(resealed=resealed, keys_kept=len(keys), from_setting=from_setting)

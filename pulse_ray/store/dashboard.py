"""Repository functions for dashboard sessions and `pulse auth login` device codes.

Both are found by the hash of a secret the browser or the CLI holds, never by the
secret itself; a session resolves to its key's principal, so it carries the key's
account and scopes and ends when the key is revoked.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlmodel import Session, col, func, select

from pulse_ray.auth import Principal, Scope
from pulse_ray.store.tables import ApiKey, DashboardSession, DeviceCode

__all__ = [
    "add_device_code",
    "add_session",
    "count_device_codes",
    "delete_session",
    "device_code_by_hash",
    "device_code_by_user_code",
    "pop_flash",
    "session_principal",
    "set_flash",
    "touch_session",
]


def add_session(*, session: Session, token_hash: str, key_id: str, now: datetime,
                idle_before: datetime) -> None:
    """Adds a session; sessions idle since before ``idle_before`` go as new ones come, so
    the table holds only live sessions even where nobody signs out."""
    session.execute(delete(DashboardSession)
                    .where(col(DashboardSession.last_seen_at) < idle_before))
    session.add(DashboardSession(token_hash=token_hash, key_id=key_id, created_at=now,
                                 last_seen_at=now))
    session.flush()


def session_principal(*, session: Session, token_hash: str,
                      seen_after: datetime) -> tuple[Principal, datetime] | None:
    """The principal of a session seen after ``seen_after`` (older ones are idle: they
    are deleted here) and when it was last seen; None when there is no such session."""
    row = session.exec(select(DashboardSession, ApiKey)
                       .join(ApiKey, col(ApiKey.id) == col(DashboardSession.key_id))
                       .where(DashboardSession.token_hash == token_hash)).first()
    if row is None:
        return None
    found, key = row
    if found.last_seen_at <= seen_after:
        session.delete(found)
        return None
    return key.to_principal(), found.last_seen_at


def touch_session(*, session: Session, token_hash: str, now: datetime) -> None:
    session.execute(update(DashboardSession)
                    .where(col(DashboardSession.token_hash) == token_hash)
                    .values(last_seen_at=now))


def set_flash(*, session: Session, token_hash: str, flash: str) -> None:
    session.execute(update(DashboardSession)
                    .where(col(DashboardSession.token_hash) == token_hash).values(flash=flash))


def pop_flash(*, session: Session, token_hash: str) -> str | None:
    """The session's flash, cleared in the same transaction (read once, even by two
    requests at the same moment: the row is locked where the store can)."""
    found = session.get(DashboardSession, token_hash, with_for_update=True)
    if found is None or found.flash is None:
        return None
    flash, found.flash = found.flash, None
    session.add(found)
    return flash


def delete_session(*, session: Session, token_hash: str) -> None:
    session.execute(delete(DashboardSession)
                    .where(col(DashboardSession.token_hash) == token_hash))


def count_device_codes(*, session: Session) -> int:
    return session.exec(select(func.count()).select_from(DeviceCode)).one()


def add_device_code(*, session: Session, device_code_hash: str, user_code: str, name: str,
                    scopes: list[Scope], now: datetime, expires_at: datetime) -> DeviceCode:
    # Expired codes go as new ones come, so the table holds only the last minutes' codes.
    session.execute(delete(DeviceCode).where(col(DeviceCode.expires_at) < now))
    row = DeviceCode(device_code_hash=device_code_hash, user_code=user_code, name=name,
                     scopes=list(scopes), status="pending", created_at=now,
                     expires_at=expires_at)
    session.add(row)
    session.flush()
    return row


def device_code_by_user_code(*, session: Session, user_code: str) -> DeviceCode | None:
    return session.exec(select(DeviceCode).where(DeviceCode.user_code == user_code)).first()


def device_code_by_hash(*, session: Session, device_code_hash: str) -> DeviceCode | None:
    return session.get(DeviceCode, device_code_hash, with_for_update=True)

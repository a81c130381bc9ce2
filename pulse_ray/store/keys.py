"""Repository functions for API keys. Keys belong to an account; every query that a
client can drive is scoped to the caller's account."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from pulse_ray.apikeys import display_prefix, generate_secret, hash_secret
from pulse_ray.auth import Principal
from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.plans import dump_limits
from pulse_ray.schemas.audit import AuditAction
from pulse_ray.schemas.keys import ApiKeyCreate
from pulse_ray.store import audit
from pulse_ray.store.pagination import page
from pulse_ray.store.scope import get_owned, owned
from pulse_ray.store.tables import ApiKey

__all__ = ["create_key", "get_key", "list_keys", "principal_by_hash", "revoke_key"]


def create_key(
    *, session: Session, key_create: ApiKeyCreate, account: str, now: datetime,
    by_key: str | None = None,
) -> tuple[ApiKey, str]:
    """Issues a key (``by_key``: the admin key that asked; None: the operator's CLI).

    Returns:
        The stored row and the plain secret, which exists nowhere else from here on.
    """
    secret = generate_secret()
    key = ApiKey(
        id=new_id(IdPrefix.KEY, now=now),
        name=key_create.name,
        plan=key_create.plan,
        scopes=list(key_create.scopes),
        account=account,
        prefix=display_prefix(secret),
        key_hash=hash_secret(secret),
        created_at=now,
        limits=None if key_create.limits is None else dump_limits(key_create.limits),
    )
    session.add(key)
    session.flush()
    audit.record(session=session, account=account, by_key=by_key, now=now,
                 action=AuditAction.KEY_CREATED, target=key.id,
                 details={"name": key.name, "plan": key.plan, "scopes": key.scopes})
    return key, secret


def principal_by_hash(*, session: Session, key_hash: str) -> Principal | None:
    """The key with this secret hash, revoked or not; None when there is none."""
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == key_hash)).first()
    return None if key is None else key.to_principal()


def get_key(*, session: Session, key_id: str, account: str) -> ApiKey:
    """Raises NotFoundError for ids of other accounts too, so ids do not leak."""
    return get_owned(session, ApiKey, account, id=key_id, not_found=f"No API key '{key_id}'")


def list_keys(
    *, session: Session, account: str, limit: int, starting_after: str | None = None
) -> tuple[list[ApiKey], bool]:
    """The account's keys, newest first, revoked ones included."""
    return page(
        session=session,
        statement=owned(ApiKey, account),
        id_column=ApiKey.id,  # type: ignore[arg-type]
        prefix=IdPrefix.KEY,
        limit=limit,
        starting_after=starting_after,
    )


def revoke_key(*, session: Session, key_id: str, account: str, now: datetime,
               by_key: str | None = None) -> ApiKey:
    """Revokes a key; revoking twice keeps the first revocation time (and records one)."""
    key = get_key(session=session, key_id=key_id, account=account)
    if key.revoked_at is None:
        key.revoked_at = now
        session.add(key)
        session.flush()
        audit.record(session=session, account=account, by_key=by_key, now=now,
                     action=AuditAction.KEY_REVOKED, target=key.id, details={"name": key.name})
    return key

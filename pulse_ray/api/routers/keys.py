"""API keys, managed by a key with the admin scope, within its own account."""

from __future__ import annotations

from fastapi import APIRouter, status

from pulse_ray.api.deps import AdminKey, Limit, NowDep, SessionDep, StartingAfter
from pulse_ray.api.middleware.body import JsonBodyRoute
from pulse_ray.schemas.common import Page
from pulse_ray.schemas.keys import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from pulse_ray.store import keys as repo

router = APIRouter(prefix="/keys", tags=["keys"], route_class=JsonBodyRoute)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    summary="Create a key (its secret is shown only in this response)",
)
def create_key(
    body: ApiKeyCreate, admin: AdminKey, session: SessionDep, now: NowDep
) -> ApiKeyCreated:
    key, secret = repo.create_key(
        session=session, key_create=body, account=admin.account, now=now, by_key=admin.key_id
    )
    return ApiKeyCreated.issued(key, secret)


@router.get("", response_model=Page[ApiKeyPublic], summary="List keys, newest first")
def list_keys(
    admin: AdminKey, session: SessionDep, limit: Limit = 20, starting_after: StartingAfter = None
) -> Page[ApiKeyPublic]:
    rows, has_more = repo.list_keys(
        session=session, account=admin.account, limit=limit, starting_after=starting_after
    )
    return Page(data=[r.public() for r in rows], has_more=has_more)


@router.delete(
    "/{key_id}",
    response_model=ApiKeyPublic,
    summary="Revoke a key at once, on every replica within a second",
)
def revoke_key(key_id: str, admin: AdminKey, session: SessionDep, now: NowDep) -> ApiKeyPublic:
    key = repo.revoke_key(session=session, key_id=key_id, account=admin.account, now=now,
                          by_key=admin.key_id)
    return key.public()

"""API keys, `pulse auth login` approval, datasources and snapshots, webhooks, shop.

Every read and every change goes through what the API does, with the session's
principal: keys and the shop through the store functions their routes call; datasources,
snapshots and webhooks through the application services their routes call. The scope a
route needs is checked here the way the API's key dependencies check it (keys need admin).
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import TypeAdapter

from pulse_ray.api.dashboard.web import ActionDep, PageRoute, ViewerDep, redirect, render
from pulse_ray.api.deps import AppStateDep, NowDep, SessionDep
from pulse_ray.auth import Scope
from pulse_ray.errors import ValidationError
from pulse_ray.plans import Limits, effective_limits
from pulse_ray.schemas.keys import ApiKeyCreate, ApiKeyCreated
from pulse_ray.schemas.snapshots import SnapshotCreate
from pulse_ray.schemas.webhooks import SecretRotated
from pulse_ray.store import keys as key_repo
from pulse_ray.store import shop as shop_repo

router = APIRouter(prefix="/dashboard", route_class=PageRoute, include_in_schema=False)

_LIST = 100
_PERSONA_MIX = 1000  # the latest shop inferences the persona mix is read from


def _key_create(name: str, plan: str, scopes: list[str]) -> ApiKeyCreate:
    try:
        return ApiKeyCreate.model_validate({"name": name, "plan": plan, "scopes": scopes})
    except ValueError as exc:
        raise ValidationError(f"The key cannot be made: {exc}") from None


@router.get("/keys")
def keys_page(request: Request, viewer: ViewerDep, session: SessionDep,
              state: AppStateDep) -> Response:
    """Shows a key made by the last form post once: the secret is held in the session
    for this one read (a HEAD reads nothing), so a refresh shows only the list."""
    principal = viewer.principal
    principal.require(Scope.ADMIN)
    held = state.signin.take(viewer.token) if request.method == "GET" else None
    created = ApiKeyCreated.model_validate_json(held) if held else None
    keys, _ = key_repo.list_keys(session=session, account=principal.account, limit=_LIST)
    limits = effective_limits(principal.plan, state.plans[principal.plan], principal.limits)
    return render(request, "keys.html", viewer=viewer, keys=[k.public() for k in keys],
                  created=created,
                  limits=json.dumps(TypeAdapter(Limits).dump_python(limits, mode="json"),
                                    indent=2), plans=[p.value for p in state.plans],
                  scopes=[s.value for s in Scope])


@router.post("/keys")
async def create_key(request: Request, action: ActionDep, now: NowDep,
                     state: AppStateDep) -> Response:
    """Makes the key, holds its secret in the session and redirects to the list
    (post-redirect-get): refreshing the page that shows it makes no second key."""
    admin = action.require(Scope.ADMIN)
    scopes = [s.value for s in Scope if action.form.get(f"scope_{s.value}")]
    body = _key_create(action.field("name"), action.field("plan") or "free", scopes)

    def make() -> None:
        with state.database.session() as session:
            key, secret = key_repo.create_key(session=session, key_create=body,
                                              account=admin.account, now=now,
                                              by_key=admin.key_id)
            created = ApiKeyCreated.issued(key, secret)
        state.signin.hold(action.viewer.token, created.model_dump_json())

    await run_in_threadpool(make)
    return redirect(request, "/dashboard/keys")


@router.post("/keys/{key_id}/revoke")
def revoke_key(request: Request, key_id: str, action: ActionDep, session: SessionDep,
               now: NowDep) -> Response:
    admin = action.require(Scope.ADMIN)
    key_repo.revoke_key(session=session, key_id=key_id, account=admin.account, now=now,
                        by_key=admin.key_id)
    return redirect(request, "/dashboard/keys")


@router.get("/device")
def device_page(request: Request, viewer: ViewerDep, state: AppStateDep,
                code: Annotated[str, Query(max_length=20)] = "") -> Response:
    pending = state.signin.pending(code) if code.strip() else None
    return render(request, "device.html", viewer=viewer, code=code, pending=pending)


@router.post("/device")
def decide_device(request: Request, action: ActionDep, state: AppStateDep) -> Response:
    code, approve = action.field("code"), action.field("decision") == "approve"
    state.signin.decide(action.viewer.principal, code, approve=approve)
    return render(request, "device.html", viewer=action.viewer, code=code, pending=None,
                  decided="approved" if approve else "denied")


@router.get("/datasources")
def datasources_page(request: Request, viewer: ViewerDep, session: SessionDep,
                     state: AppStateDep) -> Response:
    account = viewer.principal.account
    sources = state.datasources.listing(session=session, account=account, limit=_LIST).data
    snapshots = state.snapshots.listing(session=session, account=account, datasource=None,
                                        limit=_LIST).data
    return render(request, "datasources.html", viewer=viewer, sources=sources,
                  snapshots=snapshots)


@router.post("/datasources/{name}/snapshot")
async def take_snapshot(request: Request, name: str, action: ActionDep,
                        state: AppStateDep) -> Response:
    principal = action.require(Scope.WRITE)
    await state.snapshots.take(account=principal.account, datasource=name,
                               options=SnapshotCreate().options)
    return redirect(request, "/dashboard/datasources")


@router.get("/webhooks")
def webhooks_page(request: Request, viewer: ViewerDep, session: SessionDep,
                  state: AppStateDep) -> Response:
    page = state.webhooks.listing(session=session, account=viewer.principal.account,
                                  limit=_LIST)
    return render(request, "webhooks.html", viewer=viewer, endpoints=page.data)


@router.get("/webhooks/{webhook_id}")
def webhook_page(request: Request, webhook_id: str, viewer: ViewerDep, session: SessionDep,
                 state: AppStateDep) -> Response:
    return _webhook(request, webhook_id, viewer, session, state, rotated=None)


def _webhook(request: Request, webhook_id: str, viewer: ViewerDep, session: SessionDep,
             state: AppStateDep, rotated: SecretRotated | None) -> Response:
    account = viewer.principal.account
    endpoint = state.webhooks.get(session=session, account=account, webhook_id=webhook_id)
    log = state.webhooks.deliveries(session=session, account=account, webhook_id=webhook_id,
                                    limit=50)
    return render(request, "webhook.html", viewer=viewer, endpoint=endpoint,
                  deliveries=log.data, rotated=rotated)


@router.post("/webhooks/{webhook_id}/rotate")
def rotate_webhook(request: Request, webhook_id: str, action: ActionDep, session: SessionDep,
                   now: NowDep, state: AppStateDep) -> Response:
    """The new signing secret is in this answer only."""
    rotated = state.webhooks.rotate_secret(session=session,
                                           principal=action.require(Scope.WRITE),
                                           webhook_id=webhook_id, now=now)
    return _webhook(request, webhook_id, action.viewer, session, state, rotated=rotated)


@router.post("/webhooks/{webhook_id}/test")
def test_webhook(request: Request, webhook_id: str, action: ActionDep, session: SessionDep,
                 now: NowDep, state: AppStateDep) -> Response:
    state.webhooks.send_test(session=session, principal=action.require(Scope.WRITE),
                             webhook_id=webhook_id, now=now)
    return redirect(request, f"/dashboard/webhooks/{webhook_id}")


@router.post("/webhooks/{webhook_id}/deliveries/{message_id}/retry")
def retry_webhook(request: Request, webhook_id: str, message_id: str, action: ActionDep,
                  session: SessionDep, now: NowDep, state: AppStateDep) -> Response:
    state.webhooks.retry(session=session, principal=action.require(Scope.WRITE),
                         webhook_id=webhook_id, message_id=message_id, now=now)
    return redirect(request, f"/dashboard/webhooks/{webhook_id}")


@router.get("/shop")
def shop_page(request: Request, viewer: ViewerDep, session: SessionDep) -> Response:
    account = viewer.principal.account
    products = shop_repo.list_products(session=session, account=account, limit=_LIST)
    mix = shop_repo.persona_mix(session=session, account=account, limit=_PERSONA_MIX)
    return render(request, "shop.html", viewer=viewer, products=[p.public() for p in products],
                  mix=mix)


@router.get("/{rest:path}")
def not_found(request: Request, rest: str, viewer: ViewerDep) -> Response:
    return render(request, "error.html", viewer=viewer, status_code=404, title="Not found",
                  error=None)

"""The two calls `pulse auth login` makes (RFC 8628's device authorization and token
endpoints): no key yet, so they sit outside ``/v1``. Asking for a code costs nothing
but a row that expires in minutes; polling needs the device code, 256 random bits."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from fastapi.concurrency import run_in_threadpool

from pulse_ray.api.dashboard.web import base_path
from pulse_ray.api.deps import AppStateDep
from pulse_ray.api.middleware.body import JsonBodyRoute
from pulse_ray.schemas.device import (
    DeviceCodeCreate,
    DeviceCodeIssued,
    DeviceToken,
    DeviceTokenRequest,
)

router = APIRouter(prefix="/auth/device", route_class=JsonBodyRoute, include_in_schema=False)

POLL_INTERVAL_S = 2


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DeviceCodeIssued)
async def start(body: DeviceCodeCreate, request: Request, state: AppStateDep) -> DeviceCodeIssued:
    grant = await run_in_threadpool(state.signin.start_device, body)
    page = f"{str(request.base_url).rstrip('/')}{base_path(request)}/dashboard/device"
    return DeviceCodeIssued(device_code=grant.device_code, user_code=grant.user_code,
                            verification_uri=page,
                            verification_uri_complete=f"{page}?code={grant.user_code}",
                            expires_in=grant.expires_in, interval=POLL_INTERVAL_S)


@router.post("/token", response_model=DeviceToken, response_model_exclude_none=True)
async def token(body: DeviceTokenRequest, state: AppStateDep) -> DeviceToken:
    return await run_in_threadpool(state.signin.redeem, body.device_code)

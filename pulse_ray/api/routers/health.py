"""Liveness and readiness probes (no key), for Kubernetes and load balancers."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from pulse_ray.api.deps import AppStateDep
from pulse_ray.api.middleware.body import JsonBodyRoute
from pulse_ray.errors import ErrorDetail, UnavailableError

router = APIRouter(tags=["health"], route_class=JsonBodyRoute)


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    checks: dict[str, Literal["ok"]]


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    return Health()


@router.get("/readyz", response_model=Readiness, summary="Store and deployments are usable")
async def readyz(state: AppStateDep) -> Readiness:
    failures: list[ErrorDetail] = []
    for name, check in state.readiness_checks.items():
        try:
            await run_in_threadpool(check)
        except Exception as exc:  # any failure of a probe means "not ready"
            failures.append(ErrorDetail(name, str(exc) or type(exc).__name__))
    if failures:
        raise UnavailableError("Not ready", details=failures, retry_after_s=5)
    return Readiness(checks=dict.fromkeys(state.readiness_checks, "ok"))

"""Who am I: lets a client (and ``pulse auth login``) check a key."""

from __future__ import annotations

from fastapi import APIRouter

from pulse_ray.api.deps import AppStateDep, CurrentKey
from pulse_ray.api.middleware.body import JsonBodyRoute
from pulse_ray.plans import effective_limits
from pulse_ray.schemas.keys import WhoAmI

router = APIRouter(prefix="/auth", tags=["auth"], route_class=JsonBodyRoute)


@router.get("/whoami", response_model=WhoAmI, summary="The calling key's identity")
async def whoami(principal: CurrentKey, state: AppStateDep) -> WhoAmI:
    return WhoAmI(
        id=principal.key_id,
        name=principal.name,
        plan=principal.plan,
        scopes=sorted(principal.scopes),
        limits=effective_limits(principal.plan, state.plans[principal.plan], principal.limits),
    )

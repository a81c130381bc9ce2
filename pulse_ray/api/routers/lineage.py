"""Lineage (seed 000: GET /v1/lineage/{id}): what produced an inference, a training run,
a snapshot or a model version, back to the datasource."""

from __future__ import annotations

from fastapi import APIRouter

from pulse_ray.api.deps import AppStateDep, ReadKey
from pulse_ray.api.middleware.body import JsonBodyRoute
from pulse_ray.schemas.lineage import Lineage

router = APIRouter(tags=["lineage"], route_class=JsonBodyRoute)


@router.get("/lineage/{lineage_id}", response_model=Lineage, response_model_exclude_none=True,
            summary="What produced an inference, run, snapshot or model:version")
async def lineage(lineage_id: str, principal: ReadKey, state: AppStateDep) -> Lineage:
    return await state.lineage.trace(account=principal.account, lineage_id=lineage_id)

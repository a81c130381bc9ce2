"""Datasources: registered after a live check of the connection and table or query."""

from __future__ import annotations

import logging

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from pulse_ray.api.deps import (
    AppStateDep,
    Limit,
    NowDep,
    ReadKey,
    SessionDep,
    StartingAfter,
    WriteKey,
)
from pulse_ray.api.middleware.body import JsonBodyRoute
from pulse_ray.api.openapi import error_responses
from pulse_ray.schemas.common import Page
from pulse_ray.schemas.datasources import DatasourceCreate, DatasourcePublic
from pulse_ray.store import datasources as repo

router = APIRouter(prefix="/datasources", tags=["datasources"], route_class=JsonBodyRoute)
logger = logging.getLogger(__name__)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasourcePublic,
    summary="Register a datasource (its connection and table or query are checked)",
)
async def create_datasource(
    body: DatasourceCreate, principal: WriteKey, state: AppStateDep
) -> DatasourcePublic:
    return await run_in_threadpool(lambda: state.datasources.register(
        body, account=principal.account, by_key=principal.key_id))


@router.get("", response_model=Page[DatasourcePublic], summary="List datasources")
def list_datasources(
    principal: ReadKey, session: SessionDep, state: AppStateDep, limit: Limit = 20,
    starting_after: StartingAfter = None,
) -> Page[DatasourcePublic]:
    return state.datasources.listing(session=session, account=principal.account, limit=limit,
                                     starting_after=starting_after)


@router.get("/{name}", response_model=DatasourcePublic, summary="One datasource")
def get_datasource(name: str, principal: ReadKey, session: SessionDep) -> DatasourcePublic:
    return repo.get_datasource(session=session, name=name, account=principal.account).public()


@router.delete(
    "/{name}",
    response_model=DatasourcePublic,
    responses=error_responses(409),
    summary="Remove a datasource no snapshot refers to",
)
def delete_datasource(name: str, principal: WriteKey, session: SessionDep,
                      now: NowDep) -> DatasourcePublic:
    return repo.delete_datasource(session=session, name=name, account=principal.account,
                                  now=now, by_key=principal.key_id).public()

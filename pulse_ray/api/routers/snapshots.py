"""Snapshots (seed 000: POST /v1/snapshot/{datasource}) and their listing."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from pulse_ray.api.deps import AppStateDep, Limit, ReadKey, SessionDep, StartingAfter, WriteKey
from pulse_ray.api.middleware.body import JsonBodyRoute
from pulse_ray.api.openapi import error_responses
from pulse_ray.schemas.common import Page
from pulse_ray.schemas.snapshots import SnapshotCreate, SnapshotDetail, SnapshotPublic
from pulse_ray.store import snapshots as repo

router = APIRouter(tags=["snapshots"], route_class=JsonBodyRoute)


@router.post(
    "/snapshot/{datasource}",
    status_code=status.HTTP_201_CREATED,
    response_model=SnapshotPublic,
    responses={200: {"model": SnapshotPublic,
                     "description": "Unchanged since the latest snapshot (force: false)."},
               **error_responses(409)},
    summary="Snapshot a datasource to hashed Parquet (Ray Data)",
)
async def create_snapshot(
    datasource: str, principal: WriteKey, state: AppStateDep, response: Response,
    body: SnapshotCreate | None = None,
) -> SnapshotPublic:
    snapshot, created = await state.snapshots.take(
        account=principal.account, datasource=datasource,
        options=(body or SnapshotCreate()).options)
    if not created:
        response.status_code = status.HTTP_200_OK
    return snapshot


@router.get("/snapshots", response_model=Page[SnapshotPublic],
            responses=error_responses(404),  # ?datasource= names none of the account's
            summary="List snapshots")
def list_snapshots(
    principal: ReadKey, session: SessionDep, state: AppStateDep,
    datasource: Annotated[str | None, Query(description="Only this datasource's.")] = None,
    limit: Limit = 20, starting_after: StartingAfter = None,
) -> Page[SnapshotPublic]:
    return state.snapshots.listing(session=session, account=principal.account,
                                   datasource=datasource, limit=limit,
                                   starting_after=starting_after)


@router.get("/snapshots/{snapshot_id}", response_model=SnapshotDetail,
            summary="One snapshot: schema, files, compression")
def get_snapshot(snapshot_id: str, principal: ReadKey, session: SessionDep) -> SnapshotDetail:
    snapshot, name = repo.get_snapshot(
        session=session, snapshot_id=snapshot_id, account=principal.account
    )
    return snapshot.detail(name)

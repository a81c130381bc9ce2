"""Models, versions, promotion and rollback (seed 000: GET /v1/models/{model}/versions)."""

from __future__ import annotations

from fastapi import APIRouter, status

from pulse_ray.api.deps import (
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
from pulse_ray.schemas.models import (
    ModelCreate,
    ModelHistory,
    ModelPublic,
    ModelVersions,
    VersionPublic,
)
from pulse_ray.store import models as repo

router = APIRouter(prefix="/models", tags=["models"], route_class=JsonBodyRoute)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ModelPublic,
             summary="Create a model: its family and data contract")
def create_model(body: ModelCreate, principal: WriteKey, session: SessionDep,
                 now: NowDep) -> ModelPublic:
    return repo.model_public(session=session, model=repo.create_model(
        session=session, model_create=body, account=principal.account, now=now))


@router.get("", response_model=Page[ModelPublic], summary="List models")
def list_models(principal: ReadKey, session: SessionDep, limit: Limit = 20,
                starting_after: StartingAfter = None) -> Page[ModelPublic]:
    models, has_more = repo.list_models(session=session, account=principal.account,
                                        limit=limit, starting_after=starting_after)
    return Page(data=models, has_more=has_more)


@router.get("/{model}", response_model=ModelPublic, summary="One model")
def get_model(model: str, principal: ReadKey, session: SessionDep) -> ModelPublic:
    return repo.model_public(session=session, model=repo.get_model(
        session=session, name=model, account=principal.account))


@router.get("/{model}/versions", response_model=ModelVersions,
            summary="A model's versions, newest first")
def list_versions(model: str, principal: ReadKey, session: SessionDep) -> ModelVersions:
    found = repo.get_model(session=session, name=model, account=principal.account)
    return ModelVersions(model=found.name, versions=[
        v.public() for v in repo.list_versions(session=session, model_id=found.id)])


@router.post("/{model}/versions/{version}/deploy", response_model=VersionPublic,
             summary="Deploy a version; the one deployed before is archived")
def deploy(model: str, version: str, principal: WriteKey, session: SessionDep,
           now: NowDep) -> VersionPublic:
    found = repo.get_model(session=session, name=model, account=principal.account)
    return repo.deploy_version(session=session, model=found, version=version,
                               by_key=principal.key_id, now=now).public()


@router.post("/{model}/rollback", response_model=VersionPublic, responses=error_responses(409),
             summary="Go back to the version deployed before the current one")
def rollback(model: str, principal: WriteKey, session: SessionDep, now: NowDep) -> VersionPublic:
    found = repo.get_model(session=session, name=model, account=principal.account)
    return repo.rollback(session=session, model=found, by_key=principal.key_id,
                         now=now).public()


@router.get("/{model}/history", response_model=ModelHistory,
            summary="Every deploy and rollback, newest first")
def history(model: str, principal: ReadKey, session: SessionDep) -> ModelHistory:
    found = repo.get_model(session=session, name=model, account=principal.account)
    return ModelHistory(model=found.name, events=[
        e.public() for e in repo.history(session=session, model_id=found.id)])

"""Models, versions, promotion and rollback (seed 000: GET /v1/models/{model}/versions)."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlmodel import Session

from pulse_ray.api.deps import (
    Limit,
    NowDep,
    ReadKey,
    SessionDep,
    StartingAfter,
    WriteKey,
)
from pulse_ray.api.openapi import error_responses
from pulse_ray.schemas.common import Page
from pulse_ray.schemas.models import (
    HistoryEvent,
    ModelCreate,
    ModelHistory,
    ModelPublic,
    ModelVersions,
    VersionPublic,
)
from pulse_ray.store import models as repo
from pulse_ray.store.tables import Model, ModelVersion

router = APIRouter(prefix="/models", tags=["models"])


def _model(session: Session, model: Model) -> ModelPublic:
    deployed = repo.deployed_version(session=session, model_id=model.id)
    return ModelPublic.model_validate(
        {**model.model_dump(), "deployed_version": deployed.version if deployed else None})


def _version(version: ModelVersion) -> VersionPublic:
    return VersionPublic.model_validate({**version.model_dump(), "run": version.run_id})


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ModelPublic,
             summary="Create a model: its family and data contract")
def create_model(body: ModelCreate, principal: WriteKey, session: SessionDep,
                 now: NowDep) -> ModelPublic:
    return _model(session, repo.create_model(session=session, model_create=body,
                                             account=principal.account, now=now))


@router.get("", response_model=Page[ModelPublic], summary="List models")
def list_models(principal: ReadKey, session: SessionDep, limit: Limit = 20,
                starting_after: StartingAfter = None) -> Page[ModelPublic]:
    rows, has_more = repo.list_models(session=session, account=principal.account, limit=limit,
                                      starting_after=starting_after)
    return Page(data=[_model(session, r) for r in rows], has_more=has_more)


@router.get("/{model}", response_model=ModelPublic, summary="One model")
def get_model(model: str, principal: ReadKey, session: SessionDep) -> ModelPublic:
    return _model(session, repo.get_model(session=session, name=model,
                                          account=principal.account))


@router.get("/{model}/versions", response_model=ModelVersions,
            summary="A model's versions, newest first")
def list_versions(model: str, principal: ReadKey, session: SessionDep) -> ModelVersions:
    found = repo.get_model(session=session, name=model, account=principal.account)
    return ModelVersions(model=found.name, versions=[
        _version(v) for v in repo.list_versions(session=session, model_id=found.id)])


@router.post("/{model}/versions/{version}/deploy", response_model=VersionPublic,
             summary="Deploy a version; the one deployed before is archived")
def deploy(model: str, version: str, principal: WriteKey, session: SessionDep,
           now: NowDep) -> VersionPublic:
    found = repo.get_model(session=session, name=model, account=principal.account)
    return _version(repo.deploy_version(session=session, model=found, version=version,
                                        by_key=principal.key_id, now=now))


@router.post("/{model}/rollback", response_model=VersionPublic, responses=error_responses(409),
             summary="Go back to the version deployed before the current one")
def rollback(model: str, principal: WriteKey, session: SessionDep, now: NowDep) -> VersionPublic:
    found = repo.get_model(session=session, name=model, account=principal.account)
    return _version(repo.rollback(session=session, model=found, by_key=principal.key_id,
                                  now=now))


@router.get("/{model}/history", response_model=ModelHistory,
            summary="Every deploy and rollback, newest first")
def history(model: str, principal: ReadKey, session: SessionDep) -> ModelHistory:
    found = repo.get_model(session=session, name=model, account=principal.account)
    return ModelHistory(model=found.name, events=[
        HistoryEvent(action=e.action, from_version=e.from_version,  # type: ignore[arg-type]
                     to_version=e.to_version, by=e.key_id or e.run_id, created_at=e.created_at)
        for e in repo.history(session=session, model_id=found.id)])

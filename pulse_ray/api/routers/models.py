"""Models, versions, promotion and rollback (seed 000: GET /v1/models/{model}/versions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response, status

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
from pulse_ray.schemas.drift import DriftReport
from pulse_ray.schemas.models import (
    ModelCreate,
    ModelHistory,
    ModelPublic,
    ModelVersions,
    VersionPublic,
)
from pulse_ray.schemas.retrain import RetrainPolicyBody, RetrainPolicyPublic
from pulse_ray.schemas.rollouts import DeployBody, RolloutPublic
from pulse_ray.schemas.timeline import Timeline
from pulse_ray.services.timeline import timeline as model_timeline
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


@router.post("/{model}/versions/{version}/deploy", response_model=VersionPublic | RolloutPublic,
             responses={202: {"model": RolloutPublic, "description": "A canary started"},
                        **error_responses(409)},
             summary="Deploy a version at once, or start a canary of it")
def deploy(model: str, version: str, principal: WriteKey, session: SessionDep, now: NowDep,
           state: AppStateDep, response: Response,
           body: Annotated[DeployBody | None, Body()] = None) -> VersionPublic | RolloutPublic:
    """Without a body (or with ``strategy: immediate``) the version is deployed now and
    the one before archived (200). ``strategy: canary`` starts a rollout (202): the
    version takes each step's share of traffic until the controller promotes it or
    rolls it back (``GET /v1/models/{model}/rollout``)."""
    found = repo.get_model(session=session, name=model, account=principal.account)
    answer = state.rollouts.deploy(session=session, principal=principal, model=found,
                                   version=version, body=body, now=now)
    if isinstance(answer, RolloutPublic):
        response.status_code = status.HTTP_202_ACCEPTED
    return answer


@router.get("/{model}/rollout", response_model=RolloutPublic,
            summary="The model's rollout: live state and each arm's figures")
def rollout(model: str, principal: ReadKey, session: SessionDep,
            state: AppStateDep) -> RolloutPublic:
    found = repo.get_model(session=session, name=model, account=principal.account)
    return state.rollouts.status(session=session, model=found)


@router.post("/{model}/rollout/promote", response_model=RolloutPublic,
             responses=error_responses(409),
             summary="Deploy the running rollout's candidate now")
def promote_rollout(model: str, principal: WriteKey, session: SessionDep, now: NowDep,
                    state: AppStateDep) -> RolloutPublic:
    found = repo.get_model(session=session, name=model, account=principal.account)
    return state.rollouts.end(session=session, principal=principal, model=found,
                              ending="promoted", now=now)


@router.post("/{model}/rollout/abort", response_model=RolloutPublic,
             responses=error_responses(409),
             summary="Stop the running rollout; the stable version keeps all traffic")
def abort_rollout(model: str, principal: WriteKey, session: SessionDep, now: NowDep,
                  state: AppStateDep) -> RolloutPublic:
    found = repo.get_model(session=session, name=model, account=principal.account)
    return state.rollouts.end(session=session, principal=principal, model=found,
                              ending="aborted", now=now)


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


@router.get("/{model}/timeline", response_model=Timeline,
            summary="What was live when: each deployed version, why, and how it did")
def timeline(model: str, principal: ReadKey, session: SessionDep) -> Timeline:
    """Each period a version was deployed (newest first) with the reason it began
    (manual, training, canary_promoted, retrain_promoted, rolled_back), the drift
    windows of its live inputs and the feedback on its predictions in that period."""
    found = repo.get_model(session=session, name=model, account=principal.account)
    return model_timeline(session=session, model=found)


@router.get("/{model}/drift", response_model=DriftReport,
            summary="Drift: each window of live inputs against the training snapshot")
def drift(model: str, principal: ReadKey, session: SessionDep, state: AppStateDep,
          limit: Limit = 20) -> DriftReport:
    """Per-feature PSI of each window of the deployed versions' live inputs (newest
    first), judged by the controller off the request path."""
    found = repo.get_model(session=session, name=model, account=principal.account)
    deployed = repo.deployed_version(session=session, model_id=found.id)
    return state.drift.report(session=session, model=found,
                              deployed=deployed.version if deployed else None, limit=limit)


@router.put("/{model}/retrain-policy", response_model=RetrainPolicyPublic,
            summary="Set when the model is retrained and what a retrain must beat")
def put_retrain_policy(model: str, body: RetrainPolicyBody, principal: WriteKey,
                       session: SessionDep, now: NowDep,
                       state: AppStateDep) -> RetrainPolicyPublic:
    """Stored with the model; the answer says whether a retrain is due now and why."""
    found = repo.get_model(session=session, name=model, account=principal.account)
    return state.retrain.put(session=session, model=found, body=body, now=now)


@router.get("/{model}/retrain-policy", response_model=RetrainPolicyPublic,
            summary="The model's retrain policy and whether a retrain is due")
def get_retrain_policy(model: str, principal: ReadKey, session: SessionDep, now: NowDep,
                       state: AppStateDep) -> RetrainPolicyPublic:
    found = repo.get_model(session=session, name=model, account=principal.account)
    return state.retrain.get(session=session, model=found, now=now)

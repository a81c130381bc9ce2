"""Repository functions for models, versions and promotions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from pulse_ray.errors import ConflictError, NotFoundError, ValidationError
from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.models.inputs import unknown_columns
from pulse_ray.registry import rollback_target
from pulse_ray.schemas.audit import AuditAction
from pulse_ray.schemas.models import ModelCreate, ModelPublic
from pulse_ray.store import audit
from pulse_ray.store import webhooks as webhook_repo
from pulse_ray.store.pagination import page
from pulse_ray.store.scope import get_owned, owned
from pulse_ray.store.tables import Model, ModelVersion, Promotion
from pulse_ray.webhooks.events import EventType

__all__ = [
    "create_model",
    "deploy_version",
    "deployed_version",
    "get_model",
    "get_version",
    "history",
    "latest_version",
    "list_models",
    "list_versions",
    "model_public",
    "register_version",
    "rollback",
]


def create_model(*, session: Session, model_create: ModelCreate, account: str,
                 now: datetime) -> Model:
    """Raises ConflictError when the account already has a model of that name, and
    ValidationError when a constraint names a column outside the given feature_columns
    (without them, training checks the constraints against the snapshot's columns)."""
    if model_create.feature_columns is not None:
        unknown = unknown_columns(model_create.constraints, model_create.feature_columns)
        if unknown:
            raise ValidationError(details=unknown)
    model = Model(id=new_id(IdPrefix.MODEL, now=now), account=account, created_at=now,
                  **model_create.model_dump())
    try:
        with session.begin_nested():
            session.add(model)
    except IntegrityError:
        raise ConflictError(f"A model named '{model_create.name}' already exists") from None
    return model


def get_model(*, session: Session, name: str, account: str) -> Model:
    return get_owned(session, Model, account, name=name, not_found=f"No model named '{name}'")


def list_models(*, session: Session, account: str, limit: int,
                starting_after: str | None = None) -> tuple[list[ModelPublic], bool]:
    """A page of models with their deployed versions, in one query."""
    rows, has_more = page(session=session, statement=owned(Model, account),
        id_column=Model.id,  # type: ignore[arg-type]
        prefix=IdPrefix.MODEL, limit=limit, starting_after=starting_after)
    deployed = dict(session.exec(
        select(ModelVersion.model_id, ModelVersion.version).where(
            col(ModelVersion.model_id).in_([m.id for m in rows]),
            ModelVersion.status == "deployed")).all()) if rows else {}
    return [m.public(deployed.get(m.id)) for m in rows], has_more


def model_public(*, session: Session, model: Model) -> ModelPublic:
    """One model's public shape (its deployed version looked up)."""
    deployed = deployed_version(session=session, model_id=model.id)
    return model.public(deployed.version if deployed else None)


def list_versions(*, session: Session, model_id: str) -> list[ModelVersion]:
    """Newest first."""
    return list(session.exec(select(ModelVersion).where(ModelVersion.model_id == model_id)
                             .order_by(col(ModelVersion.id).desc())))


def get_version(*, session: Session, model: Model, version: str) -> ModelVersion:
    found = session.exec(select(ModelVersion).where(
        ModelVersion.model_id == model.id, ModelVersion.version == version)).first()
    if found is None:
        raise NotFoundError(f"Model '{model.name}' has no version '{version}'")
    return found


def deployed_version(*, session: Session, model_id: str) -> ModelVersion | None:
    return session.exec(select(ModelVersion).where(
        ModelVersion.model_id == model_id, ModelVersion.status == "deployed")).first()


def latest_version(*, session: Session, model_id: str) -> ModelVersion | None:
    return session.exec(select(ModelVersion).where(ModelVersion.model_id == model_id)
                        .order_by(col(ModelVersion.id).desc()).limit(1)).first()


def register_version(*, session: Session, model: Model, version: str, run_id: str,
                     metrics: dict[str, float], input_schema: dict[str, Any],
                     artifact_uri: str, now: datetime) -> ModelVersion:
    row = ModelVersion(id=new_id(IdPrefix.VERSION, now=now), model_id=model.id,
                       version=version, run_id=run_id, status="candidate", metrics=metrics,
                       input_schema=input_schema, artifact_uri=artifact_uri, created_at=now)
    session.add(row)
    session.flush()
    return row


def _promote(*, session: Session, model: Model, target: ModelVersion,
             action: Literal["deploy", "rollback"], by_key: str | None, by_run: str | None,
             now: datetime, reason: str | None = None,
             figures: dict[str, Any] | None = None) -> ModelVersion:
    current = deployed_version(session=session, model_id=model.id)
    if current is not None and current.id == target.id:
        return target  # already deployed: nothing to record
    if current is not None:
        current.status = "archived"
        session.add(current)
        session.flush()  # one deployed version at a time
    target.status = "deployed"
    session.add(target)
    session.add(Promotion(id=new_id(IdPrefix.PROMOTION, now=now), model_id=model.id,
                          action=action, from_version=current.version if current else None,
                          to_version=target.version, key_id=by_key, run_id=by_run,
                          reason=reason, figures=figures, created_at=now))
    session.flush()
    audit.record(session=session, account=model.account, by_key=by_key, now=now,
                 action=AuditAction.MODEL_DEPLOYED if action == "deploy"
                 else AuditAction.MODEL_ROLLED_BACK,
                 target=f"{model.name}:{target.version}",
                 details={"from_version": current.version if current else None,
                          "run": by_run})
    webhook_repo.emit(session=session, account=model.account, now=now,
                      type_=EventType.MODEL_UPDATED, data={
                          "model": model.name, "version": target.version, "action": action,
                          "from_version": current.version if current else None,
                          "metrics": target.metrics, "run": target.run_id,
                          # a retrained version's: the champion's figure and its own
                          "evaluation": target.evaluation})
    return target


def deploy_version(*, session: Session, model: Model, version: str, by_key: str | None,
                   now: datetime, by_run: str | None = None, reason: str | None = None,
                   figures: dict[str, Any] | None = None) -> ModelVersion:
    """Makes ``version`` the deployed one; the previous becomes archived. ``reason`` and
    ``figures``: a canary's promotion says why (its last window)."""
    target = get_version(session=session, model=model, version=version)
    return _promote(session=session, model=model, target=target, action="deploy",
                    by_key=by_key, by_run=by_run, now=now, reason=reason, figures=figures)


def history(*, session: Session, model_id: str) -> list[Promotion]:
    """Every deploy and rollback, newest first."""
    return list(session.exec(select(Promotion).where(Promotion.model_id == model_id)
                             .order_by(col(Promotion.id).desc())))


def rollback(*, session: Session, model: Model, by_key: str | None,
             now: datetime) -> ModelVersion:
    """Redeploys the version deployed before the current one.

    Raises:
        ConflictError: nothing is deployed, or it was the first deployed version.
    """
    current = deployed_version(session=session, model_id=model.id)
    # A rollout that ended without promotion never changed the deployed version.
    target_name = rollback_target([e for e in history(session=session, model_id=model.id)
                                   if e.action in ("deploy", "rollback")],
                                  current.version if current else None)
    if target_name is None:
        raise ConflictError(f"Model '{model.name}' has no earlier deployed version to roll back to")
    target = get_version(session=session, model=model, version=target_name)
    return _promote(session=session, model=model, target=target, action="rollback",
                    by_key=by_key, by_run=None, now=now)

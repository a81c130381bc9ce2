"""Lineage: walking from an inference (or a run, snapshot or model version) back to the
training run, snapshot and datasource behind it."""

from __future__ import annotations

from sqlmodel import Session

from pulse_ray.errors import NotFoundError
from pulse_ray.ids import IdPrefix, created_at, has_prefix
from pulse_ray.schemas.lineage import (
    Lineage,
    LineageConversion,
    LineageDatasource,
    LineageFeedback,
    LineageInference,
    LineageModel,
    LineageSnapshot,
    LineageTraining,
)
from pulse_ray.services.inference import InferenceService
from pulse_ray.store import Database
from pulse_ray.store import feedback as feedback_repo
from pulse_ray.store import inference as inference_repo
from pulse_ray.store import models as model_repo
from pulse_ray.store import runs as run_repo
from pulse_ray.store import shop as shop_repo
from pulse_ray.store import snapshots as snapshot_repo
from pulse_ray.store.tables import (
    Datasource,
    InferenceRecord,
    Model,
    ModelVersion,
    Snapshot,
    TrainingRun,
)

__all__ = ["LineageService", "trace"]


def _snapshot_part(session: Session, snapshot: Snapshot) -> dict[str, object]:
    datasource = session.get(Datasource, snapshot.datasource_id)
    assert datasource is not None  # foreign key
    return {
        "snapshot": LineageSnapshot(id=snapshot.id, hash=snapshot.hash, rows=snapshot.rows,
                                    created_at=snapshot.created_at),
        "datasource": LineageDatasource(name=datasource.name, type=datasource.type,
                                        rows=snapshot.rows),
    }


def _run_part(session: Session, run: TrainingRun) -> dict[str, object]:
    snapshot = session.get(Snapshot, run.snapshot_id)
    assert snapshot is not None
    return {
        "training": LineageTraining(id=run.id, snapshot=run.snapshot_id, status=run.status,
                                    started_at=run.started_at, completed_at=run.completed_at),
        **_snapshot_part(session, snapshot),
    }


def _version_part(session: Session, model: Model, version: ModelVersion) -> dict[str, object]:
    run = run_repo.get_run(session=session, run_id=version.run_id)
    return {"model": LineageModel(name=model.name, version=version.version),
            **_run_part(session, run)}


def _outcomes(session: Session, record: InferenceRecord) -> dict[str, object]:
    """What happened after the prediction: its feedback and, for a recommendation, the
    purchases credited to it (the conversions themselves, not copies as feedback)."""
    feedback = feedback_repo.get_feedback(session=session, inference_id=record.id,
                                          account=record.account)
    conversions = shop_repo.credited_to(session=session, inference_id=record.id,
                                        account=record.account)
    return {"feedback": LineageFeedback(label=feedback.label, created_at=feedback.created_at)
            if feedback else None,
            "conversions": [LineageConversion(id=c.id, product_id=c.product_id,
                                              value=c.value, currency=c.currency,
                                              created_at=c.created_at)
                            for c in conversions] or None}


def trace(*, session: Session, lineage_id: str, account: str) -> Lineage | None:
    """The lineage of ``inf_…``, ``run_…``, ``snap_…`` or ``model:version``; None for an
    inference not (yet) in the store.

    Raises:
        NotFoundError: nothing with that id in this account.
    """
    if has_prefix(lineage_id, IdPrefix.INFERENCE):
        record = inference_repo.get_record(session=session, inference_id=lineage_id,
                                           account=account)
        if record is None:
            return None
        model = session.get(Model, record.model_id)
        assert model is not None
        version = model_repo.get_version(session=session, model=model, version=record.version)
        return Lineage(id=lineage_id, type="inference", inference=LineageInference(
            created_at=record.created_at, latency_ms=record.latency_ms, cached=record.cached,
            key=record.key_id, rollout=record.rollout_id,
            arm=record.arm, **_outcomes(session, record)),  # type: ignore[arg-type]
            **_version_part(session, model, version))  # type: ignore[arg-type]
    if has_prefix(lineage_id, IdPrefix.RUN):
        run, model = run_repo.get_run_with_model(session=session, run_id=lineage_id,
                                                 account=account)
        return Lineage(id=lineage_id, type="training_run",
                       model=LineageModel(name=model.name, version=run.version),
                       **_run_part(session, run))  # type: ignore[arg-type]
    if has_prefix(lineage_id, IdPrefix.SNAPSHOT):
        snapshot, _ = snapshot_repo.get_snapshot(session=session, snapshot_id=lineage_id,
                                                 account=account)
        return Lineage(id=lineage_id, type="snapshot",
                       **_snapshot_part(session, snapshot))  # type: ignore[arg-type]
    name, sep, version_name = lineage_id.partition(":")
    if sep and name and version_name:
        model = model_repo.get_model(session=session, name=name, account=account)
        version = model_repo.get_version(session=session, model=model, version=version_name)
        return Lineage(id=lineage_id, type="model_version",
                       **_version_part(session, model, version))  # type: ignore[arg-type]
    raise NotFoundError(f"'{lineage_id}' is not an inference, run, snapshot or "
                        "model:version id")


class LineageService:
    """``GET /v1/lineage/{id}``: the trace, waiting for an inference made a moment ago
    that may still be in some replica's log."""

    def __init__(self, *, database: Database, inference: InferenceService) -> None:
        self._database = database
        self._inference = inference

    async def trace(self, *, account: str, lineage_id: str) -> Lineage:
        """Raises NotFoundError when nothing with that id is in this account."""
        def look() -> Lineage | None:
            with self._database.session() as session:
                return trace(session=session, lineage_id=lineage_id, account=account)

        made = created_at(lineage_id) if has_prefix(lineage_id, IdPrefix.INFERENCE) else None
        found = await self._inference.recent(look, made=made)
        if found is None:
            raise NotFoundError(f"No inference '{lineage_id}'")
        return found

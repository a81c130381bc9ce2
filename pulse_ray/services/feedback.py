"""Feedback: the true outcome of a prediction, checked against the model's label type
and kept once per inference, for lineage and for retraining to join with snapshots."""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from sqlmodel import Session

from pulse_ray.auth import Principal
from pulse_ray.errors import NotFoundError, ValidationError
from pulse_ray.feedback import label_problem
from pulse_ray.ids import IdPrefix, created_at, has_prefix
from pulse_ray.schemas.feedback import FeedbackCreate, FeedbackPublic
from pulse_ray.services.inference import InferenceService
from pulse_ray.store import Database
from pulse_ray.store import feedback as repo
from pulse_ray.store import inference as inference_repo
from pulse_ray.store import models as model_repo
from pulse_ray.store import runs as run_repo
from pulse_ray.store.tables import InferenceRecord, Model

__all__ = ["FeedbackService"]


class FeedbackService:
    def __init__(self, *, database: Database, inference: InferenceService) -> None:
        self._database = database
        self._inference = inference

    async def record(self, principal: Principal, body: FeedbackCreate) -> FeedbackPublic:
        """Raises:
            NotFoundError: no such inference in the caller's account.
            ValidationError: a label the model's label column could not hold (on label).
            ConflictError: the inference already has its feedback.
        """
        inference_id, account = body.inference_id, principal.account
        if not has_prefix(inference_id, IdPrefix.INFERENCE):
            raise NotFoundError(f"No inference '{inference_id}'")

        def look() -> InferenceRecord | None:
            with self._database.session() as session:
                return inference_repo.get_record(session=session, inference_id=inference_id,
                                                 account=account)

        # Feedback sent right after the prediction may find it still in a replica's log.
        record = await self._inference.recent(look, made=created_at(inference_id))
        if record is None:
            raise NotFoundError(f"No inference '{inference_id}'")

        def store() -> FeedbackPublic:
            with self._database.session() as session:
                return self.add(session, record=record, label=body.label,
                                key_id=principal.key_id)

        return await to_thread.run_sync(store)

    def add(self, session: Session, *, record: InferenceRecord, label: Any,
            key_id: str | None) -> FeedbackPublic:
        """Checks ``label`` against the label column of the snapshot ``record``'s version
        was trained on and stores it as the record's outcome, in the caller's
        transaction: the one way an outcome is recorded, whether a client posts it or a
        shop conversion implies it (:meth:`ShopService.convert`).

        Raises:
            ValidationError: a label the model's label column could not hold (on label).
            ConflictError: the inference already has its feedback.
        """
        model = session.get(Model, record.model_id)
        assert model is not None  # foreign key
        version = model_repo.get_version(session=session, model=model, version=record.version)
        snapshot = run_repo.snapshot_of(session=session, version=version)
        types = {c["name"]: c["type"] for c in snapshot.columns}
        problem = label_problem(types.get(model.label_column, "string"), label)
        if problem:
            raise ValidationError.for_field(
                "label", f"{problem} ({model.name}'s label {model.label_column})")
        row = repo.add_feedback(session=session, record=record, label=label, key_id=key_id,
                                now=self._inference.clock())
        return FeedbackPublic(inference_id=row.inference_id, model=model.name,
                              version=row.version, label=row.label, created_at=row.created_at)

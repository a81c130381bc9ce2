"""SQLModel tables: what the store keeps, including what must never reach a response
(hashes, owning account, passwords). The wire shapes are plain pydantic models in
``pulse_ray.schemas`` (so the SDK that shares them needs neither SQLModel nor
SQLAlchemy); each row builds its own with ``public()`` — the one place a resource's
public shape is made from what is stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from pulse_ray.auth import Principal, Scope
from pulse_ray.plans import Plan, parse_limits
from pulse_ray.schemas.audit import AuditEventPublic
from pulse_ray.schemas.datasources import DatasourcePublic
from pulse_ray.schemas.keys import ApiKeyPublic
from pulse_ray.schemas.models import HistoryEvent, ModelPublic, VersionPublic
from pulse_ray.schemas.shop import (
    ConversionModel,
    ConversionPublic,
    ProductPublic,
    ProductTags,
    TaggingJobPublic,
)
from pulse_ray.schemas.snapshots import SnapshotDetail, SnapshotPublic
from pulse_ray.schemas.training import RunDetail, RunPublic
from pulse_ray.schemas.webhooks import WebhookCreated, WebhookPublic
from pulse_ray.sources.base import DatasourceType
from pulse_ray.store.engine import UTCDateTime

__all__ = [
    "ApiKey",
    "AuditEvent",
    "DashboardSession",
    "DeviceCode",
    "Datasource",
    "IdempotencyRecord",
    "Conversion",
    "DriftReference",
    "DriftWindow",
    "Feedback",
    "InferenceRecord",
    "Model",
    "ModelVersion",
    "Product",
    "Promotion",
    "RetrainPolicy",
    "Rollout",
    "RolloutError",
    "ShadowResult",
    "Snapshot",
    "TaggingJob",
    "TrafficMinute",
    "TrainingRun",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookMessage",
]


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=100)
    account: str = Field(default="default", index=True, max_length=100)
    prefix: str = Field(max_length=20)
    key_hash: str = Field(unique=True, max_length=64)
    # A plain string, not a database enum, so plans can change without a migration.
    plan: Plan = Field(default=Plan.FREE, sa_column=Column(String(32), nullable=False))
    scopes: list[Scope] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    # An enterprise key's own limits in their JSON form (pulse_ray.plans.dump_limits).
    limits: dict[str, Any] | str | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )

    def public(self) -> ApiKeyPublic:
        return ApiKeyPublic.model_validate(self)

    def to_principal(self) -> Principal:
        return Principal(
            key_id=self.id,
            name=self.name,
            plan=Plan(self.plan),
            scopes=frozenset(Scope(s) for s in self.scopes),
            account=self.account,
            key_hash=self.key_hash,
            revoked_at=self.revoked_at,
            limits=None if self.limits is None else parse_limits(self.limits),
        )


class IdempotencyRecord(SQLModel, table=True):
    """The first response to a POST sent with an Idempotency-Key, per API key.

    ``status_code`` is None while that first request is still running.
    """

    __tablename__ = "idempotency_records"

    key_id: str = Field(
        sa_column=Column(
            String(40), ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
        )
    )
    idempotency_key: str = Field(primary_key=True, max_length=255)
    request_hash: str = Field(max_length=64)
    status_code: int | None = None
    content_type: str | None = Field(default=None, max_length=100)
    body: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))



class Datasource(SQLModel, table=True):
    """A registered source. ``url`` is the URL as it may be shown (password masked);
    the URL itself, password and all, is in ``url_sealed``, sealed with the store's
    secret keys (pulse_ray.secretbox): a copy of the store holds no password."""

    __tablename__ = "datasources"
    __table_args__ = (UniqueConstraint("account", "name"),)

    id: str = Field(primary_key=True, max_length=40)
    account: str = Field(index=True, max_length=100)
    name: str = Field(max_length=64)
    type: DatasourceType = Field(sa_column=Column(String(16), nullable=False))
    url: str | None = Field(default=None, max_length=2048)
    url_sealed: str | None = Field(default=None, max_length=4096)
    path: str | None = Field(default=None, max_length=2048)
    table: str | None = Field(default=None, max_length=255)
    query: str | None = Field(default=None, max_length=10_000)
    shard_key: str | None = Field(default=None, max_length=255)
    label_column: str | None = Field(default=None, max_length=255)
    feature_columns: list[str] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    def public(self) -> DatasourcePublic:
        return DatasourcePublic.model_validate(self)


class Snapshot(SQLModel, table=True):
    """An immutable Parquet copy of a datasource; rows are never updated."""

    __tablename__ = "snapshots"

    id: str = Field(primary_key=True, max_length=40)
    account: str = Field(index=True, max_length=100)
    datasource_id: str = Field(
        sa_column=Column(
            String(40), ForeignKey("datasources.id", ondelete="RESTRICT"), nullable=False,
            index=True,
        )
    )
    rows: int = Field(sa_column=Column(BigInteger, nullable=False))
    size_bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
    hash: str = Field(max_length=80, index=True)
    compression: str = Field(max_length=16)
    uri: str = Field(max_length=2048)
    columns: list[dict[str, str]] = Field(sa_column=Column(JSON, nullable=False))
    files: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    def public(self, datasource: str) -> SnapshotPublic:
        return SnapshotPublic.model_validate({**self.model_dump(), "datasource": datasource})

    def detail(self, datasource: str) -> SnapshotDetail:
        return SnapshotDetail.model_validate({**self.model_dump(), "datasource": datasource})


class Model(SQLModel, table=True):
    """A named model and its data contract; versions come from training runs."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("account", "name"),)

    id: str = Field(primary_key=True, max_length=40)
    account: str = Field(index=True, max_length=100)
    name: str = Field(max_length=64)
    family: str = Field(max_length=64)
    label_column: str = Field(max_length=255)
    feature_columns: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # The data contract's per-column constraints (ColumnConstraint's JSON), by column.
    constraints: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        sa_column=Column(JSON, nullable=False, server_default=text("'{}'")))
    description: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    def public(self, deployed_version: str | None) -> ModelPublic:
        return ModelPublic.model_validate({**self.model_dump(),
                                           "deployed_version": deployed_version})


class TrainingRun(SQLModel, table=True):
    __tablename__ = "training_runs"

    id: str = Field(primary_key=True, max_length=40)
    account: str = Field(index=True, max_length=100)
    key_id: str | None = Field(default=None, max_length=40)
    model_id: str = Field(sa_column=Column(
        String(40), ForeignKey("models.id", ondelete="RESTRICT"), nullable=False, index=True))
    snapshot_id: str = Field(sa_column=Column(
        String(40), ForeignKey("snapshots.id", ondelete="RESTRICT"), nullable=False))
    status: str = Field(max_length=16, index=True)
    ray_job_id: str | None = Field(default=None, max_length=100)
    options: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # Everything the run's job needs, fixed at creation (services.training.RunSpec).
    spec: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    epochs: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON,
                                                                                nullable=False))
    metrics: dict[str, float] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    version: str | None = Field(default=None, max_length=64)
    error: str | None = Field(default=None, max_length=4000)
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    running_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(),
                                                                       nullable=True))
    completed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(),
                                                                         nullable=True))

    def public(self, model: str) -> RunPublic:
        return RunPublic(id=self.id, model=model, status=self.status,  # type: ignore[arg-type]
                         started_at=self.started_at, snapshot=self.snapshot_id)

    def detail(self, model: str, logs: str | None) -> RunDetail:
        return RunDetail.model_validate({**self.public(model).model_dump(), **self.model_dump(
            include={"ray_job_id", "running_at", "completed_at", "options", "epochs",
                     "metrics", "version", "error"}), "logs": logs})


class ModelVersion(SQLModel, table=True):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: str = Field(primary_key=True, max_length=40)
    model_id: str = Field(sa_column=Column(
        String(40), ForeignKey("models.id", ondelete="RESTRICT"), nullable=False, index=True))
    version: str = Field(max_length=64)
    run_id: str = Field(sa_column=Column(
        String(40), ForeignKey("training_runs.id", ondelete="RESTRICT"), nullable=False))
    status: str = Field(max_length=16)
    metrics: dict[str, float] = Field(sa_column=Column(JSON, nullable=False))
    input_schema: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    artifact_uri: str = Field(max_length=2048)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # A retrained version's judgement against the champion on the holdout
    # (pulse_ray.retrain.Evaluation's JSON): figures, margin, promoted or not.
    evaluation: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON,
                                                                             nullable=True))

    def public(self) -> VersionPublic:
        return VersionPublic.model_validate({**self.model_dump(), "run": self.run_id})


class Promotion(SQLModel, table=True):
    """A deploy or rollback: history that can be shown and undone."""

    __tablename__ = "promotions"

    id: str = Field(primary_key=True, max_length=40)
    model_id: str = Field(sa_column=Column(
        String(40), ForeignKey("models.id", ondelete="RESTRICT"), nullable=False, index=True))
    action: str = Field(max_length=16)
    from_version: str | None = Field(default=None, max_length=64)
    to_version: str = Field(max_length=64)
    key_id: str | None = Field(default=None, max_length=40)
    run_id: str | None = Field(default=None, max_length=40)
    # A rollout's end: why, and its last window's figures.
    reason: str | None = Field(default=None, max_length=1000)
    figures: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    def public(self) -> HistoryEvent:
        return HistoryEvent(action=self.action,  # type: ignore[arg-type]
                            from_version=self.from_version, to_version=self.to_version,
                            by=self.key_id or self.run_id, reason=self.reason,
                            figures=self.figures, created_at=self.created_at)


class InferenceRecord(SQLModel, table=True):
    """One prediction, for lineage: written in batches off the request path."""

    __tablename__ = "inference_records"
    __table_args__ = (
        # The drift watch reads one version's records in time order.
        Index("ix_inference_records_drift", "model_id", "version", "created_at"),
        # Only the records still keeping their input: the controller's pruning reads
        # these, not the whole (ever-growing) table.
        Index("ix_inference_records_inputs_kept", "created_at",
              sqlite_where=text("inputs IS NOT NULL"),
              postgresql_where=text("inputs IS NOT NULL")),
        # The shop page's persona mix reads an account's latest shop inferences only
        # (those with a shopper session; their prediction is the persona read).
        Index("ix_inference_records_shop", "account", "created_at",
              sqlite_where=text("session_id IS NOT NULL"),
              postgresql_where=text("session_id IS NOT NULL")),
    )

    id: str = Field(primary_key=True, max_length=40)
    account: str = Field(max_length=100)
    key_id: str | None = Field(default=None, max_length=40)
    model_id: str = Field(sa_column=Column(
        String(40), ForeignKey("models.id", ondelete="RESTRICT"), nullable=False, index=True))
    version: str = Field(max_length=64)
    latency_ms: float
    cached: bool
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # E-commerce inferences (POST /v1/infer): the shopper session and what was
    # recommended, so a later conversion can be attributed to it.
    session_id: str | None = Field(default=None, max_length=100, index=True)
    recommended: list[str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # During a rollout: which one, and the arm that answered (pulse_ray.rollouts.Arm).
    rollout_id: str | None = Field(default=None, max_length=40, index=True)
    arm: str | None = Field(default=None, max_length=16)
    # What the version read (validated, by field), for the drift watch; the controller
    # clears it after PULSE_INFERENCE_INPUTS_RETENTION_H.
    inputs: dict[str, Any] | None = Field(default=None, sa_column=Column(
        JSON(none_as_null=True), nullable=True))  # None is SQL NULL, not JSON null
    # What it answered (the label's value, a persona): feedback is scored against it.
    prediction: Any = Field(default=None, sa_column=Column(JSON(none_as_null=True),
                                                           nullable=True))


class TrafficMinute(SQLModel, table=True):
    """One model version's predictions in one minute that took about one latency (a
    bucket of :data:`pulse_ray.store.traffic.LATENCY_BOUNDS`): what the overview's
    request rate, quantiles and error rate are read from. The ingress adds its counts in
    the same batched write as the records (one upsert per batch), so an hour of a model
    is at most 60 × a few buckets rows, however busy."""

    __tablename__ = "traffic_minutes"

    # The key's order is the overview's read: an account's minutes since a time.
    account: str = Field(primary_key=True, max_length=100)
    minute: datetime = Field(sa_column=Column(UTCDateTime(), primary_key=True))
    model_id: str = Field(sa_column=Column(
        String(40), ForeignKey("models.id", ondelete="RESTRICT"), primary_key=True))
    version: str = Field(primary_key=True, max_length=64)
    bucket: int = Field(primary_key=True)
    answered: int = 0  # predictions answered (the records' count)
    cached: int = 0  # ... of which from the prediction cache
    failed: int = 0  # server-side failures: the model raised, a replica was lost (5xx)
    rejected: int = 0  # requests refused for their input (4xx)


class DriftReference(SQLModel, table=True):
    """A version's training snapshot, binned per feature (pulse_ray.drift's
    FeatureReference JSON): computed once, on the drift watch's first look at it."""

    __tablename__ = "drift_references"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True,
                                                          autoincrement=True))
    model_id: str = Field(sa_column=Column(
        String(40), ForeignKey("models.id", ondelete="RESTRICT"), nullable=False))
    version: str = Field(max_length=64)
    snapshot_id: str = Field(max_length=40)
    features: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class DriftWindow(SQLModel, table=True):
    """One ended window of a version's live inputs and, when it held enough rows to be
    judged, each feature's PSI (pulse_ray.drift's FeatureDrift JSON, by feature)."""

    __tablename__ = "drift_windows"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True,
                                                          autoincrement=True))
    account: str = Field(max_length=100, index=True)
    model_id: str = Field(sa_column=Column(
        String(40), ForeignKey("models.id", ondelete="RESTRICT"), nullable=False, index=True))
    version: str = Field(max_length=64)
    rows: int
    judged: bool
    level: str | None = Field(default=None, max_length=16)
    features: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON,
                                                                           nullable=True))
    started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # The last inference the window holds: the next window starts after it.
    ended_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_inference_id: str = Field(max_length=40)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Feedback(SQLModel, table=True):
    """The true outcome of one inference (POST /v1/feedback): one per inference."""

    __tablename__ = "feedback"

    inference_id: str = Field(primary_key=True, max_length=40)
    account: str = Field(max_length=100, index=True)
    model_id: str = Field(sa_column=Column(
        String(40), ForeignKey("models.id", ondelete="RESTRICT"), nullable=False, index=True))
    version: str = Field(max_length=64)
    label: Any = Field(sa_column=Column(JSON, nullable=False))
    key_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class RetrainPolicy(SQLModel, table=True):
    """When a model is retrained and what a retrained version must beat to be deployed
    (PUT /v1/models/{model}/retrain-policy); one per model."""

    __tablename__ = "retrain_policies"

    model_id: str = Field(sa_column=Column(
        String(40), ForeignKey("models.id", ondelete="RESTRICT"), primary_key=True))
    account: str = Field(max_length=100, index=True)
    schedule: str = Field(max_length=100)
    min_new_labels: int
    on_drift: bool
    promotion_margin: float
    metric: str = Field(max_length=32)
    last_retrain_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(),
                                                                            nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class RetrainAttempt(SQLModel, table=True):
    """One retrain the controller made of a due policy, step by step: ``preparing``
    (snapshot, joined with feedback; holdout set aside), ``training`` (its run), then
    ended ``promoted`` (a canary started, or deployed when nothing was), ``not_promoted``
    or ``failed``. ``active_model_id`` is the model's id until it ends, so the unique
    constraint keeps one attempt in progress per model whatever races."""

    __tablename__ = "retrain_attempts"

    id: str = Field(primary_key=True, max_length=40)
    account: str = Field(max_length=100, index=True)
    model_id: str = Field(sa_column=Column(
        String(40), ForeignKey("models.id", ondelete="RESTRICT"), nullable=False, index=True))
    active_model_id: str | None = Field(default=None, max_length=40, unique=True)
    reason: str = Field(max_length=16)  # schedule | drift
    status: str = Field(max_length=16)
    metric: str = Field(max_length=32)
    promotion_margin: float
    base_snapshot_id: str | None = Field(default=None, max_length=40)
    snapshot_id: str | None = Field(default=None, max_length=40)
    holdout_uri: str | None = Field(default=None, max_length=2048)
    feedback_rows: int | None = None  # feedback rows trained on
    holdout_rows: int | None = None
    run_id: str | None = Field(default=None, max_length=40)
    version: str | None = Field(default=None, max_length=64)
    champion_version: str | None = Field(default=None, max_length=64)
    candidate_metric: float | None = None
    champion_metric: float | None = None
    rollout_id: str | None = Field(default=None, max_length=40)
    error: str | None = Field(default=None, max_length=4000)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(),
                                                                         nullable=True))


class Rollout(SQLModel, table=True):
    """A canary: its policy, where it is, and how it ended. ``active_model_id`` is the
    model's id while it runs and NULL after, so the unique constraint keeps one running
    rollout per model whatever races."""

    __tablename__ = "rollouts"

    id: str = Field(primary_key=True, max_length=40)
    account: str = Field(max_length=100, index=True)
    model_id: str = Field(sa_column=Column(
        String(40), ForeignKey("models.id", ondelete="RESTRICT"), nullable=False, index=True))
    active_model_id: str | None = Field(default=None, max_length=40, unique=True)
    strategy: str = Field(max_length=16)
    status: str = Field(max_length=16, index=True)
    stable_version: str = Field(max_length=64)
    candidate_version: str = Field(max_length=64)
    steps: list[int] = Field(sa_column=Column(JSON, nullable=False))
    step_index: int = 0
    interval_s: float
    max_error_rate_delta: float
    max_p99_ratio: float
    min_requests: int
    key_id: str | None = Field(default=None, max_length=40)
    run_id: str | None = Field(default=None, max_length=40)
    # The stable arm's figures from the last window judged (pulse_ray.rollouts.ArmStats).
    baseline: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    reason: str | None = Field(default=None, max_length=1000)
    step_started_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(),
                                                                         nullable=True))


class RolloutError(SQLModel, table=True):
    """A server error one arm of a rollout gave (a row each, written in the inference
    log's batches by whichever ingress replica saw it), for the controller's counts."""

    __tablename__ = "rollout_errors"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True,
                                                          autoincrement=True))
    rollout_id: str = Field(max_length=40, index=True)
    arm: str = Field(max_length=16)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ShadowResult(SQLModel, table=True):
    """A shadow rollout's copy of one request: whether the candidate agreed with the
    stable answer, by how much its confidence differed, how long it took."""

    __tablename__ = "rollout_shadow_results"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True,
                                                          autoincrement=True))
    rollout_id: str = Field(max_length=40, index=True)
    failed: bool
    agreed: bool | None = None
    confidence_diff: float | None = None
    latency_ms: float | None = None
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class WebhookEndpoint(SQLModel, table=True):
    """A subscription: where an account's events go, and the secrets that sign them,
    sealed with the store's secret keys (pulse_ray.store.webhooks opens them)."""

    __tablename__ = "webhook_endpoints"

    id: str = Field(primary_key=True, max_length=40)
    account: str = Field(max_length=100, index=True)
    url: str = Field(max_length=2048)
    events: list[str] = Field(sa_column=Column(JSON, nullable=False))
    description: str | None = Field(default=None, max_length=500)
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, max_length=500)
    secret: str = Field(max_length=1000)
    previous_secret: str | None = Field(default=None, max_length=1000)
    previous_secret_until: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True))
    failing_since: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    def public(self) -> WebhookPublic:
        return WebhookPublic.model_validate(self, from_attributes=True)

    def created(self, secret: str) -> WebhookCreated:
        """The answer to subscribing: the public fields and, this once, the secret."""
        return WebhookCreated.model_validate({**self.public().model_dump(), "secret": secret})


class WebhookMessage(SQLModel, table=True):
    """The outbox: one event, written in the transaction of the change that caused it."""

    __tablename__ = "webhook_messages"

    id: str = Field(primary_key=True, max_length=40)
    account: str = Field(max_length=100, index=True)
    type: str = Field(max_length=100)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class WebhookDelivery(SQLModel, table=True):
    """One message to one endpoint: pending until a 2xx, or until retries run out."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("message_id", "endpoint_id"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(sa_column=Column(
        String(40), ForeignKey("webhook_messages.id", ondelete="CASCADE"), nullable=False))
    endpoint_id: str = Field(sa_column=Column(
        String(40), ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False,
        index=True))
    status: str = Field(default="pending", max_length=20, index=True)  # delivered | failed
    attempts: int = 0
    next_attempt_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True, index=True))


class WebhookAttempt(SQLModel, table=True):
    """One try of a delivery: the delivery log."""

    __tablename__ = "webhook_attempts"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: int = Field(sa_column=Column(
        Integer, ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False,
        index=True))
    attempt: int
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    latency_ms: float
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Product(SQLModel, table=True):
    """A catalog product (client-provided ``prod_`` id) with its Digital Twin tags and
    the text embedding they came from (float32, used to rank recommendations)."""

    __tablename__ = "products"

    account: str = Field(primary_key=True, max_length=100)
    id: str = Field(primary_key=True, max_length=100)
    name: str = Field(max_length=500)
    description: str | None = Field(default=None, max_length=5000)
    price: float
    category: str = Field(max_length=255)
    image_url: str | None = Field(default=None, max_length=2048)
    rating: float | None = None
    tags: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    embedding: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    tagged_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))

    def public(self) -> ProductPublic:
        return ProductPublic(id=self.id, name=self.name, description=self.description,
                             price=self.price, category=self.category,
                             image_url=self.image_url, rating=self.rating,
                             tags=ProductTags.model_validate(self.tags),
                             tagged_at=self.tagged_at)


class TaggingJob(SQLModel, table=True):
    """A large tagging request finished in the background, by whichever worker holds
    its lease (``lease_owner`` until ``lease_expires_at``); ``tagged`` is also the
    checkpoint: ``products[:tagged]`` are stored."""

    __tablename__ = "tagging_jobs"

    id: str = Field(primary_key=True, max_length=40)
    account: str = Field(max_length=100, index=True)
    key_id: str | None = Field(default=None, max_length=40)
    status: str = Field(max_length=16, index=True)  # queued | running | succeeded | failed
    products: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    total: int
    tagged: int = 0
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(),
                                                                             nullable=True))
    error: str | None = Field(default=None, max_length=4000)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    completed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(),
                                                                         nullable=True))

    def public(self) -> TaggingJobPublic:
        return TaggingJobPublic(id=self.id, status=self.status,  # type: ignore[arg-type]
                                total=self.total, tagged=self.tagged, error=self.error,
                                created_at=self.created_at, completed_at=self.completed_at)


class Conversion(SQLModel, table=True):
    """A purchase, attributed (when it can be) to the inference that recommended it."""

    __tablename__ = "conversions"

    id: str = Field(primary_key=True, max_length=40)
    account: str = Field(max_length=100, index=True)
    key_id: str | None = Field(default=None, max_length=40)
    session_id: str = Field(max_length=100, index=True)
    product_id: str = Field(max_length=100)
    value: float
    currency: str = Field(max_length=3)
    inference_id: str | None = Field(default=None, max_length=40)
    model_id: str | None = Field(default=None, max_length=40)
    version: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    def public(self, model: str | None) -> ConversionPublic:
        """``model``: the name of the model whose inference it is credited to."""
        return ConversionPublic(
            id=self.id, session_id=self.session_id, product_id=self.product_id,
            value=self.value, currency=self.currency, attributed=self.model_id is not None,
            inference_id=self.inference_id,
            model=ConversionModel(name=model, version=self.version)
            if model is not None and self.version is not None else None,
            created_at=self.created_at)


class AuditEvent(SQLModel, table=True):
    """A change an account's admins may have to account for: who (the account and the
    key), what, to which resource, when. Insert-only, written in the change's own
    transaction, so the trail holds exactly the changes that happened."""

    __tablename__ = "audit_events"

    id: str = Field(primary_key=True, max_length=40)
    account: str = Field(max_length=100, index=True)
    key_id: str | None = Field(default=None, max_length=40)
    action: str = Field(max_length=40)
    target: str = Field(max_length=200)
    details: dict[str, Any] = Field(default_factory=dict,
                                    sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    def public(self) -> AuditEventPublic:
        return AuditEventPublic.model_validate(self, from_attributes=True)


class DashboardSession(SQLModel, table=True):
    """A dashboard sign-in: it acts as the key it was opened with, so revoking the key
    ends it. Only a hash of the cookie's token is kept (a leaked table opens nothing)."""

    __tablename__ = "dashboard_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    key_id: str = Field(sa_column=Column(
        String(40), ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False, index=True))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_seen_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))
    # What the next page shows once (a new key's secret), encrypted with a key derived
    # from the cookie's token, which the store never sees.
    flash: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class DeviceCode(SQLModel, table=True):
    """A `pulse auth login` waiting for a signed-in user to approve it. The CLI holds the
    device code (only its hash is kept); the user types the short user code. The key is
    made when the CLI collects it after approval, so its secret is never stored."""

    __tablename__ = "device_codes"

    device_code_hash: str = Field(primary_key=True, max_length=64)
    user_code: str = Field(max_length=16, unique=True)
    name: str = Field(max_length=100)
    scopes: list[Scope] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(max_length=16)  # pending | approved | denied | used
    account: str | None = Field(default=None, max_length=100)
    approved_by: str | None = Field(default=None, max_length=40)
    key_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))

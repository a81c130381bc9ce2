"""Models, their versions and their promotion history on the wire (seed 000)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pulse_ray.models.families import CLASSIFIER, Family
from pulse_ray.models.inputs import ColumnConstraint
from pulse_ray.timeutil import Timestamp

__all__ = [
    "HistoryEvent",
    "ModelCreate",
    "ModelHistory",
    "ModelPublic",
    "ModelVersions",
    "VersionPublic",
]

_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")

VersionStatus = Literal["deployed", "archived", "candidate"]


class ModelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(examples=["fraud-detector"], description="Lowercase, digits and dashes.")
    family: Family = Field(
        default=CLASSIFIER, description="tabular-classifier predicts a class (the label "
        "holds a few values: text, booleans or whole numbers), tabular-regressor a number.")
    label_column: str = Field(min_length=1, max_length=255, examples=["is_fraud"])
    feature_columns: list[str] | None = Field(
        default=None, min_length=1,
        description="Columns the model reads; default: every column but the label.",
    )
    constraints: dict[str, ColumnConstraint] = Field(
        default_factory=dict,
        examples=[{"transaction_amount": {"exclusive_minimum": 0},
                   "hour": {"minimum": 0, "maximum": 23}, "country": {"required": True}}],
        description="What each column's meaning demands, by column (JSON Schema's words): "
        "`required` (inference refuses a request without it; otherwise a left-out input "
        "is imputed as missing) and, for numbers, `minimum`, `exclusive_minimum`, "
        "`maximum`, `exclusive_maximum`. Training copies them into each version's input "
        "schema; nothing else is refused for its value.",
    )
    description: str | None = Field(default=None, max_length=1000)

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be 1-64 lowercase letters, digits and dashes")
        return value


class ModelPublic(BaseModel):
    name: str
    family: str
    label_column: str
    feature_columns: list[str] | None
    constraints: dict[str, ColumnConstraint] = Field(default_factory=dict)
    description: str | None = None
    deployed_version: str | None = None
    created_at: Timestamp


class VersionPublic(BaseModel):
    version: str = Field(examples=["1.0.0-def456"])
    created_at: Timestamp
    status: VersionStatus
    metrics: dict[str, float] = Field(
        description="On the validation split. A classifier: accuracy, f1_score, "
        "precision, recall, roc_auc, brier_score, ece; a regressor: rmse, mae, r2. Both: "
        "each candidate's best validation loss (<name>_validation_loss), which one was "
        "kept (<name>_chosen: 1) and its best_epoch.")
    run: str = Field(description="The training run (run_…) that made it.")
    input_schema: dict[str, object] = Field(description="What inference accepts.")
    artifact_uri: str
    evaluation: dict[str, object] | None = Field(
        default=None, description="A retrained version against the champion on the "
        "retrain's holdout: metric, candidate, champion, champion_version, margin, "
        "holdout_rows and promoted (false: kept as a candidate, not promoted).")


class ModelVersions(BaseModel):
    model: str
    versions: list[VersionPublic]


class HistoryEvent(BaseModel):
    action: Literal["deploy", "rollback", "rollout_rollback", "rollout_abort"] = Field(
        description="deploy (also a canary's promotion), rollback; rollout_rollback: a "
        "canary the controller stopped (from_version the candidate), rollout_abort: one "
        "a person stopped.")
    from_version: str | None
    to_version: str
    by: str | None = Field(description="key_… that asked, or run_… for an automatic deploy.")
    reason: str | None = Field(default=None, description="Why a rollout ended so.")
    figures: dict[str, Any] | None = Field(
        default=None, description="A rollout's last window: each arm's requests, errors, "
        "error rate, p50 and p99.")
    created_at: Timestamp


class ModelHistory(BaseModel):
    model: str
    events: list[HistoryEvent]

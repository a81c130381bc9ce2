"""A model's retraining policy on the wire (``/v1/models/{model}/retrain-policy``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pulse_ray.timeutil import Timestamp

__all__ = ["RetrainAttemptPublic", "RetrainPolicyBody", "RetrainPolicyPublic",
           "RetrainStatus"]


class RetrainPolicyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schedule: str = Field(default="daily", max_length=100, description='"daily" (00:00 '
                          "UTC) or a five-field cron string, in UTC.")
    min_new_labels: int = Field(default=500, ge=0, le=100_000_000, description="Feedback "
                                "labels recorded since the last retrain that one needs.")
    on_drift: bool = Field(default=True, description="A model.drift alert makes a retrain "
                           "due before its scheduled time.")
    promotion_margin: float = Field(default=0.005, ge=0, le=1, description="How much "
                                    "better than the deployed version, on metric, a "
                                    "retrained one must be to be deployed.")
    metric: str | None = Field(default=None, max_length=32, description="Higher-is-better "
                               "metric compared (default: the family's, f1_score or r2).")


class RetrainStatus(BaseModel):
    due: bool
    reason: Literal["schedule", "drift", "waiting", "labels"] = Field(
        description="schedule/drift: why it is due; waiting: for the next scheduled time; "
        "labels: too few new labels.")
    next_scheduled_at: Timestamp
    new_labels: int = Field(description="Feedback recorded since the last retrain (or "
                            "since the policy was set).")
    drifted: bool = Field(description="A feature crossed the drift threshold since then.")


class RetrainAttemptPublic(BaseModel):
    """One retrain the controller made, and what came of it."""

    id: str = Field(examples=["rtr_2NxQ8aZ5bT3k9mW1pL4r7sV6y0"])
    reason: Literal["schedule", "drift"] = Field(description="Why it was due.")
    status: Literal["preparing", "training", "promoted", "not_promoted", "failed"] = Field(
        description="promoted: better by the margin, deployed through a canary (rollout) "
        "or at once when nothing was deployed; not_promoted: kept as a candidate.")
    metric: str
    promotion_margin: float
    run: str | None = Field(description="The training run (run_…): its lineage.")
    snapshot: str | None = Field(description="What it trained on: the fresh snapshot "
                                 "(base_snapshot) with the feedback rows appended.")
    base_snapshot: str | None
    feedback_rows: int | None = Field(description="Labelled feedback rows trained on.")
    holdout_rows: int | None = Field(description="The latest labelled rows, held out.")
    version: str | None = Field(description="The version it trained.")
    candidate_metric: float | None = Field(description="The new version's metric on the "
                                           "holdout.")
    champion_version: str | None
    champion_metric: float | None = Field(description="The deployed version's, on the "
                                          "same holdout.")
    rollout: str | None = Field(description="The canary that deploys it (rol_…).")
    error: str | None
    created_at: Timestamp
    finished_at: Timestamp | None


class RetrainPolicyPublic(BaseModel):
    model: str
    schedule: str
    min_new_labels: int
    on_drift: bool
    promotion_margin: float
    metric: str
    last_retrain_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp
    status: RetrainStatus
    attempts: list[RetrainAttemptPublic] = Field(
        description="The latest retrains (at most 10), newest first.")

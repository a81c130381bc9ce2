"""What was live when (``GET /v1/models/{model}/timeline``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from pulse_ray.timeline import Reason
from pulse_ray.timeutil import Timestamp

__all__ = ["DriftSummary", "OutcomeSummary", "Timeline", "TimelinePeriod"]


class DriftSummary(BaseModel):
    windows: int = Field(description="Drift windows of the version's live inputs that "
                         "ended in the period.")
    judged: int = Field(description="Those with enough rows to be judged.")
    watch: int = Field(description="Judged windows at the watch level.")
    drift: int = Field(description="Judged windows where a feature drifted.")
    max_psi: float | None = Field(description="The highest feature PSI of the period.")
    max_psi_feature: str | None


class OutcomeSummary(BaseModel):
    labelled: int = Field(description="Predictions of the period with feedback.")
    scored: int = Field(description="Those whose prediction was recorded.")
    accuracy: float | None = Field(description="A classifier: share of those where the "
                                   "prediction was the outcome.")
    mae: float | None = Field(description="A regressor: mean absolute error.")


class TimelinePeriod(BaseModel):
    version: str
    started_at: Timestamp
    ended_at: Timestamp | None = Field(description="null: live now.")
    reason: Reason = Field(description="Why it became live: manual (a person's deploy), "
                           "training (a run's deploy option), canary_promoted, "
                           "retrain_promoted (a retrain judged it better), rolled_back.")
    detail: str | None = Field(description="A rollout's end: why.")
    by: str | None = Field(description="The key (key_…) or run (run_…) that made it.")
    evaluation: dict[str, object] | None = Field(
        description="A retrained version's figures against the champion it replaced.")
    drift: DriftSummary
    outcomes: OutcomeSummary


class Timeline(BaseModel):
    model: str
    periods: list[TimelinePeriod] = Field(description="Newest first.")

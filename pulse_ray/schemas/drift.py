"""The drift watch's answers: each window of live inputs and its per-feature PSI."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from pulse_ray.timeutil import Timestamp

__all__ = ["DriftReport", "DriftWindowPublic", "FeaturePsi"]


class FeaturePsi(BaseModel):
    psi: float = Field(description="Population Stability Index against the training "
                       "snapshot.")
    level: Literal["ok", "watch", "drift"]
    unseen_share: float | None = Field(default=None, description="Categorical features: "
                                       "the share of live values training never saw.")


class DriftWindowPublic(BaseModel):
    version: str
    rows: int = Field(description="Inferences in the window.")
    judged: bool = Field(description="False when it held too few rows to be judged.")
    level: Literal["ok", "watch", "drift"] | None = Field(
        default=None, description="The worst feature's level; null when not judged.")
    features: dict[str, FeaturePsi] | None = None
    started_at: Timestamp
    ended_at: Timestamp


class DriftReport(BaseModel):
    """A model's drift windows, newest first, and the settings they were judged by."""

    model: str
    deployed_version: str | None
    watch_psi: float
    drift_psi: float
    window_requests: int = Field(description="A window ends after this many inferences...")
    window_s: float = Field(description="... or this long after its first.")
    min_rows: int = Field(description="Windows with fewer inferences are not judged.")
    windows: list[DriftWindowPublic]

"""Feedback: the true outcome of one prediction (``POST /v1/feedback``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pulse_ray.timeutil import Timestamp

__all__ = ["FeedbackCreate", "FeedbackPublic", "Label"]

Label = bool | int | float | str


class FeedbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inference_id: str = Field(min_length=1, max_length=40,
                              description="The prediction this is the outcome of (inf_…).")
    label: Label | None = Field(description="The true value of the model's label column "
                                "(a fraud label: true/false), checked against its type.")


class FeedbackPublic(BaseModel):
    inference_id: str
    model: str
    version: str = Field(description="The version that made the prediction.")
    label: Label
    created_at: Timestamp

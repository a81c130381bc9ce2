"""Lineage on the wire (seed 000: GET /v1/lineage/{id})."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from pulse_ray.timeutil import Timestamp

__all__ = ["Lineage"]


class LineageModel(BaseModel):
    name: str
    version: str | None


class LineageTraining(BaseModel):
    id: str
    snapshot: str
    status: str
    started_at: Timestamp
    completed_at: Timestamp | None


class LineageSnapshot(BaseModel):
    id: str
    hash: str
    rows: int
    created_at: Timestamp


class LineageDatasource(BaseModel):
    name: str
    type: str
    rows: int


class LineageFeedback(BaseModel):
    label: bool | int | float | str
    created_at: Timestamp


class LineageConversion(BaseModel):
    id: str
    product_id: str
    value: float
    currency: str
    created_at: Timestamp


class LineageInference(BaseModel):
    created_at: Timestamp
    latency_ms: float
    cached: bool
    key: str | None
    rollout: str | None = Field(default=None, description="The rollout running when it was "
                                "answered (rol_…), if any.")
    arm: Literal["stable", "candidate", "fallback"] | None = Field(
        default=None, description="Which side of that rollout answered; fallback: the "
        "candidate failed and the stable version answered.")
    feedback: LineageFeedback | None = Field(default=None, description="Its true outcome "
                                             "(POST /v1/feedback), once recorded.")
    conversions: list[LineageConversion] | None = Field(
        default=None, description="E-commerce: the purchases credited to it (its outcomes).")


class Lineage(BaseModel):
    """From a prediction (or run, snapshot, version) back to its data."""

    id: str
    type: Literal["inference", "training_run", "snapshot", "model_version"]
    inference: LineageInference | None = None
    model: LineageModel | None = None
    training: LineageTraining | None = None
    snapshot: LineageSnapshot | None = None
    datasource: LineageDatasource | None = None

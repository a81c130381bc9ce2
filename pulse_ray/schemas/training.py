"""Training runs on the wire (seed 000: POST /v1/train/{model})."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pulse_ray.timeutil import Timestamp

__all__ = ["RunDetail", "RunPublic", "RunStatus", "TrainCreate", "TrainOptions"]

RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class TrainOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    gpu: bool = Field(default=False, description="Train on GPUs (refused if the cluster has none).")
    notify_on_complete: bool = Field(
        default=False, description="Send training.completed / training.failed webhooks.")
    num_workers: int = Field(default=1, ge=1, le=64, description="Ray Train workers (DDP).")
    epochs: int = Field(default=100, ge=1, le=500, description="The most epochs a run "
                        "trains: each candidate stops earlier once `patience` epochs have "
                        "not improved its validation loss.")
    patience: int = Field(default=10, ge=1, le=500, description="Epochs without a better "
                          "validation loss after which a candidate stops (early stopping).")
    batch_size: int = Field(default=1024, ge=16, le=65536, description="The most rows a "
                            "step takes: smaller on a small table, so an epoch has at least "
                            "32 steps.")
    learning_rate: float = Field(default=2e-3, gt=0, le=1)
    validation_split: float = Field(
        default=0.2, gt=0, lt=0.9,
        description="Share of rows held out, chosen by a hash of each row's content: the "
        "same snapshot always splits the same way.")
    deploy: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="auto: deploy the new version if it beats the deployed one (F1 for a "
        "classifier, R² for a regressor).",
    )
    seed: int = Field(default=0, ge=0)


class TrainCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    snapshot: str = Field(examples=["snap_abc123"])
    options: TrainOptions = Field(default_factory=TrainOptions)


class RunPublic(BaseModel):
    id: str = Field(examples=["run_xyz789"])
    model: str
    status: RunStatus
    started_at: Timestamp = Field(description="When the run was submitted.")
    snapshot: str


class RunDetail(RunPublic):
    ray_job_id: str | None
    running_at: Timestamp | None = Field(description="When the Ray job started work.")
    completed_at: Timestamp | None
    options: TrainOptions
    epochs: list[dict[str, float]] = Field(description="Metrics of every epoch so far.")
    metrics: dict[str, float] | None = Field(description="Final validation metrics.")
    version: str | None = Field(description="The model version the run registered.")
    error: str | None
    logs: str | None = Field(default=None, description="The last lines of the job's log.")

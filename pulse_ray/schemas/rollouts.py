"""Deploys and rollouts on the wire: the deploy body, and a rollout's live state."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pulse_ray.timeutil import Timestamp

__all__ = ["ArmPublic", "DeployBody", "RolloutPublic", "RolloutStatus", "ShadowPublic"]

RolloutStatus = Literal["running", "promoted", "rolled_back", "aborted"]


class DeployBody(BaseModel):
    """``POST /v1/models/{model}/versions/{version}/deploy``'s options; without a body
    the version is deployed at once. Options left out come from the PULSE_ROLLOUT_*
    settings."""

    model_config = ConfigDict(extra="forbid")

    strategy: Literal["immediate", "canary", "shadow"] = Field(
        default="immediate",
        description="immediate: all traffic moves at once. canary: the version takes a "
        "rising share of traffic, judged against the deployed one after each step, and "
        "is promoted or rolled back automatically. shadow: the deployed version answers "
        "everything while a copy of each request goes to this one off the response path; "
        "the rollout reports how often they agree, and promoting it starts the canary "
        "(with the options given here).")
    steps: list[int] | None = Field(
        default=None, min_length=1, max_length=20, examples=[[5, 25, 50, 100]],
        description="Canary only: shares of traffic in percent, rising, ending at 100.")
    interval_s: float | None = Field(
        default=None, gt=0, le=86_400, examples=[60],
        description="Canary only: how long each step runs before it is judged.")
    max_error_rate_delta: float | None = Field(
        default=None, ge=0, le=1, examples=[0.01],
        description="Canary only: how much higher the candidate's server-error rate may be.")
    max_p99_ratio: float | None = Field(
        default=None, ge=1, examples=[1.2],
        description="Canary only: how many times the stable p99 latency the candidate's "
        "may be.")
    min_requests: int | None = Field(
        default=None, ge=1, examples=[200],
        description="Canary only: candidate requests a window needs before it is judged.")

    def canary_options(self) -> dict[str, Any]:
        """The canary options the body sets (the rest come from settings)."""
        return self.model_dump(exclude={"strategy"}, exclude_none=True)


class ArmPublic(BaseModel):
    version: str
    requests: int = Field(description="Requests the arm took in the current window.")
    errors: int = Field(description="Server errors among them (a candidate's were answered "
                        "by the stable version).")
    error_rate: float
    p50_ms: float | None
    p99_ms: float | None


class ShadowPublic(BaseModel):
    compared: int = Field(description="Requests the candidate answered beside the stable "
                          "version (copies dropped when its queue was full are not).")
    errors: int = Field(description="Copies the candidate failed on.")
    agreement_rate: float | None = Field(
        description="Share of compared answers with the same label (every output field "
        "but confidence and probabilities).")
    mean_abs_confidence_diff: float | None
    p50_ms: float | None = Field(description="The candidate's latency on the copies.")
    p99_ms: float | None


class RolloutPublic(BaseModel):
    id: str = Field(examples=["rol_abc123"])
    model: str
    strategy: Literal["canary", "shadow"]
    status: RolloutStatus
    stable_version: str
    candidate_version: str
    steps: list[int]
    step: int = Field(description="The current step's share of traffic, in percent.")
    interval_s: float
    max_error_rate_delta: float
    max_p99_ratio: float
    min_requests: int
    step_started_at: Timestamp
    created_at: Timestamp
    finished_at: Timestamp | None = None
    reason: str | None = Field(default=None, description="Why it ended, or what it waits for.")
    arms: dict[Literal["stable", "candidate"], ArmPublic] = Field(
        description="Each arm's figures over the current window (the last one, once ended).")
    shadow: ShadowPublic | None = Field(
        default=None, description="A shadow rollout: the candidate against the stable "
        "version on copies of live requests, since it began.")

"""Inference on the wire (seed 000: POST /v1/infer/{model})."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["InferMetadata", "InferOptions", "InferRequest", "InferResponse"]


class InferOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_metadata: bool = Field(
        default=False, description="Add latency_ms, cached and the inputs imputed.")
    version: str | None = Field(default=None, description="Pin a version (default: deployed).")
    session_id: str | None = Field(
        default=None, max_length=100, examples=["sess_xyz789"],
        description="Who is asking, for rollouts: during a canary the same session (else "
        "the same API key) keeps seeing the same version.")


class InferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] = Field(
        examples=[{"transaction_amount": 1500.0, "merchant_category": "electronics"}],
        description="The model version's input schema says which fields it takes; any "
        "it does not mark required may be left out or null (imputed as missing).",
    )
    options: InferOptions = Field(default_factory=InferOptions)


class InferMetadata(BaseModel):
    latency_ms: float
    cached: bool
    imputed: list[str] = Field(
        default_factory=list, examples=[["country", "home_country", "hour"]],
        description="The model's inputs the request left out or sent as null, which the "
        "model read as missing values.")


class InferResponse(BaseModel):
    id: str = Field(examples=["inf_abc123"])
    model: str = Field(examples=["fraud-detector"])
    version: str = Field(examples=["1.0.0-def456"])
    output: dict[str, Any] = Field(
        examples=[{"is_fraud": False, "confidence": 0.12}],
        description="The label, and confidence: P(positive) for a binary model, the "
        "chosen class's probability otherwise.",
    )
    metadata: InferMetadata | None = None

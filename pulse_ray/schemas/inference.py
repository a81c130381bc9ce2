"""Inference on the wire (seed 000: POST /v1/infer/{model})."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["InferMetadata", "InferOptions", "InferRequest", "InferResponse"]


class InferOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_metadata: bool = Field(default=False, description="Add latency_ms and cached.")
    version: str | None = Field(default=None, description="Pin a version (default: deployed).")


class InferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] = Field(
        examples=[{"transaction_amount": 1500.0, "merchant_category": "electronics"}],
        description="The model version's input schema says which fields it takes.",
    )
    options: InferOptions = Field(default_factory=InferOptions)


class InferMetadata(BaseModel):
    latency_ms: float
    cached: bool


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

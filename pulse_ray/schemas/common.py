"""Shapes shared by every resource: the error envelope and list pages."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, Field

__all__ = ["ErrorBody", "ErrorDetailModel", "ErrorEnvelope", "Page"]

T = TypeVar("T")


class ErrorDetailModel(BaseModel):
    field: str = Field(description="Dotted path of the offending field, e.g. "
                       "options.version; a model's input by its own name, e.g. "
                       "transaction_amount (as seed 000 names it).")
    message: str = Field(description="Why the value was refused.")


class ErrorBody(BaseModel):
    code: str = Field(
        description="Stable machine-readable code: VALIDATION_ERROR, UNAUTHORIZED, "
        "FORBIDDEN, NOT_FOUND, METHOD_NOT_ALLOWED, CONFLICT, PAYLOAD_TOO_LARGE, "
        "UNSUPPORTED_MEDIA_TYPE, RATE_LIMITED, INTERNAL_ERROR, UNAVAILABLE, TIMEOUT.",
        examples=["VALIDATION_ERROR"],
    )
    message: str = Field(examples=["Input validation failed"])
    details: list[ErrorDetailModel] = Field(default_factory=list)


class ErrorEnvelope(BaseModel):
    """What every non-2xx response carries."""

    error: ErrorBody


class Page(BaseModel, Generic[T]):
    """One page of a list, newest first; pass the last id as ``starting_after``."""

    data: list[T]
    has_more: bool = Field(description="Whether another page follows this one.")

"""API keys on the wire (the store's table is ``pulse_ray.store.tables.ApiKey``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pulse_ray.auth import Scope
from pulse_ray.errors import ValidationError
from pulse_ray.plans import FamilyLimits, Limits, Plan
from pulse_ray.timeutil import Timestamp

__all__ = ["ApiKeyBase", "ApiKeyCreate", "ApiKeyCreated", "ApiKeyPublic", "WhoAmI"]


class ApiKeyBase(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="A label for people.")
    plan: Plan = Field(default=Plan.FREE, description="Which plan's limits apply.")


class ApiKeyCreate(ApiKeyBase):
    # A misspelt option is an error, not a silent no-op.
    model_config = ConfigDict(extra="forbid")

    scopes: list[Scope] = Field(
        default_factory=lambda: [Scope.READ, Scope.WRITE],
        min_length=1,
        description="read: GET routes; write: everything else; admin: manage keys.",
    )

    limits: Limits | None = Field(
        default=None,
        description="Enterprise keys only: the key's own limits, replacing the plan's. "
        'One budget for every request of the key ({"requests", "per", "burst"} or '
        '"unlimited"), or a limit per family (inference, tagging, default); families '
        "left out keep the plan's limits.",
    )

    @model_validator(mode="after")
    def _limits_need_enterprise(self) -> ApiKeyCreate:
        # Pulse's errors, not ValueError, so the 400 names `limits`, not the body.
        if self.limits is not None and self.plan != Plan.ENTERPRISE:
            raise ValidationError.for_field("limits", "only enterprise keys carry their own")
        if isinstance(self.limits, FamilyLimits) and not self.limits.named():
            raise ValidationError.for_field(
                "limits", "name at least one family (inference, tagging, default) or give "
                "one budget for the key (requests, per, burst)"
            )
        return self

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value

    @field_validator("scopes")
    @classmethod
    def _unique_scopes(cls, value: list[Scope]) -> list[Scope]:
        return sorted(set(value))


class ApiKeyPublic(ApiKeyBase):
    # Built from the store's row by attribute (see ApiKeyCreated.issued).
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="key_… id; never the secret.")
    prefix: str = Field(description="The first characters of the secret, to recognise it.")
    scopes: list[Scope]
    limits: Limits | None = None
    created_at: Timestamp
    revoked_at: Timestamp | None = None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The secret. Shown only in this response: store it now.")

    @classmethod
    def issued(cls, key: Any, secret: str) -> ApiKeyCreated:
        """The answer to creating ``key`` (a stored row): its public fields and, this
        once, its ``secret``."""
        return cls(**ApiKeyPublic.model_validate(key).model_dump(), key=secret)


class WhoAmI(BaseModel):
    id: str
    name: str
    plan: Plan
    scopes: list[Scope]
    limits: Limits = Field(
        description="The limits in force for this key: one budget for all its requests, "
        '"unlimited", or a limit per family (inference, tagging, default).'
    )

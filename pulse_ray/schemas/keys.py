"""API keys on the wire, and the SQLModel base their table extends."""

from __future__ import annotations

from pydantic import ConfigDict, field_validator, model_validator
from sqlmodel import Field, SQLModel

from pulse_ray.auth import Scope
from pulse_ray.errors import ValidationError
from pulse_ray.plans import LimitOverrides, Plan, PlanLimits
from pulse_ray.timeutil import Timestamp

__all__ = ["ApiKeyBase", "ApiKeyCreate", "ApiKeyCreated", "ApiKeyPublic", "WhoAmI"]


class ApiKeyBase(SQLModel):
    name: str = Field(min_length=1, max_length=100, description="A label for people.")
    plan: Plan = Field(default=Plan.FREE, description="Which plan's limits apply.")


class ApiKeyCreate(ApiKeyBase):
    # A misspelt option is an error, not a silent no-op. (SQLModel ignores the class
    # keyword form; its own config type is private, hence the ignore.)
    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]

    scopes: list[Scope] = Field(
        default_factory=lambda: [Scope.READ, Scope.WRITE],
        min_length=1,
        description="read: GET routes; write: everything else; admin: manage keys.",
    )

    limits: LimitOverrides | None = Field(
        default=None,
        description="Enterprise keys only: the key's own limits per family "
        "(inference, tagging, default), overriding the plan's.",
    )

    @model_validator(mode="after")
    def _limits_need_enterprise(self) -> ApiKeyCreate:
        if self.limits is not None and self.plan != Plan.ENTERPRISE:
            # Pulse's error, not ValueError, so the 400 names `limits`, not the body.
            raise ValidationError.for_field("limits", "only enterprise keys carry their own")
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
    id: str = Field(description="key_… id; never the secret.")
    prefix: str = Field(description="The first characters of the secret, to recognise it.")
    scopes: list[Scope]
    limits: LimitOverrides | None = None
    created_at: Timestamp
    revoked_at: Timestamp | None = None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The secret. Shown only in this response: store it now.")


class WhoAmI(SQLModel):
    id: str
    name: str
    plan: Plan
    scopes: list[Scope]
    limits: PlanLimits = Field(description="The limits in force for this key, per family.")

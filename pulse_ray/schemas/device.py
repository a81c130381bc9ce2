"""`pulse auth login`'s device sign-in on the wire (OAuth 2.0 device grant, RFC 8628,
in Pulse's shapes): the CLI asks for a code, shows the user code and the URL, and polls
with the device code until a signed-in dashboard user approves it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pulse_ray.auth import Scope

__all__ = ["DeviceCodeCreate", "DeviceCodeIssued", "DeviceTokenRequest", "DeviceToken"]


class DeviceCodeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="The new key's name.")
    scopes: list[Scope] = Field(default_factory=lambda: [Scope.READ, Scope.WRITE],
                                min_length=1, description="The new key's scopes.")


class DeviceCodeIssued(BaseModel):
    device_code: str = Field(description="The CLI's secret to poll with; never shown.")
    user_code: str = Field(description="What the user types on the approval page.")
    verification_uri: str
    verification_uri_complete: str
    expires_in: int = Field(description="Seconds the code stays valid.")
    interval: int = Field(description="Seconds to wait between polls.")


class DeviceTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_code: str = Field(min_length=1, max_length=100)


class DeviceToken(BaseModel):
    status: Literal["pending", "approved"]
    key: str | None = Field(default=None, description="The new key's secret, once.")
    key_id: str | None = None
    name: str | None = None

"""The calling key's identity, and API keys (``/v1/auth``, ``/v1/keys``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulse_ray.schemas.common import Page
from pulse_ray.schemas.keys import ApiKeyCreated, ApiKeyPublic, WhoAmI
from pulse_ray.sdk._core import Call, body, endpoint

__all__ = ["KeyEndpoints"]


class KeyEndpoints:
    """Who am I; create, list and revoke keys."""

    @endpoint
    def whoami(self) -> Call[WhoAmI]:
        """The identity, plan, scopes and limits of the key this client uses."""
        return Call.get("/v1/auth/whoami", WhoAmI.model_validate)

    @endpoint
    def create_key(
        self, name: str, *, plan: str | None = None, scopes: Sequence[str] | None = None,
        limits: Mapping[str, Any] | None = None, idempotency_key: str | None = None,
    ) -> Call[ApiKeyCreated]:
        """A new key in this key's account (admin scope). Its secret, ``.key``, is in
        this answer only."""
        return Call.post("/v1/keys", ApiKeyCreated.model_validate,
                         body(name=name, plan=plan, scopes=scopes and list(scopes),
                               limits=limits), idempotency_key=idempotency_key)

    @endpoint
    def list_keys(
        self, *, limit: int | None = None, starting_after: str | None = None
    ) -> Call[Page[ApiKeyPublic]]:
        """The account's keys, newest first (admin scope)."""
        return Call.get("/v1/keys", Page[ApiKeyPublic].model_validate, limit=limit,
                        starting_after=starting_after)

    @endpoint
    def revoke_key(self, key_id: str) -> Call[ApiKeyPublic]:
        """Revokes a key; every replica refuses it within a second (admin scope)."""
        return Call.delete(f"/v1/keys/{key_id}", ApiKeyPublic.model_validate)

"""Python SDK: a typed client over httpx for the Pulse REST API.

Errors come back as the same classes the server raises (:mod:`pulse_ray.errors`),
rebuilt from the envelope, so ``except UnauthorizedError`` reads the same on both
sides of the wire.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from pulse_ray.credentials import load_credentials
from pulse_ray.errors import UnauthorizedError, UnavailableError, from_envelope
from pulse_ray.schemas.keys import WhoAmI
from pulse_ray.schemas.snapshots import Compression, SnapshotPublic

__all__ = ["DEFAULT_BASE_URL", "Pulse"]

DEFAULT_BASE_URL = "http://127.0.0.1:8000"


class Pulse:
    """Synchronous client.

    Args:
        api_key: the key; else ``PULSE_API_KEY``; else what ``pulse auth login`` saved.
        base_url: the service; else ``PULSE_BASE_URL``; else the saved one; else
            http://127.0.0.1:8000.
        transport: an httpx transport (tests pass ``httpx.MockTransport``).
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float = 300.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        saved = load_credentials()
        self.api_key = api_key or os.environ.get("PULSE_API_KEY") or (saved and saved.api_key)
        self.base_url = (
            base_url
            or os.environ.get("PULSE_BASE_URL")
            or (saved and saved.base_url)
            or DEFAULT_BASE_URL
        )
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def __enter__(self) -> Pulse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        if not self.api_key:
            raise UnauthorizedError("No API key: pass api_key, set PULSE_API_KEY or run "
                                    "`pulse auth login`")
        headers = {"Authorization": f"Bearer {self.api_key}"}
        try:
            response = self._http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise UnavailableError(f"Cannot reach Pulse at {self.base_url}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_error:
            raise from_envelope(response.status_code, body, response.headers)
        return body

    def whoami(self) -> WhoAmI:
        """The identity of the key this client uses."""
        return WhoAmI.model_validate(self._request("GET", "/v1/auth/whoami"))

    def create_snapshot(
        self, datasource: str, *, force: bool = False,
        compression: Compression = Compression.ZSTD,
    ) -> SnapshotPublic:
        """Snapshots ``datasource``; with ``force=False`` an unchanged source returns
        its latest snapshot."""
        body = {"options": {"force": force, "compression": compression.value}}
        return SnapshotPublic.model_validate(
            self._request("POST", f"/v1/snapshot/{datasource}", json=body)
        )

"""What the benchmark scripts do to a Pulse they started: a key, a trained model."""

from __future__ import annotations

import time
from typing import Any

import httpx

from pulse_ray.schemas.keys import ApiKeyCreate
from pulse_ray.store import Database
from pulse_ray.store import keys as repo
from pulse_ray.timeutil import utcnow

__all__ = ["enterprise_key", "train", "wait_ok"]


def enterprise_key(store_url: str) -> str:
    """A read/write key with no rate limit, made straight in the store."""
    database = Database(store_url)
    with database.session() as session:
        _, secret = repo.create_key(
            session=session, account="default", now=utcnow(),
            key_create=ApiKeyCreate.model_validate(
                {"name": "bench", "plan": "enterprise", "scopes": ["read", "write"]}))
    database.dispose()
    return secret


def train(http: httpx.Client, model: str, snapshot: str, **options: Any) -> dict[str, Any]:
    """Trains ``model`` on ``snapshot`` over the API and waits; the succeeded run."""
    run: dict[str, Any] = http.post(f"/v1/train/{model}", json={
        "snapshot": snapshot, "options": options}).json()
    while run["status"] not in ("succeeded", "failed", "cancelled"):
        time.sleep(2)
        run = http.get(f"/v1/train/{run['id']}").json()
    if run["status"] != "succeeded":
        raise RuntimeError(f"training {run['status']}: {run.get('error')}")
    return run


def wait_ok(url: str, **kwargs: Any) -> None:
    """Waits for a 200 from POST ``url`` (a fresh replica may still be loading)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.post(url, timeout=10, **kwargs).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} never answered 200")

"""The FastAPI app in-process (no Ray): the same app the Serve ingress wraps."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pulse_ray.api import AppState, build_state, create_app
from pulse_ray.auth import Scope
from pulse_ray.config import Settings
from pulse_ray.schemas.keys import ApiKeyCreate
from pulse_ray.store import keys as repo
from pulse_ray.store import upgrade
from pulse_ray.timeutil import utcnow

MakeKey = Callable[..., str]


@pytest.fixture
def state(settings: Settings) -> Iterator[AppState]:
    state = build_state(settings)
    upgrade(state.database)
    yield state
    state.database.dispose()


@pytest.fixture
def app(state: AppState) -> FastAPI:
    return create_app(state)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def make_key(state: AppState) -> MakeKey:
    """Issues a key straight in the store, as `pulse keys create` does."""

    def make(
        *scopes: Scope, account: str = "default", name: str = "test", plan: str = "free"
    ) -> str:
        with state.database.session() as session:
            _, secret = repo.create_key(
                session=session,
                key_create=ApiKeyCreate.model_validate(
                    {"name": name, "plan": plan, "scopes": list(scopes or [Scope.READ])}
                ),
                account=account,
                now=utcnow(),
            )
        return secret

    return make


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}

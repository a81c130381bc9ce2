"""FastAPI dependencies as ``Annotated`` aliases, so routes stay a few lines long.

Tests swap any of them with ``app.dependency_overrides``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from pulse_ray.api.state import AppState
from pulse_ray.auth import Principal, Scope
from pulse_ray.caps import check_caps
from pulse_ray.errors import UnauthorizedError

__all__ = [
    "AdminKey",
    "AppStateDep",
    "CurrentKey",
    "enforce_caps",
    "Limit",
    "NowDep",
    "ReadKey",
    "SessionDep",
    "StartingAfter",
    "WriteKey",
]

# Documents the scheme in OpenAPI; the AuthMiddleware has already done the checking.
_bearer = HTTPBearer(auto_error=False, description="An API key: `pulse_sk_…`")


def get_app_state(request: Request) -> AppState:
    state: AppState = request.app.state.pulse
    return state


AppStateDep = Annotated[AppState, Depends(get_app_state)]


def get_session(state: AppStateDep) -> Iterator[Session]:
    with state.database.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_now(state: AppStateDep) -> datetime:
    return state.clock()


NowDep = Annotated[datetime, Depends(get_now)]


async def get_principal(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Principal:
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):  # a route outside the authenticated prefix
        raise UnauthorizedError()
    return principal


CurrentKey = Annotated[Principal, Depends(get_principal)]


def _requiring(scope: Scope) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    async def dependency(principal: CurrentKey) -> Principal:
        principal.require(scope)
        return principal

    return dependency


ReadKey = Annotated[Principal, Depends(_requiring(Scope.READ))]
WriteKey = Annotated[Principal, Depends(_requiring(Scope.WRITE))]
AdminKey = Annotated[Principal, Depends(_requiring(Scope.ADMIN))]

async def enforce_caps(request: Request, state: AppStateDep) -> None:
    """Array and string caps on a JSON body (400 naming the field); malformed JSON is
    left to the route's own validation."""
    if "json" not in request.headers.get("content-type", ""):
        return
    raw = await request.body()  # cached: the route reads the same bytes
    if not raw:
        return
    try:
        body = json.loads(raw)
    except ValueError:
        return
    settings = state.settings
    check_caps(body, max_items=settings.max_batch_items,
               max_string_length=settings.max_string_length)


Limit = Annotated[int, Query(ge=1, le=100, description="Items per page.")]
StartingAfter = Annotated[
    str | None, Query(description="Id of the last item of the previous page.")
]

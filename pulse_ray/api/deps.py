"""FastAPI dependencies as ``Annotated`` aliases, so routes stay a few lines long.

Tests swap any of them with ``app.dependency_overrides``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from sqlmodel import Session

from pulse_ray.api.context import RequestContext, request_context
from pulse_ray.api.state import AppState
from pulse_ray.auth import Principal, Scope
from pulse_ray.errors import UnauthorizedError

__all__ = [
    "AdminKey",
    "AppStateDep",
    "CurrentKey",
    "Limit",
    "NowDep",
    "ReadKey",
    "RequestContextDep",
    "SessionDep",
    "StartingAfter",
    "WriteKey",
]

# Dependencies that do no I/O are async: FastAPI runs plain `def` ones in a worker
# thread, a hand-off that cost more than the whole whoami route.
async def get_app_state(request: Request) -> AppState:
    state: AppState = request.app.state.pulse
    return state


AppStateDep = Annotated[AppState, Depends(get_app_state)]


def get_session(state: AppStateDep) -> Iterator[Session]:
    with state.database.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def get_now(state: AppStateDep) -> datetime:
    return state.clock()


NowDep = Annotated[datetime, Depends(get_now)]


async def get_request_context(request: Request) -> RequestContext:
    """What the middleware learned about this request; a route names the model it
    served here (:meth:`~pulse_ray.api.context.RequestContext.served`)."""
    return request_context(request.scope)


RequestContextDep = Annotated[RequestContext, Depends(get_request_context)]


def _verified(request: Request) -> Principal:
    principal = request_context(request.scope).principal
    if principal is None:  # a route outside the authenticated prefix
        raise UnauthorizedError()
    return principal


async def get_principal(request: Request) -> Principal:
    """The key the AuthMiddleware verified (OpenAPI documents the scheme itself)."""
    return _verified(request)


CurrentKey = Annotated[Principal, Depends(get_principal)]


def _requiring(scope: Scope) -> Callable[[Request], Coroutine[Any, Any, Principal]]:
    # Reads the request itself rather than depending on CurrentKey: each level of
    # dependencies costs FastAPI a resolution pass on every request.
    async def dependency(request: Request) -> Principal:
        principal = _verified(request)
        principal.require(scope)
        return principal

    return dependency


ReadKey = Annotated[Principal, Depends(_requiring(Scope.READ))]
WriteKey = Annotated[Principal, Depends(_requiring(Scope.WRITE))]
AdminKey = Annotated[Principal, Depends(_requiring(Scope.ADMIN))]

Limit = Annotated[int, Query(ge=1, le=100, description="Items per page.")]
StartingAfter = Annotated[
    str | None, Query(description="Id of the last item of the previous page.")
]

"""Sign-in, the overview, models, runs and lineage pages.

Each page reads and acts through the same services and store functions as the API's
routes, with the session's principal (its account, its scopes), so a page shows what
the API would answer that key and a form does what the API would do; the routes
themselves are the API's transport, not a library the pages call.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from pulse_ray.api.dashboard.web import (
    COOKIE,
    ActionDep,
    CsrfRefused,
    PageRoute,
    ViewerDep,
    cookie_options,
    read_form,
    redirect,
    render,
)
from pulse_ray.api.deps import AppStateDep, NowDep, SessionDep
from pulse_ray.auth import Scope
from pulse_ray.errors import NotFoundError, PulseError
from pulse_ray.schemas.training import TERMINAL
from pulse_ray.store import datasources as datasource_repo
from pulse_ray.store import models as model_repo
from pulse_ray.store import runs as run_repo
from pulse_ray.store import traffic as traffic_repo
from pulse_ray.store import webhooks as webhook_repo

router = APIRouter(prefix="/dashboard", route_class=PageRoute, include_in_schema=False)

_LOGIN_CSRF = "pulse_login_csrf"
_LIST = 100  # rows a list page shows
# What an epoch's record holds besides metrics: its number, when the job reported it.
_NOT_METRICS = frozenset({"epoch", "reported_at"})


def _safe_next(value: str | None) -> str:
    """Only a dashboard path: never an open redirect to another site."""
    if value and value.startswith("/dashboard") and "//" not in value and "\\" not in value:
        return value
    return "/dashboard"


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", viewer=None, csrf=token, next=_safe_next(next))
    response.set_cookie(_LOGIN_CSRF, token, **cookie_options(request))
    return response


@router.post("/login")
async def login(request: Request, state: AppStateDep) -> Response:
    form = await read_form(request)
    expected = request.cookies.get(_LOGIN_CSRF, "")
    if not expected or not hmac.compare_digest(form.get("csrf_token", ""), expected):
        raise CsrfRefused()
    target = _safe_next(form.get("next"))
    try:
        token, _ = await run_in_threadpool(state.signin.sign_in, form.get("api_key", "").strip())
    except PulseError as error:
        return render(request, "login.html", viewer=None, csrf=expected, next=target,
                      error=error.message, status_code=401)
    response = redirect(request, target)
    response.set_cookie(COOKIE, token, **cookie_options(request))
    response.delete_cookie(_LOGIN_CSRF, path=cookie_options(request)["path"])
    return response


@router.post("/logout")
async def logout(request: Request, action: ActionDep, state: AppStateDep) -> Response:
    await run_in_threadpool(state.signin.sign_out, action.viewer.token)
    response = redirect(request, "/dashboard/login")
    response.delete_cookie(COOKIE, path=cookie_options(request)["path"])
    return response


@router.get("")
def overview(request: Request, viewer: ViewerDep, session: SessionDep, now: NowDep) -> Response:
    """Traffic comes from the per-minute counts the ingress writes with its records
    (:mod:`pulse_ray.store.traffic`), not from the records themselves."""
    account = viewer.principal.account
    models, _ = model_repo.list_models(session=session, account=account, limit=_LIST)
    traffic = traffic_repo.traffic(session=session, account=account,
                                   since=now - timedelta(hours=1))
    runs = run_repo.list_runs(session=session, account=account, limit=8)
    failing = webhook_repo.failing_endpoints(session=session, account=account)
    sources, _ = datasource_repo.list_datasources(session=session, account=account, limit=1)
    has_sources = bool(sources)
    return render(request, "overview.html", viewer=viewer, models=models, traffic=traffic,
                  runs=[run.public(name) for run, name in runs], failing=failing,
                  empty=not models and not has_sources)


@router.get("/models")
def models_page(request: Request, viewer: ViewerDep, session: SessionDep) -> Response:
    models, has_more = model_repo.list_models(session=session,
                                              account=viewer.principal.account, limit=_LIST)
    return render(request, "models.html", viewer=viewer, models=models, has_more=has_more)


@router.get("/models/{model}")
def model_page(request: Request, model: str, viewer: ViewerDep, session: SessionDep) -> Response:
    found = model_repo.get_model(session=session, name=model, account=viewer.principal.account)
    versions = [v.public() for v in model_repo.list_versions(session=session,
                                                             model_id=found.id)]
    history = [e.public() for e in model_repo.history(session=session, model_id=found.id)]
    metric_names = sorted({name for v in versions for name in v.metrics})
    return render(request, "model.html", viewer=viewer,
                  model=model_repo.model_public(session=session, model=found),
                  versions=versions, history=history, metric_names=metric_names)


@router.post("/models/{model}/versions/{version}/deploy")
def deploy(request: Request, model: str, version: str, action: ActionDep, session: SessionDep,
           now: NowDep, state: AppStateDep) -> Response:
    """Deploys at once, as the API does without a body; canaries start from the API."""
    principal = action.require(Scope.WRITE)
    found = model_repo.get_model(session=session, name=model, account=principal.account)
    state.rollouts.deploy(session=session, principal=principal, model=found, version=version,
                          body=None, now=now)
    return redirect(request, f"/dashboard/models/{model}")


@router.post("/models/{model}/rollback")
def rollback(request: Request, model: str, action: ActionDep, session: SessionDep,
             now: NowDep) -> Response:
    principal = action.require(Scope.WRITE)
    found = model_repo.get_model(session=session, name=model, account=principal.account)
    model_repo.rollback(session=session, model=found, by_key=principal.key_id, now=now)
    return redirect(request, f"/dashboard/models/{model}")


@router.get("/runs")
def runs_page(request: Request, viewer: ViewerDep, session: SessionDep) -> Response:
    runs = run_repo.list_runs(session=session, account=viewer.principal.account, limit=_LIST)
    return render(request, "runs.html", viewer=viewer,
                  runs=[run.public(name) for run, name in runs])


def _run_context(state: AppStateDep, viewer: ViewerDep, run_id: str) -> dict[str, Any]:
    run = state.training.get(viewer.principal, run_id)
    series: dict[str, list[float]] = {}
    for epoch in run.epochs:
        for name, value in epoch.items():
            if name not in _NOT_METRICS and isinstance(value, int | float):
                series.setdefault(name, []).append(float(value))
    return {"run": run, "series": sorted(series.items()), "live": run.status not in TERMINAL}


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: str, viewer: ViewerDep, state: AppStateDep) -> Response:
    return render(request, "run.html", viewer=viewer, **_run_context(state, viewer, run_id))


@router.get("/runs/{run_id}/live")
def run_live(request: Request, run_id: str, viewer: ViewerDep, state: AppStateDep) -> Response:
    """The part of the run page that htmx reloads every few seconds while it runs."""
    return render(request, "_run_live.html", viewer=viewer,
                  **_run_context(state, viewer, run_id))


@router.post("/runs/{run_id}/cancel")
def cancel_run(request: Request, run_id: str, action: ActionDep, state: AppStateDep) -> Response:
    state.training.cancel(action.require(Scope.WRITE), run_id)
    return redirect(request, f"/dashboard/runs/{run_id}")


@router.get("/lineage")
async def lineage_page(request: Request, viewer: ViewerDep, state: AppStateDep,
                       id: Annotated[str, Query(max_length=200)] = "") -> Response:
    lineage_id, found, error = id.strip(), None, None
    if lineage_id:
        try:
            found = await state.lineage.trace(account=viewer.principal.account,
                                              lineage_id=lineage_id)
        except NotFoundError as exc:
            error = exc.message
    return render(request, "lineage.html", viewer=viewer, query=lineage_id, lineage=found,
                  error=error, status_code=404 if error else 200)

"""What every dashboard page shares: the signed-in viewer, the CSRF check on forms,
rendering, the security headers, and errors as pages.

A page route is an ordinary FastAPI route built with :class:`PageRoute`, which
- answers a :class:`~pulse_ray.errors.PulseError` with the error page at its status
  (another account's model is the not-found page, as the API answers 404),
- sends an anonymous visitor to the sign-in page, and
- puts the security headers on every answer: a Content-Security-Policy that allows no
  inline script (``script-src 'self'``), no framing, no referrer, no caching.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from pulse_ray.api.dashboard import charts
from pulse_ray.api.deps import AppStateDep
from pulse_ray.auth import Principal, Scope
from pulse_ray.errors import ForbiddenError, PulseError

__all__ = [
    "ActionDep",
    "COOKIE",
    "CSP",
    "CsrfRefused",
    "PageRoute",
    "SignInRequired",
    "Viewer",
    "ViewerDep",
    "cookie_options",
    "read_form",
    "redirect",
    "render",
]

COOKIE = "pulse_session"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_MAX_FORM_BYTES = 64 * 1024
STATIC_DIR = Path(str(files("pulse_ray.api.dashboard") / "static"))

_templates = Environment(
    loader=FileSystemLoader(str(files("pulse_ray.api.dashboard") / "templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.globals.update(charts=charts)
_templates.filters["when"] = lambda v: v.strftime("%Y-%m-%d %H:%M:%S") if v else "—"
# Job logs carry terminal colours (ANSI escapes): shown as plain text.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_templates.filters["plain"] = lambda text: _ANSI.sub("", text)


class SignInRequired(Exception):
    """No live session: the page sends the visitor to sign in."""


class CsrfRefused(ForbiddenError):
    """A form post without its page's CSRF token (or with another session's)."""

    default_message = ("This form was not sent by a Pulse page (its CSRF token is missing "
                       "or wrong). Reload the page and try again.")


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in user: the session's key (account, scopes) and its CSRF token."""

    principal: Principal
    csrf: str
    token: str

    @property
    def admin(self) -> bool:
        return Scope.ADMIN in self.principal.scopes

    def can(self, scope: Scope) -> bool:
        return scope in self.principal.scopes or self.admin


def cookie_options(request: Request) -> dict[str, Any]:
    """HttpOnly, SameSite=Strict, scoped to the dashboard, Secure over TLS."""
    return {"httponly": True, "samesite": "strict", "secure": request.url.scheme == "https",
            "path": base_path(request) + "/dashboard"}


def base_path(request: Request) -> str:
    """Where the app is mounted (Serve's route prefix), for links."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def get_viewer(request: Request, state: AppStateDep) -> Viewer:
    token = request.cookies.get(COOKIE)
    principal = state.signin.principal(token) if token else None
    if token is None or principal is None:
        raise SignInRequired()
    return Viewer(principal=principal, csrf=state.signin.csrf_token(token), token=token)


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


async def read_form(request: Request) -> dict[str, str]:
    """A url-encoded form (the only kind the dashboard posts), first value per field."""
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise CsrfRefused()
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        parsed = {}
    return {name: values[0] for name, values in parsed.items()}


@dataclass(frozen=True, slots=True)
class Action:
    """A state-changing form post: the viewer and the form, its CSRF token checked."""

    viewer: Viewer
    form: Mapping[str, str]

    def field(self, name: str) -> str:
        return self.form.get(name, "").strip()

    def require(self, scope: Scope) -> Principal:
        self.viewer.principal.require(scope)
        return self.viewer.principal


async def get_action(request: Request, viewer: ViewerDep) -> Action:
    form = await read_form(request)
    if not hmac.compare_digest(form.get("csrf_token", ""), viewer.csrf):
        raise CsrfRefused()
    return Action(viewer=viewer, form=form)


ActionDep = Annotated[Action, Depends(get_action)]


def render(request: Request, template: str, *, viewer: Viewer | None, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    html = _templates.get_template(template).render(
        base=base_path(request), viewer=viewer, path=request.url.path, **context)
    return HTMLResponse(html, status_code=status_code)


def redirect(request: Request, to: str) -> RedirectResponse:
    """303 to a dashboard path (after a form post: the browser GETs the result)."""
    return RedirectResponse(base_path(request) + to, status_code=303)


class PageRoute(APIRoute):
    """Errors as pages, anonymous visitors to sign-in, security headers on everything;
    every page answers HEAD as it answers GET, without the body (link checkers and
    monitors ask with HEAD; FastAPI routes answer only the methods they list)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if self.methods and "GET" in self.methods:
            self.methods.add("HEAD")

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                response = await handler(request)
            except SignInRequired:
                target = quote(request.url.path if request.method in ("GET", "HEAD")
                               else "/dashboard")
                response = redirect(request, f"/dashboard/login?next={target}")
            except PulseError as error:
                if isinstance(error, ForbiddenError):
                    title = "Not allowed"
                else:
                    title = {404: "Not found"}.get(error.http_status, "Something went wrong")
                response = render(request, "error.html", viewer=None, status_code=error.http_status,
                                  title=title, error=error)
            response.headers.update(_HEADERS)
            if request.method == "HEAD":  # the GET's status and headers, no body
                head = Response(status_code=response.status_code)
                head.raw_headers = response.raw_headers  # Content-Length, each Set-Cookie
                return head
            return response

        return page

"""The Pulse dashboard: server-rendered pages at ``/dashboard`` on the API's own app
(Jinja2 templates, one CSS file and htmx shipped in the package; charts are inline SVG),
over the same services, store functions and account scoping as ``/v1``. Signing in takes
an API key and opens a server-side session (:mod:`pulse_ray.services.signin`);
``/auth/device`` is the device sign-in that `pulse auth login` uses."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from pulse_ray.api.dashboard import device, manage, pages
from pulse_ray.api.dashboard.web import STATIC_DIR

__all__ = ["install_dashboard"]


def install_dashboard(app: FastAPI) -> None:
    """Mounts the static files and the pages (the catch-all not-found page last)."""
    app.mount("/dashboard/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")
    app.include_router(device.router)
    app.include_router(pages.router)
    app.include_router(manage.router)

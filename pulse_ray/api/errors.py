"""The one table that turns failures into the error envelope.

Every path to a non-2xx response ends in :func:`error_response`: domain errors
(:class:`~pulse_ray.errors.PulseError`), FastAPI's request validation, Starlette's
routing errors (404/405), and — through the middleware — body limits, auth, deadlines,
load shedding and unhandled exceptions.
"""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pulse_ray.errors import (
    MethodNotAllowedError,
    NotFoundError,
    PulseError,
    UnsupportedMediaTypeError,
    ValidationError,
    error_class_for,
)

__all__ = ["error_response", "install_error_handlers"]

logger = logging.getLogger(__name__)


def error_response(error: PulseError) -> JSONResponse:
    """The envelope response for ``error``, with its headers (Retry-After, ...)."""
    return JSONResponse(error.to_envelope(), status_code=error.http_status, headers=error.headers)


async def _on_pulse_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PulseError)
    return error_response(exc)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    content_type = request.headers.get("content-type", "")
    has_body_errors = any(e.get("loc", ("",))[0] == "body" for e in exc.errors())
    if has_body_errors and content_type and "json" not in content_type.lower():
        return error_response(UnsupportedMediaTypeError())
    return error_response(ValidationError.from_pydantic(exc.errors()))


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error: PulseError
    if exc.status_code == 404:
        error = NotFoundError(f"No route for {request.method} {request.url.path}")
    elif exc.status_code == 405:
        error = MethodNotAllowedError(
            f"{request.method} is not allowed on {request.url.path}",
            headers=dict(exc.headers or {}),  # keeps Starlette's Allow header
        )
    else:
        detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        error = error_class_for(status=exc.status_code)(detail, headers=exc.headers)
    return error_response(error)


def install_error_handlers(app: FastAPI) -> None:
    """Registers the handler table on ``app``; the middleware covers the rest."""
    app.add_exception_handler(PulseError, _on_pulse_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)

"""OpenAPI that tells the truth about errors.

FastAPI documents a 422 with its own schema on every route that takes input; Pulse
never sends that. :func:`install_openapi` replaces it with the envelope under the
statuses each operation can really return, so generated clients get typed errors.
Each status is described by the error classes that answer it
(:data:`~pulse_ray.errors.ERROR_CLASSES`, their ``code`` and ``description``).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from pulse_ray.errors import ERROR_CLASSES, error_class_for
from pulse_ray.schemas.common import ErrorEnvelope

__all__ = ["error_responses", "install_openapi"]


def _describe(status: int) -> str:
    """``CODE: description`` of each error class answering ``status``, the one a bare
    status stands for first (503: UNAVAILABLE, then INSUFFICIENT_RESOURCES)."""
    classes = sorted((cls for cls in ERROR_CLASSES if cls.http_status == status),
                     key=lambda cls: cls is not error_class_for(status=status))
    return " ".join(f"{cls.code}: {cls.description}" for cls in classes)


_DESCRIPTIONS = {status: _describe(status) for status in {c.http_status for c in ERROR_CLASSES}}
_ENVELOPE_REF = {"$ref": "#/components/schemas/ErrorEnvelope"}


def _int_header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "integer"}}


def _str_header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


# On every /v1 response of a key under a limit (unlimited keys get none).
_RATE_LIMIT_HEADERS = {
    "RateLimit-Policy": _str_header(
        'IETF draft: the budget this request spent, e.g. "free";q=60;w=60 (60 requests '
        'per 60 s for the whole key) or "starter-inference";q=100;w=1 (per API family)'
    ),
    "RateLimit": _str_header('IETF draft: "free";r=9;t=1 — r left now, t s to full'),
    "X-RateLimit-Limit": _int_header("Requests per window of that budget."),
    "X-RateLimit-Remaining": _int_header("Requests that may be sent now."),
    "X-RateLimit-Reset": _int_header("Seconds until the allowance is whole again."),
}
_RETRY_AFTER = {"Retry-After": _int_header("Seconds to wait before retrying.")}
_IDEMPOTENCY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes the POST safe to retry: the same key and body within 24 h return "
    "the first answer and create nothing new (scoped to the API key).",
    "schema": {"type": "string", "maxLength": 255},
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route whose extra error statuses the defaults miss."""
    return {s: {"model": ErrorEnvelope, "description": _DESCRIPTIONS[s]} for s in statuses}


def _statuses_for(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    statuses = [500, 503, 504]
    params = operation.get("parameters", [])
    if params or "requestBody" in operation:
        statuses.append(400)
    if "requestBody" in operation:
        statuses += [413, 415]
    if any(p.get("in") == "path" for p in params):
        statuses.append(404)
    if path.startswith("/v1/"):
        statuses += [401, 403, 429]
    if path.startswith("/v1/") and method == "post":
        # Idempotency-Key, taken by every POST with a body or without: 409 while the
        # first request runs, 422 when it is reused for another request.
        statuses += [409, 422]
    return statuses


def _rewrite(schema: dict[str, Any]) -> dict[str, Any]:
    schema.setdefault("components", {})["securitySchemes"] = {
        "HTTPBearer": {"type": "http", "scheme": "bearer",
                       "description": "An API key: `pulse_sk_…`"}
    }
    components = schema["components"].setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    components.update(
        ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")["$defs"]
    )
    envelope = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    envelope.pop("$defs", None)
    components["ErrorEnvelope"] = envelope
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # FastAPI's, never sent: ours is added below
            v1 = path.startswith("/v1/")
            if v1:
                operation["security"] = [{"HTTPBearer": []}]
            if v1 and method == "post":
                operation.setdefault("parameters", []).append(_IDEMPOTENCY_PARAMETER)
            for status in _statuses_for(path, method, operation):
                responses.setdefault(
                    str(status),
                    {
                        "description": _DESCRIPTIONS[status],
                        "content": {"application/json": {"schema": _ENVELOPE_REF}},
                    },
                )
            for status, response in responses.items():
                headers = response.setdefault("headers", {})
                if v1 and (status.startswith("2") or status == "429"):
                    headers.update(_RATE_LIMIT_HEADERS)
                if status in ("429", "503"):
                    headers.update(_RETRY_AFTER)
                if not headers:
                    del response["headers"]
            operation["responses"] = dict(sorted(responses.items()))
    return schema


def install_openapi(app: FastAPI) -> None:
    """Makes ``app.openapi()`` produce (once) the rewritten schema."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _rewrite(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                    tags=app.openapi_tags,
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

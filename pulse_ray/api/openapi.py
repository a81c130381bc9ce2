"""OpenAPI that tells the truth about errors.

FastAPI documents a 422 with its own schema on every route that takes input; Pulse
never sends that. :func:`install_openapi` replaces it with the envelope under the
statuses each operation can really return, so generated clients get typed errors.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from pulse_ray.schemas.common import ErrorEnvelope

__all__ = ["error_responses", "install_openapi"]

_DESCRIPTIONS = {
    400: "VALIDATION_ERROR: the request is malformed or a field is invalid.",
    401: "UNAUTHORIZED: the API key is missing, malformed, unknown or revoked.",
    403: "FORBIDDEN: the API key lacks the scope this operation needs.",
    404: "NOT_FOUND: no such route or resource.",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT: the resource's state forbids this, or a request with the same "
    "Idempotency-Key is still running.",
    413: "PAYLOAD_TOO_LARGE: the body is over the configured limit.",
    415: "UNSUPPORTED_MEDIA_TYPE: the body must be JSON.",
    422: "IDEMPOTENCY_KEY_REUSED: the Idempotency-Key was used for a different request.",
    429: "RATE_LIMITED: too many requests for the key's plan; see Retry-After.",
    500: "INTERNAL_ERROR: an unexpected failure (the X-Request-Id is in the logs).",
    503: "UNAVAILABLE: overloaded or a dependency is down; see Retry-After. "
    "INSUFFICIENT_RESOURCES: the cluster can never run this work as configured (the "
    "message names the setting to change); not worth retrying.",
    504: "TIMEOUT: the request passed its deadline.",
}
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


def _statuses_for(path: str, operation: dict[str, Any]) -> list[int]:
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
    if path.startswith("/v1/") and "requestBody" in operation:
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
            for status in _statuses_for(path, operation):
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

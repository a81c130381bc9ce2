"""Pulse's error tree: every failure a client can see is one of these.

::

    PulseError                       (code, http_status, message, details, headers)
     ├── ValidationError             400 VALIDATION_ERROR
     ├── UnauthorizedError           401 UNAUTHORIZED   (+ WWW-Authenticate: Bearer)
     ├── ForbiddenError              403 FORBIDDEN
     ├── NotFoundError               404 NOT_FOUND
     ├── MethodNotAllowedError       405 METHOD_NOT_ALLOWED
     ├── ConflictError               409 CONFLICT
 │    └── RolloutInProgressError  409 ROLLOUT_IN_PROGRESS
     ├── PayloadTooLargeError        413 PAYLOAD_TOO_LARGE
     ├── UnsupportedMediaTypeError   415 UNSUPPORTED_MEDIA_TYPE
     ├── IdempotencyMismatchError    422 IDEMPOTENCY_KEY_REUSED
     ├── RateLimitedError            429 RATE_LIMITED   (+ Retry-After)
     ├── InternalError               500 INTERNAL_ERROR
     ├── InsufficientResourcesError  503 INSUFFICIENT_RESOURCES (not retried: the
     │                                   cluster can never run it as configured)
     ├── UnavailableError            503 UNAVAILABLE    (+ Retry-After)
     └── RequestTimeoutError         504 TIMEOUT

Domain code raises these; ``pulse_ray.api.errors`` turns them into the envelope
``{"error": {"code", "message", "details": [{"field", "message"}]}}`` in exactly one
place, and the SDK (:func:`from_envelope`) turns an envelope back into the same class,
so both sides of the wire share one vocabulary. Each class's ``description`` says when
a client meets it; the OpenAPI document's error responses are written from them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Self

__all__ = [
    "ConflictError",
    "ERROR_CLASSES",
    "ErrorDetail",
    "ForbiddenError",
    "IdempotencyMismatchError",
    "InsufficientResourcesError",
    "InternalError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PulseError",
    "RateLimitedError",
    "RequestTimeoutError",
    "RolloutInProgressError",
    "UnauthorizedError",
    "UnavailableError",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "error_class_for",
    "from_envelope",
]


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One problem with one field; ``field`` is a dotted path such as
    ``options.version``, or a model's input by its own name (``transaction_amount``)."""

    field: str
    message: str


class PulseError(Exception):
    """Base of every error Pulse reports to a client."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    http_status: ClassVar[int] = 500
    default_message: ClassVar[str] = "Internal server error"
    description: ClassVar[str] = "an unexpected failure (the X-Request-Id is in the logs)."

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Sequence[ErrorDetail] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details = tuple(details)
        self.headers = dict(headers or {})
        super().__init__(self.message)

    @classmethod
    def for_field(cls, field: str, message: str, *, summary: str | None = None) -> Self:
        """An error about a single field, the most common shape of a 400."""
        return cls(summary or message, details=[ErrorDetail(field, message)])

    def to_envelope(self) -> dict[str, Any]:
        """The wire form; the only serializer of errors."""
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "details": [{"field": d.field, "message": d.message} for d in self.details],
            }
        }


class ValidationError(PulseError):
    code = "VALIDATION_ERROR"
    http_status = 400
    default_message = "Input validation failed"
    description = "the request is malformed or a field is invalid."

    @classmethod
    def from_pydantic(cls, errors: Sequence[Mapping[str, Any]]) -> ValidationError:
        """One 400 with a detail per field from pydantic's (or FastAPI's) ``errors()``.

        Locations lose their ``body``/``query``/... head, so a bad field inside the
        JSON body reads ``options.version``.
        """
        for err in errors:
            if err.get("type") == "json_invalid":
                reason = str((err.get("ctx") or {}).get("error", "invalid JSON"))
                loc = list(err.get("loc", ()))
                if len(loc) > 1:
                    reason = f"{reason} at character {loc[-1]}"
                return cls(f"Malformed JSON body: {reason}", details=[ErrorDetail("body", reason)])
        details = [ErrorDetail(_field_path(e.get("loc", ())), _field_message(e)) for e in errors]
        if any(d.field == "body" and d.message == "is required" for d in details):
            return cls("A JSON request body is required", details=details)
        return cls(details=details)


_LOCATIONS = {"body", "query", "path", "header", "cookie"}


def _field_path(loc: Sequence[Any]) -> str:
    parts = list(loc)
    if len(parts) > 1 and parts[0] in _LOCATIONS:
        parts.pop(0)
    return ".".join(str(p) for p in parts)


def _field_message(err: Mapping[str, Any]) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a recognised field"
    return str(err.get("msg", "is invalid")).removeprefix("Value error, ")


class UnauthorizedError(PulseError):
    code = "UNAUTHORIZED"
    http_status = 401
    default_message = "Invalid or missing API key"
    description = "the API key is missing, malformed, unknown or revoked."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("WWW-Authenticate", 'Bearer realm="pulse"')


class ForbiddenError(PulseError):
    code = "FORBIDDEN"
    http_status = 403
    default_message = "This API key is not allowed to do that"
    description = "the API key lacks the scope this operation needs."


class NotFoundError(PulseError):
    code = "NOT_FOUND"
    http_status = 404
    default_message = "Resource not found"
    description = "no such route or resource."


class MethodNotAllowedError(PulseError):
    code = "METHOD_NOT_ALLOWED"
    http_status = 405
    default_message = "Method not allowed"
    description = "the route does not take this method (Allow lists those it takes)."


class ConflictError(PulseError):
    code = "CONFLICT"
    http_status = 409
    default_message = "The request conflicts with the current state of the resource"
    description = ("the resource's state forbids this, or a request with the same "
                   "Idempotency-Key is still running.")


class RolloutInProgressError(ConflictError):
    code = "ROLLOUT_IN_PROGRESS"
    default_message = "A rollout of this model is running"
    description = ("the model has a rollout running: promote or abort it "
                   "(POST /v1/models/{model}/rollout/promote or /abort) first.")


class PayloadTooLargeError(PulseError):
    code = "PAYLOAD_TOO_LARGE"
    http_status = 413
    default_message = "Request body is too large"
    description = "the body is over the configured limit."


class UnsupportedMediaTypeError(PulseError):
    code = "UNSUPPORTED_MEDIA_TYPE"
    http_status = 415
    default_message = "Request body must be JSON (Content-Type: application/json)"
    description = "the body must be JSON."


class IdempotencyMismatchError(PulseError):
    code = "IDEMPOTENCY_KEY_REUSED"
    http_status = 422
    default_message = "This Idempotency-Key was already used with a different request"
    description = "the Idempotency-Key was used for a different request."


class _RetryableError(PulseError):
    """An error the client should retry later; carries ``Retry-After`` in seconds."""

    def __init__(
        self, message: str | None = None, *, retry_after_s: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(message, **kwargs)
        self.retry_after_s = retry_after_s
        if retry_after_s is not None:
            # RFC 9110 delay-seconds: a non-negative integer, rounded up so a client
            # never comes back before it may.
            self.headers.setdefault("Retry-After", str(max(0, math.ceil(retry_after_s))))


class RateLimitedError(_RetryableError):
    code = "RATE_LIMITED"
    http_status = 429
    default_message = "Too many requests"
    description = "too many requests for the key's plan; see Retry-After."


class InternalError(PulseError):
    pass


class InsufficientResourcesError(PulseError):
    """Work the cluster can never schedule as Pulse is configured (not busy: too small),
    refused at once instead of waiting for resources that will not come. The message
    names the resource and the setting to change; retrying does not help."""

    code = "INSUFFICIENT_RESOURCES"
    http_status = 503
    default_message = "The cluster does not have the resources for this"
    description = ("the cluster can never run this work as configured (the message "
                   "names the setting to change); not worth retrying.")


class UnavailableError(_RetryableError):
    code = "UNAVAILABLE"
    http_status = 503
    default_message = "Service temporarily unavailable; retry later"
    description = "overloaded or a dependency is down; see Retry-After."


class RequestTimeoutError(PulseError):
    code = "TIMEOUT"
    http_status = 504
    default_message = "The request did not complete in time"
    description = "the request passed its deadline."


ERROR_CLASSES: tuple[type[PulseError], ...] = (
    ValidationError,
    UnauthorizedError,
    ForbiddenError,
    NotFoundError,
    MethodNotAllowedError,
    RolloutInProgressError,
    ConflictError,  # after the class above: a bare 409 is a conflict
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    IdempotencyMismatchError,
    RateLimitedError,
    InternalError,
    InsufficientResourcesError,
    UnavailableError,  # after the class above: a bare 503 means "try again"
    RequestTimeoutError,
)
"""Every error a client can receive, one class per code."""

_BY_CODE: dict[str, type[PulseError]] = {cls.code: cls for cls in ERROR_CLASSES}
_BY_STATUS: dict[int, type[PulseError]] = {cls.http_status: cls for cls in ERROR_CLASSES}


def error_class_for(*, code: str | None = None, status: int | None = None) -> type[PulseError]:
    """The class for an error code, else for an HTTP status, else :class:`PulseError`."""
    if code is not None and code in _BY_CODE:
        return _BY_CODE[code]
    if status is not None and status in _BY_STATUS:
        return _BY_STATUS[status]
    return PulseError


def from_envelope(
    status: int, body: Any, headers: Mapping[str, str] | None = None,
    *, now: datetime | None = None,
) -> PulseError:
    """Rebuilds the typed error from a response (used by the SDK and the CLI).

    A 429 or 503 keeps its ``Retry-After`` (seconds, or an HTTP-date counted from
    ``now``) as ``retry_after_s``, also when a proxy answered without an envelope.
    """
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        cls = error_class_for(code=error.get("code"), status=status)
        details = [
            ErrorDetail(str(d.get("field", "")), str(d.get("message", "")))
            for d in error.get("details") or []
            if isinstance(d, dict)
        ]
        message = str(error.get("message") or cls.default_message)
    else:
        cls, details = error_class_for(status=status), []
        message = f"HTTP {status} without an error envelope"
    if issubclass(cls, _RetryableError):
        retry_after = (headers or {}).get("retry-after") or (headers or {}).get("Retry-After")
        return cls(message, details=details, retry_after_s=_retry_after_s(retry_after, now))
    return cls(message, details=details)


def _retry_after_s(value: str | None, now: datetime | None) -> float | None:
    """RFC 9110 ``Retry-After``: delay-seconds or an HTTP-date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())

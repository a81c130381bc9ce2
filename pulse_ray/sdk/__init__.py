"""Python SDK: typed clients over httpx for the Pulse REST API.

``pip install pulse-ray`` brings this package (and the CLI's client commands) with
httpx, pydantic, typer and rich only; running Pulse itself needs
``pulse-ray[server]``.

``Pulse`` blocks, ``AsyncPulse`` awaits; both have one method per endpoint, returning
the same pydantic models the server answers with (:mod:`pulse_ray.schemas`). Errors
come back as the same classes the server raises (:mod:`pulse_ray.errors`), rebuilt from
the envelope, so ``except ValidationError as e: e.details`` reads the same on both sides
of the wire. 429 and 503 are retried after ``Retry-After``, an answer lost with a dropped
connection or behind the proxy (a 5xx without the envelope) when the call is safe to
repeat; every POST carries an
``Idempotency-Key`` that its retries reuse, so a retry never does the work twice.
Request bodies are not validated here: the server is the one judge, and its 400 names
the field at fault.

    from pulse_ray.sdk import Pulse, TrainOptions

    with Pulse() as pulse:   # key: argument, PULSE_API_KEY, or `pulse auth login`
        run = pulse.train("fraud-detector", snap.id, options=TrainOptions(epochs=3))
        pulse.wait_for_run(run.id)

Layout: one private module per resource (``_keys``, ``_datasources``, ``_snapshots``,
``_models``, ``_training``, ``_inference``, ``_webhooks``, ``_shop``, ``_audit``) over the
sans-I/O core (``_core``: requests, decoding, retries, idempotency keys); ``_client`` puts
them together. What is importable from here is the public API.
"""

from __future__ import annotations

from pulse_ray.errors import (
    ConflictError,
    ErrorDetail,
    ForbiddenError,
    IdempotencyMismatchError,
    InternalError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    PulseError,
    RateLimitedError,
    RequestTimeoutError,
    UnauthorizedError,
    UnavailableError,
    UnsupportedMediaTypeError,
    ValidationError,
)
from pulse_ray.schemas.audit import AuditAction, AuditEventPublic
from pulse_ray.schemas.common import Page
from pulse_ray.schemas.datasources import DatasourcePublic, DatasourceType
from pulse_ray.schemas.drift import DriftReport
from pulse_ray.schemas.feedback import FeedbackPublic
from pulse_ray.schemas.inference import InferResponse
from pulse_ray.schemas.keys import ApiKeyCreated, ApiKeyPublic, WhoAmI
from pulse_ray.schemas.lineage import Lineage
from pulse_ray.schemas.models import ModelHistory, ModelPublic, ModelVersions, VersionPublic
from pulse_ray.schemas.retrain import RetrainPolicyPublic
from pulse_ray.schemas.rollouts import RolloutPublic
from pulse_ray.schemas.shop import (
    ConversionPublic,
    ProductIn,
    ProductPublic,
    SessionInferRequest,
    SessionInferResponse,
    TaggingJobPublic,
    TagResult,
)
from pulse_ray.schemas.snapshots import Compression, SnapshotDetail, SnapshotPublic
from pulse_ray.schemas.training import RunDetail, RunPublic, TrainOptions
from pulse_ray.schemas.webhooks import (
    DeliveryLog,
    SecretRotated,
    TestSent,
    WebhookCreated,
    WebhookPublic,
)
from pulse_ray.sdk._client import AsyncPulse, Pulse
from pulse_ray.sdk._core import DEFAULT_BASE_URL, RetryPolicy

__all__ = [
    # clients
    "DEFAULT_BASE_URL",
    "AsyncPulse",
    "Pulse",
    "RetryPolicy",
    # errors (the server's own classes, rebuilt from the envelope)
    "ConflictError",
    "ErrorDetail",
    "ForbiddenError",
    "IdempotencyMismatchError",
    "InternalError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PulseError",
    "RateLimitedError",
    "RequestTimeoutError",
    "UnauthorizedError",
    "UnavailableError",
    "UnsupportedMediaTypeError",
    "ValidationError",
    # what the methods take
    "AuditAction",
    "Compression",
    "DatasourceType",
    "ProductIn",
    "SessionInferRequest",
    "TrainOptions",
    # what they answer
    "ApiKeyCreated",
    "ApiKeyPublic",
    "AuditEventPublic",
    "ConversionPublic",
    "DatasourcePublic",
    "DeliveryLog",
    "DriftReport",
    "FeedbackPublic",
    "InferResponse",
    "Lineage",
    "ModelHistory",
    "ModelPublic",
    "ModelVersions",
    "Page",
    "ProductPublic",
    "RetrainPolicyPublic",
    "RunDetail",
    "RunPublic",
    "SecretRotated",
    "SessionInferResponse",
    "SnapshotDetail",
    "SnapshotPublic",
    "TagResult",
    "TaggingJobPublic",
    "TestSent",
    "RolloutPublic",
    "VersionPublic",
    "WebhookCreated",
    "WebhookPublic",
    "WhoAmI",
]

"""Python SDK: typed clients over httpx for the Pulse REST API.

``Pulse`` blocks, ``AsyncPulse`` awaits; both have one method per endpoint, returning
the same pydantic models the server answers with (:mod:`pulse_ray.schemas`). Errors
come back as the same classes the server raises (:mod:`pulse_ray.errors`), rebuilt from
the envelope, so ``except ValidationError as e: e.details`` reads the same on both sides
of the wire. 429 and 503 are retried after ``Retry-After``; every POST carries an
``Idempotency-Key`` that its retries reuse, so a retry never does the work twice.

Each endpoint below is written once and serves both clients (see :mod:`pulse_ray._sdk`).
Request bodies are not validated here: the server is the one judge, and its 400 names
the field at fault.

    with Pulse() as pulse:   # key: argument, PULSE_API_KEY, or `pulse auth login`
        run = pulse.train("fraud-detector", snap.id, options=TrainOptions(epochs=3))
        pulse.wait_for_run(run.id)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulse_ray._sdk import (
    DEFAULT_BASE_URL,
    AsyncClientBase,
    Call,
    RetryPolicy,
    SyncClientBase,
    endpoint,
    no_content,
)
from pulse_ray.errors import RequestTimeoutError
from pulse_ray.schemas.common import Page
from pulse_ray.schemas.datasources import DatasourcePublic, DatasourceType
from pulse_ray.schemas.inference import InferResponse
from pulse_ray.schemas.keys import ApiKeyCreated, ApiKeyPublic, WhoAmI
from pulse_ray.schemas.lineage import Lineage
from pulse_ray.schemas.models import ModelHistory, ModelPublic, ModelVersions, VersionPublic
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
from pulse_ray.schemas.training import TERMINAL, RunDetail, RunPublic, TrainOptions
from pulse_ray.schemas.webhooks import (
    DeliveryLog,
    SecretRotated,
    TestSent,
    WebhookCreated,
    WebhookPublic,
)

__all__ = ["DEFAULT_BASE_URL", "AsyncPulse", "Pulse", "RetryPolicy"]


def _body(**fields: Any) -> dict[str, Any]:
    """A JSON body without the fields left at None, so the server's defaults apply."""
    return {k: v for k, v in fields.items() if v is not None}


class _Endpoints:
    """One method per route, each returning the :class:`Call` that both clients run.

    Lists take ``limit`` (1-100, server default 20) and ``starting_after`` (the last id
    of the previous page); POSTs take ``idempotency_key`` (default: a fresh uuid4 per
    call, reused by its retries).
    """

    # -- auth and keys -------------------------------------------------------------

    @endpoint
    def whoami(self) -> Call[WhoAmI]:
        """The identity, plan, scopes and limits of the key this client uses."""
        return Call.get("/v1/auth/whoami", WhoAmI.model_validate)

    @endpoint
    def create_key(
        self, name: str, *, plan: str | None = None, scopes: Sequence[str] | None = None,
        limits: Mapping[str, Any] | None = None, idempotency_key: str | None = None,
    ) -> Call[ApiKeyCreated]:
        """A new key in this key's account (admin scope). Its secret, ``.key``, is in
        this answer only."""
        return Call.post("/v1/keys", ApiKeyCreated.model_validate,
                         _body(name=name, plan=plan, scopes=scopes and list(scopes),
                               limits=limits), idempotency_key=idempotency_key)

    @endpoint
    def list_keys(
        self, *, limit: int | None = None, starting_after: str | None = None
    ) -> Call[Page[ApiKeyPublic]]:
        """The account's keys, newest first (admin scope)."""
        return Call.get("/v1/keys", Page[ApiKeyPublic].model_validate, limit=limit,
                        starting_after=starting_after)

    @endpoint
    def revoke_key(self, key_id: str) -> Call[ApiKeyPublic]:
        """Revokes a key; every replica refuses it within a second (admin scope)."""
        return Call.delete(f"/v1/keys/{key_id}", ApiKeyPublic.model_validate)

    # -- datasources and snapshots -------------------------------------------------

    @endpoint
    def create_datasource(
        self, name: str, *, type: DatasourceType | str, url: str | None = None,
        path: str | None = None, table: str | None = None, query: str | None = None,
        shard_key: str | None = None, label_column: str | None = None,
        feature_columns: Sequence[str] | None = None, idempotency_key: str | None = None,
    ) -> Call[DatasourcePublic]:
        """Registers a datasource; the server connects and reads its schema first, so
        an unreachable source or unknown column is a 400 naming the field. ``path`` is
        read by the server: give it absolute."""
        return Call.post("/v1/datasources", DatasourcePublic.model_validate, _body(
            name=name, type=str(type), url=url, path=path, table=table, query=query,
            shard_key=shard_key, label_column=label_column,
            feature_columns=feature_columns and list(feature_columns),
        ), idempotency_key=idempotency_key)

    @endpoint
    def list_datasources(
        self, *, limit: int | None = None, starting_after: str | None = None
    ) -> Call[Page[DatasourcePublic]]:
        """Datasources, newest first (passwords masked)."""
        return Call.get("/v1/datasources", Page[DatasourcePublic].model_validate,
                        limit=limit, starting_after=starting_after)

    @endpoint
    def get_datasource(self, name: str) -> Call[DatasourcePublic]:
        return Call.get(f"/v1/datasources/{name}", DatasourcePublic.model_validate)

    @endpoint
    def delete_datasource(self, name: str) -> Call[DatasourcePublic]:
        """Removes a datasource; one with snapshots is a 409 (lineage points at it)."""
        return Call.delete(f"/v1/datasources/{name}", DatasourcePublic.model_validate)

    @endpoint
    def create_snapshot(
        self, datasource: str, *, force: bool = False,
        compression: Compression | str = Compression.ZSTD, idempotency_key: str | None = None,
    ) -> Call[SnapshotPublic]:
        """Snapshots ``datasource`` to hashed Parquet and answers when it is written;
        with ``force=False`` an unchanged source returns its latest snapshot."""
        body = {"options": {"force": force, "compression": str(compression)}}
        return Call.post(f"/v1/snapshot/{datasource}", SnapshotPublic.model_validate, body,
                         idempotency_key=idempotency_key)

    @endpoint
    def list_snapshots(
        self, *, datasource: str | None = None, limit: int | None = None,
        starting_after: str | None = None,
    ) -> Call[Page[SnapshotPublic]]:
        """Snapshots, newest first, of one datasource or all."""
        return Call.get("/v1/snapshots", Page[SnapshotPublic].model_validate,
                        datasource=datasource, limit=limit, starting_after=starting_after)

    @endpoint
    def get_snapshot(self, snapshot_id: str) -> Call[SnapshotDetail]:
        """One snapshot with its columns and files."""
        return Call.get(f"/v1/snapshots/{snapshot_id}", SnapshotDetail.model_validate)

    # -- models and the registry ---------------------------------------------------

    @endpoint
    def create_model(
        self, name: str, *, label_column: str, feature_columns: Sequence[str] | None = None,
        family: str | None = None, description: str | None = None,
        idempotency_key: str | None = None,
    ) -> Call[ModelPublic]:
        """A model: its family (default tabular-classifier) and data contract."""
        return Call.post("/v1/models", ModelPublic.model_validate, _body(
            name=name, label_column=label_column, family=family, description=description,
            feature_columns=feature_columns and list(feature_columns),
        ), idempotency_key=idempotency_key)

    @endpoint
    def list_models(
        self, *, limit: int | None = None, starting_after: str | None = None
    ) -> Call[Page[ModelPublic]]:
        return Call.get("/v1/models", Page[ModelPublic].model_validate, limit=limit,
                        starting_after=starting_after)

    @endpoint
    def get_model(self, model: str) -> Call[ModelPublic]:
        """One model, with the version deployed now."""
        return Call.get(f"/v1/models/{model}", ModelPublic.model_validate)

    @endpoint
    def list_versions(self, model: str) -> Call[ModelVersions]:
        """A model's versions, newest first, with their metrics and status."""
        return Call.get(f"/v1/models/{model}/versions", ModelVersions.model_validate)

    @endpoint
    def deploy_version(
        self, model: str, version: str, *, idempotency_key: str | None = None
    ) -> Call[VersionPublic]:
        """Serves ``version``; the version deployed before is archived."""
        return Call.post(f"/v1/models/{model}/versions/{version}/deploy",
                         VersionPublic.model_validate, idempotency_key=idempotency_key)

    @endpoint
    def rollback_model(
        self, model: str, *, idempotency_key: str | None = None
    ) -> Call[VersionPublic]:
        """Goes back to the version deployed before the current one (409 if none).
        The idempotency key matters here: a retried rollback must not go back twice."""
        return Call.post(f"/v1/models/{model}/rollback", VersionPublic.model_validate,
                         idempotency_key=idempotency_key)

    @endpoint
    def get_model_history(self, model: str) -> Call[ModelHistory]:
        """Every deploy and rollback, newest first: who, when, from, to."""
        return Call.get(f"/v1/models/{model}/history", ModelHistory.model_validate)

    # -- training ------------------------------------------------------------------

    @endpoint
    def train(
        self, model: str, snapshot: str, *,
        options: TrainOptions | Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Call[RunPublic]:
        """Starts a training run (a Ray Job running Ray Train) and answers at once,
        queued; follow it with :meth:`get_run` or ``wait_for_run``. Options left
        unset take the server's defaults."""
        if isinstance(options, TrainOptions):
            options = options.model_dump(mode="json", exclude_unset=True)
        return Call.post(f"/v1/train/{model}", RunPublic.model_validate,
                         {"snapshot": snapshot, "options": dict(options or {})},
                         idempotency_key=idempotency_key)

    @endpoint
    def get_run(self, run_id: str) -> Call[RunDetail]:
        """A run: status, Ray job, metrics of every epoch so far, error, log tail."""
        return Call.get(f"/v1/train/{run_id}", RunDetail.model_validate)

    @endpoint
    def cancel_run(self, run_id: str, *, idempotency_key: str | None = None) -> Call[RunDetail]:
        """Stops a run's Ray job; a run that already ended is a 409."""
        return Call.post(f"/v1/train/{run_id}/cancel", RunDetail.model_validate,
                         idempotency_key=idempotency_key)

    # -- inference and lineage -----------------------------------------------------

    @endpoint
    def infer(
        self, model: str, input: Mapping[str, Any], *,
        version: str | None = None, include_metadata: bool = False,
        idempotency_key: str | None = None,
    ) -> Call[InferResponse]:
        """A prediction by the deployed (or the pinned ``version``) of ``model``.

        No Idempotency-Key unless given: a prediction changes nothing but its log
        record, so it is safe to retry without one, and a key would cost the hot path
        a store write per request.
        """
        options = _body(version=version, include_metadata=include_metadata or None)
        return Call.post(f"/v1/infer/{model}", InferResponse.model_validate,
                         {"input": dict(input), "options": options},
                         idempotency_key=idempotency_key, auto_key=False, idempotent=True)

    @endpoint
    def lineage(self, lineage_id: str) -> Call[Lineage]:
        """What produced an inference (``inf_``), run (``run_``), snapshot (``snap_``)
        or ``model:version``: back to the datasource."""
        return Call.get(f"/v1/lineage/{lineage_id}", Lineage.model_validate)

    # -- webhooks ------------------------------------------------------------------

    @endpoint
    def create_webhook(
        self, url: str, events: Sequence[str], *, description: str | None = None,
        idempotency_key: str | None = None,
    ) -> Call[WebhookCreated]:
        """Subscribes ``url``; the signing secret (``.secret``) is in this answer only."""
        return Call.post("/v1/webhooks", WebhookCreated.model_validate,
                         _body(url=url, events=list(events), description=description),
                         idempotency_key=idempotency_key)

    @endpoint
    def list_webhooks(
        self, *, limit: int | None = None, starting_after: str | None = None
    ) -> Call[Page[WebhookPublic]]:
        return Call.get("/v1/webhooks", Page[WebhookPublic].model_validate, limit=limit,
                        starting_after=starting_after)

    @endpoint
    def get_webhook(self, webhook_id: str) -> Call[WebhookPublic]:
        return Call.get(f"/v1/webhooks/{webhook_id}", WebhookPublic.model_validate)

    @endpoint
    def update_webhook(
        self, webhook_id: str, *, url: str | None = None, events: Sequence[str] | None = None,
        enabled: bool | None = None, description: str | None = None,
    ) -> Call[WebhookPublic]:
        """Changes what is given; ``enabled=True`` re-enables one Pulse disabled."""
        return Call.patch(f"/v1/webhooks/{webhook_id}", WebhookPublic.model_validate, _body(
            url=url, events=events and list(events), enabled=enabled, description=description))

    @endpoint
    def delete_webhook(self, webhook_id: str) -> Call[None]:
        """Deletes a webhook and its pending deliveries."""
        return Call.delete(f"/v1/webhooks/{webhook_id}", no_content)

    @endpoint
    def rotate_webhook_secret(
        self, webhook_id: str, *, idempotency_key: str | None = None
    ) -> Call[SecretRotated]:
        """A new secret; deliveries carry signatures by both until the old one expires."""
        return Call.post(f"/v1/webhooks/{webhook_id}/rotate-secret",
                         SecretRotated.model_validate, idempotency_key=idempotency_key)

    @endpoint
    def test_webhook(self, webhook_id: str, *, idempotency_key: str | None = None
                     ) -> Call[TestSent]:
        """Queues a ``webhook.ping`` to this webhook; its id is in the delivery log."""
        return Call.post(f"/v1/webhooks/{webhook_id}/test", TestSent.model_validate,
                         idempotency_key=idempotency_key)

    @endpoint
    def list_webhook_deliveries(
        self, webhook_id: str, *, limit: int | None = None
    ) -> Call[DeliveryLog]:
        """Every delivery attempt, newest first (status code, error, latency, next retry)."""
        return Call.get(f"/v1/webhooks/{webhook_id}/deliveries", DeliveryLog.model_validate,
                        limit=limit)

    @endpoint
    def retry_webhook_delivery(
        self, webhook_id: str, message_id: str, *, idempotency_key: str | None = None
    ) -> Call[TestSent]:
        """Sends a message to this webhook again, now."""
        return Call.post(f"/v1/webhooks/{webhook_id}/deliveries/{message_id}/retry",
                         TestSent.model_validate, idempotency_key=idempotency_key)

    # -- e-commerce (seed 002) -----------------------------------------------------

    @endpoint
    def infer_session(
        self, session: SessionInferRequest | Mapping[str, Any], *,
        idempotency_key: str | None = None,
    ) -> Call[SessionInferResponse]:
        """A live shopper session's persona and recommendations (the seed's body, as a
        dict or the model). Safe to retry without a key, like :meth:`infer`."""
        body = (session.model_dump(mode="json", exclude_none=True)
                if isinstance(session, SessionInferRequest) else dict(session))
        return Call.post("/v1/infer", SessionInferResponse.model_validate, body,
                         idempotency_key=idempotency_key, auto_key=False, idempotent=True)

    @endpoint
    def tag_products(
        self, products: Sequence[ProductIn | Mapping[str, Any]], *,
        idempotency_key: str | None = None,
    ) -> Call[TagResult | TaggingJobPublic]:
        """Upserts and tags products: the tagged products (a :class:`TagResult`) for a
        small request, a background :class:`TaggingJobPublic` for a large one."""
        body = {"products": [p.model_dump(mode="json", exclude_none=True)
                             if isinstance(p, ProductIn) else dict(p) for p in products]}
        return Call.post("/v1/products/tag", _tagged, body, idempotency_key=idempotency_key)

    @endpoint
    def get_tagging_job(self, job_id: str) -> Call[TaggingJobPublic]:
        return Call.get(f"/v1/products/tag/{job_id}", TaggingJobPublic.model_validate)

    @endpoint
    def get_product(self, product_id: str) -> Call[ProductPublic]:
        """A product and its Digital Twin tags."""
        return Call.get(f"/v1/products/{product_id}", ProductPublic.model_validate)

    @endpoint
    def create_conversion(
        self, session_id: str, product_id: str, value: float, currency: str, *,
        inference_id: str | None = None, idempotency_key: str | None = None,
    ) -> Call[ConversionPublic]:
        """Records a purchase; Pulse credits the recommendation that led to it."""
        return Call.post("/v1/conversions", ConversionPublic.model_validate, _body(
            session_id=session_id, product_id=product_id, value=value, currency=currency,
            inference_id=inference_id), idempotency_key=idempotency_key)


def _tagged(body: Any) -> TagResult | TaggingJobPublic:
    if isinstance(body, dict) and body.get("object") == "tagging_job":
        return TaggingJobPublic.model_validate(body)
    return TagResult.model_validate(body)


@dataclass
class _RunWatch:
    """When to look at a run again, and when to stop waiting (no I/O)."""

    poll_s: float
    timeout_s: float | None
    clock: Callable[[], float]

    def __post_init__(self) -> None:
        self._deadline = None if self.timeout_s is None else self.clock() + self.timeout_s

    def next_poll_s(self, run: RunDetail) -> float | None:
        """None once the run has ended; raises when the time to wait is up."""
        if run.status in TERMINAL:
            return None
        if self._deadline is not None and self.clock() >= self._deadline:
            raise RequestTimeoutError(f"Run {run.id} is still {run.status} after "
                                      f"{self.timeout_s:g}s")
        return self.poll_s


class Pulse(_Endpoints, SyncClientBase):
    """Synchronous client.

    Args:
        api_key: the key; else ``PULSE_API_KEY``; else what ``pulse auth login`` saved.
        base_url: the service; else ``PULSE_BASE_URL``; else the saved one; else
            http://127.0.0.1:8000.
        timeout: seconds per attempt; long, as a snapshot answers when it is written.
        max_retries: retries after a 429, a 503 or a lost connection (0: none).
        transport: an httpx transport (tests pass ``httpx.MockTransport``).
        sleep, rand: the wait between retries and its jitter, injectable for tests.
    """

    def wait_for_run(
        self, run_id: str, *, poll_s: float = 1.0, timeout_s: float | None = None,
        on_update: Callable[[RunDetail], None] | None = None,
    ) -> RunDetail:
        """Polls a run until it succeeds, fails or is cancelled; the run as it ended.

        ``on_update`` sees every poll's run (the CLI draws its progress from it).
        Raises :class:`~pulse_ray.errors.RequestTimeoutError` after ``timeout_s``.
        """
        watch = _RunWatch(poll_s, timeout_s, time.monotonic)
        while True:
            run = self.get_run(run_id)
            if on_update is not None:
                on_update(run)
            delay = watch.next_poll_s(run)
            if delay is None:
                return run
            self._sleep(delay)


class AsyncPulse(_Endpoints, AsyncClientBase):
    """Asynchronous client: the same methods as :class:`Pulse`, awaited.

    Takes the same arguments; ``transport`` is an ``httpx.AsyncBaseTransport`` and
    ``sleep`` a coroutine function. Use ``async with AsyncPulse() as pulse:``.
    """

    async def wait_for_run(
        self, run_id: str, *, poll_s: float = 1.0, timeout_s: float | None = None,
        on_update: Callable[[RunDetail], None] | None = None,
    ) -> RunDetail:
        """See :meth:`Pulse.wait_for_run`."""
        watch = _RunWatch(poll_s, timeout_s, time.monotonic)
        while True:
            run = await self.get_run(run_id)
            if on_update is not None:
                on_update(run)
            delay = watch.next_poll_s(run)
            if delay is None:
                return run
            await self._sleep(delay)

"""The e-commerce routes' work: tagging (now or in the background), shopper-session
inference with recommendations, and conversion attribution.

One :class:`ShopService` per ingress replica. It holds what makes ``POST /v1/infer``
fast without a store write or a text-model call per request: each account's catalog
(rebuilt only when the store's catalog changed, checked every ``shop_catalog_ttl_s`` in
the background while requests use the catalog they have),
the embeddings of recent search queries, and the personas' embeddings.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from anyio import to_thread

from pulse_ray.auth import Principal
from pulse_ray.config import Settings
from pulse_ray.errors import ConflictError, ValidationError
from pulse_ray.ids import created_at
from pulse_ray.schemas.shop import (
    ConversionCreate,
    ConversionModel,
    ConversionPublic,
    Persona,
    ProductIn,
    ProductPublic,
    ProductTags,
    Recommendations,
    SessionInferMetadata,
    SessionInferRequest,
    SessionInferResponse,
    TaggingJobPublic,
)
from pulse_ray.services.inference import (
    InferenceEvent,
    InferenceLog,
    LruCache,
    ModelDirectory,
    PredictionCache,
    Predictor,
    TtlDirectory,
    await_young,
    predict_cached,
)
from pulse_ray.services.tagging import CHUNK, Tagger
from pulse_ray.shop.catalog import Catalog
from pulse_ray.shop.encoder import Encoder
from pulse_ray.shop.features import SessionSignals, session_features
from pulse_ray.shop.filters import parse_filters
from pulse_ray.shop.personas import PERSONA_NAMES, persona
from pulse_ray.store import Database
from pulse_ray.store import inference as inference_repo
from pulse_ray.store import shop as repo
from pulse_ray.store.tables import InferenceRecord, Product, TaggingJob
from pulse_ray.timeutil import Clock

__all__ = ["ShopService", "job_public", "product_public"]

logger = logging.getLogger(__name__)


def product_public(product: Product) -> ProductPublic:
    return ProductPublic(id=product.id, name=product.name, description=product.description,
                         price=product.price, category=product.category,
                         image_url=product.image_url, rating=product.rating,
                         tags=ProductTags.model_validate(product.tags),
                         tagged_at=product.tagged_at)


def job_public(job: TaggingJob) -> TaggingJobPublic:
    return TaggingJobPublic(id=job.id, status=job.status,  # type: ignore[arg-type]
                            total=job.total, tagged=job.tagged, error=job.error,
                            created_at=job.created_at, completed_at=job.completed_at)


class ShopService:
    def __init__(self, *, settings: Settings, database: Database, encoder: Encoder,
                 models: ModelDirectory, predictor: Predictor, prediction_cache: PredictionCache,
                 inference_log: InferenceLog, clock: Clock) -> None:
        self._settings = settings
        self._database = database
        self._encoder = encoder
        self.tagger = Tagger(encoder)
        self._models = models
        self._predictor = predictor
        self._prediction_cache = prediction_cache
        self._inference_log = inference_log
        self._clock = clock
        self._catalogs: TtlDirectory[str, Catalog] = TtlDirectory(
            self._load_catalog, ttl_s=settings.shop_catalog_ttl_s, serve_stale=True)
        self._built: dict[str, tuple[tuple[Any, ...], Catalog]] = {}
        self._queries: LruCache[str, np.ndarray] = LruCache(settings.shop_query_cache_size)
        self._jobs: set[asyncio.Task[None]] = set()

    # --- tagging -----------------------------------------------------------------

    async def tag_now(self, principal: Principal, products: Sequence[ProductIn]) -> list[Product]:
        """Tags and stores ``products``; ``products.tagged`` goes out with them."""
        now = self._clock()
        rows = await self.tagger.tag(principal.account, products, now)

        def store() -> None:
            with self._database.session() as session:
                repo.upsert_products(session=session, products=rows)
                repo.tagged_event(session=session, account=principal.account,
                                  product_ids=[r.id for r in rows], job_id=None, now=now)

        await to_thread.run_sync(store)
        return rows

    async def start_job(self, principal: Principal, products: Sequence[ProductIn]) -> TaggingJob:
        """Accepts a large request: the job is stored, then tagged in the background."""
        def create() -> TaggingJob:
            with self._database.session() as session:
                return repo.create_job(session=session, account=principal.account,
                                       key_id=principal.key_id, now=self._clock(),
                                       products=[p.model_dump() for p in products])

        job = await to_thread.run_sync(create)
        task = asyncio.get_running_loop().create_task(self._run_job(job.id, principal.account,
                                                                    list(products)))
        self._jobs.add(task)  # held, or the loop may drop it half-way
        task.add_done_callback(self._jobs.discard)
        return job

    async def _run_job(self, job_id: str, account: str, products: list[ProductIn]) -> None:
        done: list[str] = []
        try:
            for start in range(0, len(products), CHUNK):
                rows = await self.tagger.tag(account, products[start:start + CHUNK],
                                             self._clock())
                await to_thread.run_sync(self._store_chunk, job_id, account, rows)
                done += [r.id for r in rows]
        except Exception as exc:
            logger.exception("tagging job %s failed after %d products", job_id, len(done))
            await to_thread.run_sync(self._end_job, job_id, account, done,
                                     f"{type(exc).__name__}: {exc}")
            return
        await to_thread.run_sync(self._end_job, job_id, account, done, None)

    def _store_chunk(self, job_id: str, account: str, rows: list[Product]) -> None:
        with self._database.session() as session:
            repo.upsert_products(session=session, products=rows)
            job = repo.get_job(session=session, account=account, job_id=job_id)
            job.status, job.tagged = "running", job.tagged + len(rows)
            session.add(job)

    def _end_job(self, job_id: str, account: str, done: list[str], error: str | None) -> None:
        now = self._clock()
        with self._database.session() as session:
            job = repo.get_job(session=session, account=account, job_id=job_id)
            repo.finish_job(session=session, job=job, status="failed" if error else "succeeded",
                            tagged=len(done), error=error, now=now)
            if error is None:
                repo.tagged_event(session=session, account=account, product_ids=done,
                                  job_id=job_id, now=now)

    async def drain(self) -> None:
        """Waits for background tagging jobs (a clean shutdown finishes them)."""
        if self._jobs:
            await asyncio.gather(*self._jobs, return_exceptions=True)

    # --- inference -----------------------------------------------------------------

    def _load_catalog(self, account: str) -> Catalog:
        with self._database.session() as session:
            signature = repo.catalog_signature(session=session, account=account)
            built = self._built.get(account)
            if built is not None and built[0] == signature:
                return built[1]
            catalog = Catalog(repo.catalog_items(session=session, account=account))
        self._built[account] = (signature, catalog)
        return catalog

    async def _query_vector(self, query: str | None) -> np.ndarray | None:
        if not query:
            return None
        key = " ".join(query.lower().split())
        vector = self._queries.get(key)
        if vector is None:
            vector = (await self._encoder.encode([key]))[0]
            self._queries.put(key, vector)
        return vector

    async def infer(self, principal: Principal, body: SessionInferRequest) -> SessionInferResponse:
        """The shopper's persona and the products to show them (seed 002)."""
        started = time.perf_counter()
        name = self._settings.shop_persona_model
        served = await self._models.resolve((principal.account, name, body.options.version))
        catalog, query, space = await asyncio.gather(
            self._catalogs.resolve(principal.account),
            self._query_vector(body.behavior.search_query), self.tagger.persona_space())
        context, behavior = body.context, body.behavior
        filters = parse_filters(behavior.filters)
        signals = SessionSignals(
            device=context.device, browser=context.browser, referrer=context.referrer,
            country=context.geo.country if context.geo else None, time=context.time,
            query=behavior.search_query, filters=filters,
            viewed=tuple(behavior.viewed_products), dwell_ms=behavior.dwell_time_ms)
        try:  # the features come from the session, not from the body: named as features
            inputs = served.input_schema.validate_input(
                session_features(signals, catalog=catalog, persona_vectors=space.vectors,
                                 query=query), prefix="features.")
        except ValidationError as exc:
            raise ConflictError(
                f"Model '{name}' version {served.version} does not read shopper sessions: "
                "train it on a snapshot of session features (see `pulse demo shop`)",
                details=exc.details) from None
        prediction = asyncio.ensure_future(predict_cached(
            self._predictor, self._prediction_cache, served, inputs))
        await asyncio.sleep(0)  # the call is on its way: shortlist while the model works
        shortlist = catalog.shortlist(query=query, viewed=behavior.viewed_products,
                                      filters=filters)
        output, cached = await prediction
        probabilities: dict[str, float] = output.get("probabilities") or {}
        primary = max(probabilities, key=lambda k: probabilities[k]) if probabilities else ""
        weights = np.array([probabilities.get(n, 0.0) for n in PERSONA_NAMES], dtype=np.float32)
        picked = catalog.rank(shortlist, persona=weights, k=body.options.limit)
        event = InferenceEvent.of(principal, served, started=started, cached=cached,
                                  now=self._clock(), session_id=body.session_id,
                                  recommended=picked.product_ids)
        self._inference_log.record(event)
        return SessionInferResponse(
            id=event.id, session_id=body.session_id,
            persona=Persona(primary=primary, confidence=round(probabilities.get(primary, 0.0), 4),
                            attributes=dict(persona(primary).attributes)
                            if primary in PERSONA_NAMES else {}),
            recommendations=Recommendations(product_ids=picked.product_ids,
                                            rerank_scores=picked.scores),
            metadata=SessionInferMetadata(inference_time_ms=event.latency_ms,
                                          model_version=served.version, model=name))

    # --- conversions -------------------------------------------------------------

    async def convert(self, principal: Principal, body: ConversionCreate) -> ConversionPublic:
        """Records a purchase and credits the recommendation that led to it: the one
        named by ``inference_id``, else the session's latest that showed the product."""
        account = principal.account

        def product_known() -> bool:
            with self._database.session() as session:
                return session.get(Product, (account, body.product_id)) is not None

        if not await to_thread.run_sync(product_known):
            raise ValidationError.for_field(
                "product_id", f"no product '{body.product_id}': tag it first")
        record = await self._attributed_record(account, body)
        credited = (record if record is not None
                    and body.product_id in (record.recommended or []) else None)

        def store() -> ConversionPublic:
            with self._database.session() as session:
                attribution = repo.Attribution.of(session, credited) if credited else None
                conversion = repo.record_conversion(
                    session=session, account=account, key_id=principal.key_id,
                    session_id=body.session_id, product_id=body.product_id, value=body.value,
                    currency=body.currency, inference_id=body.inference_id,
                    attribution=attribution, now=self._clock())
                return ConversionPublic(
                    id=conversion.id, session_id=conversion.session_id,
                    product_id=conversion.product_id, value=conversion.value,
                    currency=conversion.currency, attributed=attribution is not None,
                    inference_id=conversion.inference_id,
                    model=ConversionModel(name=attribution.model.name,
                                          version=attribution.record.version)
                    if attribution else None,
                    created_at=conversion.created_at)

        return await to_thread.run_sync(store)

    async def _attributed_record(self, account: str,
                                 body: ConversionCreate) -> InferenceRecord | None:
        if body.inference_id is None:
            def latest() -> InferenceRecord | None:
                with self._database.session() as session:
                    return repo.latest_recommending(session=session, account=account,
                                                    session_id=body.session_id,
                                                    product_id=body.product_id)

            found = await to_thread.run_sync(latest)
            if found is None:
                # An inference of the last moments may still be in some replica's log
                # buffer: look once more after two of its flush intervals.
                await asyncio.sleep(2 * self._settings.inference_log_interval_s)
                found = await to_thread.run_sync(latest)
            return found

        inference_id = body.inference_id

        def named() -> InferenceRecord | None:
            with self._database.session() as session:
                return inference_repo.get_record(session=session, inference_id=inference_id,
                                                 account=account)

        record = await await_young(named, made=created_at(inference_id), now=self._clock)
        if record is None:
            raise ValidationError.for_field("inference_id", f"no inference '{inference_id}'")
        if record.session_id != body.session_id:
            raise ValidationError.for_field(
                "inference_id", f"'{inference_id}' was not made for session '{body.session_id}'")
        return record

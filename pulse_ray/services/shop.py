"""The e-commerce routes' work: shopper-session inference with recommendations, and
conversion attribution (tagging is :mod:`pulse_ray.services.tagging`'s).

One :class:`ShopService` per ingress replica. A session's persona goes through the one
inference path (:class:`~pulse_ray.services.inference.InferenceService`), with the
session's features as the input and the catalog's ranking done while the model works.
What makes ``POST /v1/infer`` fast without a store write or a text-model call per request
is kept here: each account's catalog (rebuilt only when the store's catalog changed,
checked every ``shop_catalog_ttl_s`` in the background while requests use the catalog
they have) and the embeddings of recent search queries.
"""

from __future__ import annotations

import asyncio
import logging

import numpy as np
from anyio import to_thread
from sqlmodel import Session

from pulse_ray.auth import Principal
from pulse_ray.cache import BoundedCache, Directory
from pulse_ray.config import Settings
from pulse_ray.errors import ConflictError, ValidationError
from pulse_ray.ids import created_at
from pulse_ray.schemas.feedback import FeedbackPublic
from pulse_ray.schemas.shop import (
    ConversionCreate,
    ConversionPublic,
    Persona,
    Recommendations,
    SessionInferMetadata,
    SessionInferRequest,
    SessionInferResponse,
)
from pulse_ray.services.feedback import FeedbackService
from pulse_ray.services.inference import InferenceService
from pulse_ray.services.tagging import Tagger
from pulse_ray.shop.catalog import Catalog
from pulse_ray.shop.encoder import Encoder
from pulse_ray.shop.features import SessionSignals, session_features
from pulse_ray.shop.filters import parse_filters
from pulse_ray.shop.personas import PERSONA_NAMES, persona, purchased_persona
from pulse_ray.store import Database
from pulse_ray.store import feedback as feedback_repo
from pulse_ray.store import inference as inference_repo
from pulse_ray.store import shop as repo
from pulse_ray.store.scope import find_owned
from pulse_ray.store.tables import InferenceRecord, Model, Product

__all__ = ["ShopService"]

_log = logging.getLogger(__name__)

# Accounts whose catalog one replica keeps (each is every tagged product's embedding).
_CATALOGS_PER_REPLICA = 64


class ShopService:
    def __init__(self, *, settings: Settings, database: Database, encoder: Encoder,
                 tagger: Tagger, inference: InferenceService,
                 feedback: FeedbackService) -> None:
        self._settings = settings
        self._feedback = feedback
        self._database = database
        self._encoder = encoder
        self._tagger = tagger
        self._inference = inference
        self._catalogs: Directory[str, Catalog] = Directory(
            self._load_catalog, ttl_s=settings.shop_catalog_ttl_s,
            max_entries=_CATALOGS_PER_REPLICA, serve_stale=True)
        # The catalog each account's last lookup built, by the store's catalog signature:
        # a lookup that finds the catalog unchanged keeps it instead of rebuilding it.
        self._built: BoundedCache[str, tuple[tuple[object, ...], Catalog]] = BoundedCache(
            _CATALOGS_PER_REPLICA)
        self._queries: BoundedCache[str, np.ndarray] = BoundedCache(
            settings.shop_query_cache_size)

    # --- inference -----------------------------------------------------------------

    def _load_catalog(self, account: str) -> Catalog:
        with self._database.session() as session:
            signature = repo.catalog_signature(session=session, account=account)
            built = self._built.get(account)
            if built is not None and built[0] == signature:
                return built[1]
            catalog = Catalog(repo.catalog_items(session=session, account=account))
        self._built.put(account, (signature, catalog))
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
        name = self._settings.shop_persona_model
        call = await self._inference.call(principal, name, body.options.version,
                                          session_id=body.session_id)
        catalog, query, space = await asyncio.gather(
            self._catalogs.resolve(principal.account),
            self._query_vector(body.behavior.search_query), self._tagger.persona_space())
        context, behavior = body.context, body.behavior
        filters = parse_filters(behavior.filters)
        signals = SessionSignals(
            device=context.device, browser=context.browser, referrer=context.referrer,
            country=context.geo.country if context.geo else None, time=context.time,
            query=behavior.search_query, filters=filters,
            viewed=tuple(behavior.viewed_products), dwell_ms=behavior.dwell_time_ms)
        try:
            # Computed from the session, not sent in its body: named as the model's features.
            inputs = call.validate(session_features(
                signals, catalog=catalog, persona_vectors=space.vectors, query=query),
                prefix="features.")
        except ValidationError as exc:
            raise ConflictError(
                f"Model '{name}' version {call.served.version} does not read shopper "
                "sessions: train it on a snapshot of session features (see `pulse demo shop`)",
                details=exc.details) from None
        prediction = asyncio.ensure_future(call.predict(inputs))
        await asyncio.sleep(0)  # the call is on its way: shortlist while the model works
        shortlist = catalog.shortlist(query=query, viewed=behavior.viewed_products,
                                      filters=filters)
        output, cached = await prediction
        probabilities: dict[str, float] = output.get("probabilities") or {}
        primary = max(probabilities, key=lambda k: probabilities[k]) if probabilities else ""
        weights = np.array([probabilities.get(n, 0.0) for n in PERSONA_NAMES], dtype=np.float32)
        picked = catalog.rank(shortlist, persona=weights, k=body.options.limit)
        event = call.record(cached=cached, inputs=inputs, session_id=body.session_id,
                            recommended=picked.product_ids, prediction=primary or None)
        return SessionInferResponse(
            id=event.id, session_id=body.session_id,
            persona=Persona(primary=primary, confidence=round(probabilities.get(primary, 0.0), 4),
                            attributes=dict(persona(primary).attributes)
                            if primary in PERSONA_NAMES else {}),
            recommendations=Recommendations(product_ids=picked.product_ids,
                                            rerank_scores=picked.scores),
            metadata=SessionInferMetadata(inference_time_ms=event.latency_ms,
                                          model_version=call.served.version, model=name))

    # --- conversions -------------------------------------------------------------

    async def convert(self, principal: Principal, body: ConversionCreate) -> ConversionPublic:
        """Records a purchase and credits the recommendation that led to it: the one
        named by ``inference_id``, else the session's latest that showed the product.

        The purchase is also the outcome of the session's persona inference (the credited
        one, else the one named, else the session's latest): the purchased product's
        best-suited persona (its tags) becomes that inference's feedback, through the one
        feedback path, unless the inference already has its outcome — what the persona
        model's retrain policy learns from (README, *Outcomes from the shop*)."""
        account = principal.account

        def label_of_product() -> str | None:
            with self._database.session() as session:
                product = find_owned(session, Product, account, id=body.product_id)
                if product is None:
                    raise ValidationError.for_field(
                        "product_id", f"no product '{body.product_id}': tag it first")
                return purchased_persona(product.tags)

        label = await to_thread.run_sync(label_of_product)
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
                    attribution=attribution, now=self._inference.clock())
                labelled = record or repo.latest_inference(
                    session=session, account=account, session_id=body.session_id)
                public = conversion.public(attribution.model.name if attribution else None)
                if label is not None and labelled is not None:
                    public.feedback = self._persona_outcome(session, labelled, label,
                                                            principal.key_id)
                return public

        return await to_thread.run_sync(store)

    def _persona_outcome(self, session: Session, record: InferenceRecord, label: str,
                         key_id: str | None) -> FeedbackPublic | None:
        """``label`` as the outcome of the persona inference ``record``, in the
        conversion's transaction; None when ``record`` is another model's, already has its
        outcome (the first purchase, or a client's own feedback, stands), or its model's
        label column cannot hold a persona."""
        model = session.get(Model, record.model_id)
        if model is None or model.name != self._settings.shop_persona_model:
            return None
        if feedback_repo.get_feedback(session=session, inference_id=record.id,
                                      account=record.account):
            return None
        try:
            return self._feedback.add(session, record=record, label=label, key_id=key_id)
        except (ValidationError, ConflictError) as exc:
            _log.info("purchase in session %s not recorded as %s's persona: %s",
                      record.session_id, record.id, exc)
            return None

    async def _attributed_record(self, account: str,
                                 body: ConversionCreate) -> InferenceRecord | None:
        if body.inference_id is None:
            def latest() -> InferenceRecord | None:
                with self._database.session() as session:
                    return repo.latest_recommending(session=session, account=account,
                                                    session_id=body.session_id,
                                                    product_id=body.product_id)

            # An inference of the last moments may still be in some replica's log.
            return await self._inference.recent(latest, made=self._inference.clock())

        inference_id = body.inference_id

        def named() -> InferenceRecord | None:
            with self._database.session() as session:
                return inference_repo.get_record(session=session, inference_id=inference_id,
                                                 account=account)

        record = await self._inference.recent(named, made=created_at(inference_id))
        if record is None:
            raise ValidationError.for_field("inference_id", f"no inference '{inference_id}'")
        if record.session_id != body.session_id:
            raise ValidationError.for_field(
                "inference_id", f"'{inference_id}' was not made for session '{body.session_id}'")
        return record

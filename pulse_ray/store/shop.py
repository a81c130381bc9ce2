"""Repository functions for products and conversions (tagging jobs:
:mod:`pulse_ray.store.tagging_jobs`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import func
from sqlmodel import Session, col, select

from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.shop.catalog import CatalogItem
from pulse_ray.store import webhooks as webhook_repo
from pulse_ray.store.scope import get_owned, owned, owned_by
from pulse_ray.store.tables import (
    Conversion,
    InferenceRecord,
    Model,
    ModelVersion,
    Product,
    Snapshot,
    TrainingRun,
)
from pulse_ray.timeutil import format_timestamp
from pulse_ray.webhooks.events import EventType

__all__ = [
    "Attribution",
    "PersonaMix",
    "catalog_item",
    "catalog_items",
    "catalog_signature",
    "conversion_counts",
    "credited_to",
    "get_product",
    "latest_inference",
    "latest_recommending",
    "list_products",
    "persona_mix",
    "record_conversion",
    "tagged_event",
    "upsert_products",
]


def upsert_products(*, session: Session, products: Sequence[Product]) -> None:
    """Inserts new products and replaces known ones (same account and id)."""
    for product in products:
        session.merge(product)
    session.flush()


def get_product(*, session: Session, account: str, product_id: str) -> Product:
    return get_owned(session, Product, account, id=product_id,
                     not_found=f"No product '{product_id}'")


def catalog_signature(*, session: Session, account: str) -> tuple[Any, ...]:
    """Changes whenever the catalog or its purchases do: one cheap query, so a replica
    rebuilds its catalog only when there is something new."""
    products = session.exec(select(func.count(), func.max(Product.tagged_at))
                            .where(owned_by(Product, account))).one()
    conversions = session.exec(select(func.count()).select_from(Conversion)
                               .where(owned_by(Conversion, account))).one()
    return (*products, conversions)


def catalog_items(*, session: Session, account: str) -> list[CatalogItem]:
    """Every tagged product of ``account``, as the recommender holds them."""
    purchases = conversion_counts(session=session, account=account)
    return [catalog_item(p, purchases.get(p.id, 0))
            for p in session.exec(owned(Product, account).order_by(col(Product.id)))]


def list_products(*, session: Session, account: str, limit: int) -> list[Product]:
    """The account's products, most recently tagged first."""
    return list(session.exec(owned(Product, account)
                             .order_by(col(Product.tagged_at).desc()).limit(limit)))


def catalog_item(product: Product, purchases: int = 0) -> CatalogItem:
    return CatalogItem(id=product.id, price=product.price, rating=product.rating,
                       category=product.category,
                       embedding=np.frombuffer(product.embedding, dtype=np.float32),
                       personas={s["persona"]: s["score"] for s in product.tags["personas"]},
                       purchases=purchases)


def tagged_event(*, session: Session, account: str, product_ids: list[str],
                 job_id: str | None, now: datetime) -> None:
    """``products.tagged``, in the caller's transaction: sent only if the tags are."""
    webhook_repo.emit(session=session, account=account, type_=EventType.PRODUCTS_TAGGED,
                      now=now, data={"job_id": job_id, "count": len(product_ids),
                                     "product_ids": product_ids[:1000],
                                     "tagged_at": format_timestamp(now)})


def _latest_of_session(session: Session, account: str, session_id: str,
                       limit: int) -> Iterator[InferenceRecord]:
    return iter(session.exec(
        owned(InferenceRecord, account).where(InferenceRecord.session_id == session_id)
        .order_by(col(InferenceRecord.created_at).desc()).limit(limit)))


def latest_recommending(*, session: Session, account: str, session_id: str,
                        product_id: str) -> InferenceRecord | None:
    """The session's most recent inference whose recommendations held ``product_id``."""
    return next((r for r in _latest_of_session(session, account, session_id, 50)
                 if product_id in (r.recommended or [])), None)


def latest_inference(*, session: Session, account: str,
                     session_id: str) -> InferenceRecord | None:
    """The session's most recent inference: the persona last read for it."""
    return next(_latest_of_session(session, account, session_id, 1), None)


@dataclass(frozen=True, slots=True)
class PersonaMix:
    """Each persona's share of an account's latest shop inferences (largest first), and
    how many inferences and sessions that was."""

    shares: list[tuple[str, float]]
    inferences: int
    sessions: int


def persona_mix(*, session: Session, account: str, limit: int) -> PersonaMix:
    """The persona mix of the account's ``limit`` latest shop inferences (those with a
    shopper session, over the partial index that holds only those), by the persona each
    read (its ``prediction``)."""
    rows = session.exec(
        select(InferenceRecord.prediction, InferenceRecord.session_id)
        .where(owned_by(InferenceRecord, account),
               col(InferenceRecord.session_id).is_not(None),
               col(InferenceRecord.prediction).is_not(None))
        .order_by(col(InferenceRecord.created_at).desc()).limit(limit)).all()
    counts = Counter(persona for persona, _ in rows)
    return PersonaMix(shares=[(str(name), count / len(rows))
                              for name, count in counts.most_common()],
                      inferences=len(rows), sessions=len({s for _, s in rows}))


class Attribution:
    """What a conversion is credited to: the inference, its model version, and the
    snapshot that version was trained on."""

    def __init__(self, record: InferenceRecord, model: Model, snapshot: Snapshot | None) -> None:
        self.record = record
        self.model = model
        self.snapshot = snapshot

    @staticmethod
    def of(session: Session, record: InferenceRecord) -> Attribution:
        model = session.get(Model, record.model_id)
        assert model is not None  # a foreign key
        run_snapshot = session.exec(
            select(Snapshot).join(TrainingRun, col(TrainingRun.snapshot_id) == col(Snapshot.id))
            .join(ModelVersion, col(ModelVersion.run_id) == col(TrainingRun.id))
            .where(ModelVersion.model_id == model.id, ModelVersion.version == record.version)
        ).first()
        return Attribution(record, model, run_snapshot)


def record_conversion(*, session: Session, account: str, key_id: str | None, session_id: str,
                      product_id: str, value: float, currency: str, inference_id: str | None,
                      attribution: Attribution | None, now: datetime) -> Conversion:
    """Stores the conversion and, when attributed, ``session.converted`` with it.

    Args:
        inference_id: the inference the client named, credited or not.
    """
    conversion = Conversion(
        id=new_id(IdPrefix.CONVERSION, now=now), account=account, key_id=key_id,
        session_id=session_id, product_id=product_id, value=value, currency=currency,
        inference_id=attribution.record.id if attribution else inference_id,
        model_id=attribution.model.id if attribution else None,
        version=attribution.record.version if attribution else None, created_at=now)
    session.add(conversion)
    session.flush()
    if attribution is not None:
        snapshot = attribution.snapshot
        webhook_repo.emit(session=session, account=account, type_=EventType.SESSION_CONVERTED,
                          now=now, data={
                              "conversion_id": conversion.id, "session_id": session_id,
                              "product_id": product_id, "value": value, "currency": currency,
                              "inference_id": attribution.record.id,
                              "model": {"name": attribution.model.name,
                                        "version": attribution.record.version},
                              "snapshot": {"id": snapshot.id, "hash": snapshot.hash}
                              if snapshot else None,
                              "created_at": format_timestamp(now)})
    return conversion


def conversion_counts(*, session: Session, account: str) -> dict[str, int]:
    """Purchases per product: how popular each is (a ranking signal)."""
    rows = session.exec(
        select(Conversion.product_id, func.count())
        .where(owned_by(Conversion, account)).group_by(Conversion.product_id))
    return {product_id: int(count) for product_id, count in rows}


def credited_to(*, session: Session, inference_id: str, account: str) -> list[Conversion]:
    """The conversions credited to an inference (its recommendation's outcomes), oldest
    first."""
    return list(session.exec(owned(Conversion, account).where(
        Conversion.inference_id == inference_id, col(Conversion.model_id).is_not(None))
        .order_by(col(Conversion.created_at))))

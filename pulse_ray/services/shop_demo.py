"""Puts the e-commerce demo in place: the catalog tagged in the store, the purchases
of the training sessions recorded as conversions, and the sessions' feature table (with
their personas) in a database a datasource can snapshot."""

from __future__ import annotations

import json
from datetime import datetime

import pyarrow as pa

from pulse_ray.demo.shop import DemoProduct, DemoSession
from pulse_ray.demo.transactions import load
from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.schemas.shop import ProductIn
from pulse_ray.services.tagging import Tagger
from pulse_ray.shop.catalog import Catalog
from pulse_ray.shop.encoder import Encoder
from pulse_ray.shop.features import FEATURES, SessionSignals, session_features
from pulse_ray.store import Database
from pulse_ray.store import shop as repo
from pulse_ray.store.tables import Conversion

__all__ = ["SESSIONS_TABLE", "load_products", "record_purchases", "session_table",
           "write_sessions"]

SESSIONS_TABLE = "shop_sessions"


async def load_products(tagger: Tagger, database: Database, products: list[DemoProduct], *,
                        account: str, now: datetime) -> Catalog:
    """Tags the demo catalog and stores it (replacing products with the same ids); the
    recommender's view of it."""
    rows = await tagger.tag(account, [ProductIn(
        id=p.id, name=p.name, description=p.description, price=p.price, category=p.category,
        image_url=p.image_url, rating=p.rating) for p in products], now)
    with database.session() as session:
        repo.upsert_products(session=session, products=rows)
    return Catalog([repo.catalog_item(row) for row in rows])


def record_purchases(database: Database, sessions: list[DemoSession], *, account: str,
                     now: datetime) -> int:
    """The sessions' purchases as (unattributed) conversions: what sells."""
    conversions = [
        Conversion(id=new_id(IdPrefix.CONVERSION, now=now), account=account,
                   session_id=s.session_id, product_id=s.purchased, value=s.value or 0.0,
                   currency="USD", created_at=now)
        for s in sessions if s.purchased is not None
    ]
    with database.session() as session:
        session.add_all(conversions)
    return len(conversions)


async def session_table(sessions: list[DemoSession], *, catalog: Catalog, tagger: Tagger,
                        encoder: Encoder) -> pa.Table:
    """The sessions as the persona model trains on them: ``persona`` (the label), the
    features ``POST /v1/infer`` computes, and the raw session for replay."""
    space = await tagger.persona_space()
    queries = sorted({" ".join(s.query.lower().split()) for s in sessions if s.query})
    vectors = dict(zip(queries, await encoder.encode(queries), strict=True)) if queries else {}
    rows = []
    for s in sessions:
        signals = SessionSignals(
            device=s.device, browser=s.browser, referrer=s.referrer, country=s.country,
            time=s.time, query=s.query, filters=s.parsed_filters, viewed=s.viewed,
            dwell_ms=s.dwell_ms)
        query = vectors[" ".join(s.query.lower().split())] if s.query else None
        rows.append({
            "session_id": s.session_id, "persona": s.persona,
            **session_features(signals, catalog=catalog, persona_vectors=space.vectors,
                               query=query),
            "search_query": s.query, "filters": json.dumps(list(s.filters)),
            "viewed_products": json.dumps(list(s.viewed)),
            "purchased_product_id": s.purchased, "purchase_value": s.value,
        })
    return pa.Table.from_pylist(rows, schema=_SCHEMA)


_TYPES = {"device": pa.string(), "browser": pa.string(), "referrer_kind": pa.string(),
          "country": pa.string(), "weekend": pa.bool_(), "has_query": pa.bool_(),
          "hour": pa.int32(), "viewed_count": pa.int32(), "category_filters": pa.int32()}
_SCHEMA = pa.schema(
    [("session_id", pa.string()), ("persona", pa.string())]
    + [(name, _TYPES.get(name, pa.float64())) for name in FEATURES]
    + [("search_query", pa.string()), ("filters", pa.string()),
       ("viewed_products", pa.string()), ("purchased_product_id", pa.string()),
       ("purchase_value", pa.float64())])


def write_sessions(table: pa.Table, into: str) -> None:
    load(table, into, name=SESSIONS_TABLE, primary_key="session_id")

"""Tagging with the real text model (loaded once per test session)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from pulse_ray.schemas.shop import ProductIn
from pulse_ray.services.tagging import Tagger
from pulse_ray.shop.catalog import Catalog
from pulse_ray.shop.encoder import LocalEncoder
from pulse_ray.shop.features import FEATURES, SessionSignals, referrer_kind, session_features
from pulse_ray.shop.filters import parse_filters
from pulse_ray.store.shop import catalog_item

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def tagger(encoder: LocalEncoder) -> Tagger:
    return Tagger(encoder)


def _tag(tagger: Tagger, *products: ProductIn) -> list[dict]:  # type: ignore[type-arg]
    return [row.tags for row in asyncio.run(tagger.tag("acme", products, NOW))]


def test_products_are_tagged_for_the_personas_their_text_describes(tagger: Tagger) -> None:
    budget, racer, gift = _tag(
        tagger,
        ProductIn(id="prod_1", name="Everyday Value Running Shoe", price=49.0,
                  category="footwear/running", rating=4.7,
                  description="Affordable cushioning, great value for runners on a budget."),
        ProductIn(id="prod_2", name="Elite Carbon Racing Flat", price=260.0,
                  category="footwear/running",
                  description="Carbon plate propulsion and pro-grade race technology."),
        ProductIn(id="prod_3", name="Deluxe Holiday Gift Box", price=65.0, category="gifts/sets",
                  description="Gift boxed and ready to give: a thoughtful present."),
    )
    assert budget["personas"][0]["persona"] == "value_conscious_runner"
    assert budget["attributes"]["price_sensitivity"] == "high"
    assert budget["price_tier"] == "mid"
    assert racer["personas"][0]["persona"] == "performance_athlete"
    assert racer["attributes"]["price_sensitivity"] == "low"
    assert racer["price_tier"] == "premium"
    assert gift["personas"][0]["persona"] == "gift_shopper"
    assert gift["facets"]["category"] == ["gifts", "gifts/sets"]
    assert abs(sum(p["score"] for p in budget["personas"]) - 1.0) < 1e-3


def test_a_session_becomes_every_feature_the_model_reads(tagger: Tagger,
                                                         encoder: LocalEncoder) -> None:
    rows = asyncio.run(tagger.tag("acme", [
        ProductIn(id="prod_1", name="Value Running Shoe", price=49.0, category="footwear/running",
                  rating=4.5)], NOW))
    catalog = Catalog([catalog_item(r) for r in rows])
    space = asyncio.run(tagger.persona_space())
    query = asyncio.run(encoder.encode(["cheap running shoes"]))[0]
    signals = SessionSignals(device="Mobile", browser="safari", referrer="instagram.com",
                             country="us", time=datetime(2025, 1, 11, 23, 30, tzinfo=UTC),
                             query="cheap running shoes", filters=parse_filters(["price:0-100"]),
                             viewed=("prod_1", "prod_unknown"), dwell_ms=45000)
    row = session_features(signals, catalog=catalog, persona_vectors=space.vectors, query=query)
    assert set(row) == set(FEATURES)
    assert row["device"] == "mobile" and row["country"] == "US"
    assert row["referrer_kind"] == "social" and row["weekend"] is True and row["hour"] == 23
    assert row["viewed_count"] == 2 and row["viewed_price"] == 49.0
    assert row["price_max"] == 100 and row["dwell_s"] == 45.0
    assert row["query_value_conscious_runner"] > row["query_gift_shopper"]
    assert referrer_kind(None) == "direct" and referrer_kind("retailmenot.com") == "deals"

"""A shopper session as the persona model's input row.

The same function turns the demo's training sessions into the snapshot's columns and
a live ``POST /v1/infer`` body into the model's input, so training and serving can
never featurise differently. What the session says in words (the search query) and
through the products it viewed is brought onto the persona axes with the text model:
the query's similarity to each persona, and the viewed products' persona scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from pulse_ray.shop.catalog import Catalog
from pulse_ray.shop.filters import Filters
from pulse_ray.shop.personas import PERSONA_NAMES

__all__ = ["FEATURES", "SessionSignals", "referrer_kind", "session_features"]

_SOCIAL = ("instagram", "facebook", "tiktok", "pinterest", "twitter", "x.com", "reddit",
           "youtube", "snapchat")
_SEARCH = ("google", "bing", "duckduckgo", "yahoo", "baidu", "ecosia")
_EMAIL = ("mail", "newsletter", "outlook", "klaviyo")
_DEALS = ("coupon", "deal", "rakuten", "honey", "retailmenot", "voucher")

FEATURES: tuple[str, ...] = (
    "device", "browser", "referrer_kind", "country", "hour", "weekend", "dwell_s",
    "viewed_count", "has_query", "price_min", "price_max", "rating_min", "category_filters",
    *(f"query_{name}" for name in PERSONA_NAMES),
    *(f"viewed_{name}" for name in PERSONA_NAMES),
    "viewed_price", "viewed_rating",
)


@dataclass(frozen=True, slots=True)
class SessionSignals:
    """What a session tells about the shopper (the seed's context and behavior)."""

    device: str | None
    browser: str | None
    referrer: str | None
    country: str | None
    time: datetime | None
    query: str | None
    filters: Filters
    viewed: tuple[str, ...]
    dwell_ms: int | None


def referrer_kind(referrer: str | None) -> str:
    """social | search | email | deals | direct | other, from the referring host."""
    if not referrer:
        return "direct"
    host = referrer.lower()
    for kind, needles in (("social", _SOCIAL), ("search", _SEARCH), ("email", _EMAIL),
                          ("deals", _DEALS)):
        if any(needle in host for needle in needles):
            return kind
    return "other"


def session_features(signals: SessionSignals, *, catalog: Catalog,
                     persona_vectors: np.ndarray, query: np.ndarray | None) -> dict[str, Any]:
    """The model input of one session.

    Args:
        persona_vectors: the personas' embeddings (PersonaSpace.vectors).
        query: the embedding of ``signals.query``; None without one.
    """
    rows = catalog.rows(signals.viewed)
    query_sims = (persona_vectors @ query).tolist() if query is not None else None
    viewed_personas = catalog.personas[rows].mean(axis=0).tolist() if rows else None
    filters = signals.filters
    row: dict[str, Any] = {
        "device": signals.device.lower() if signals.device else None,
        "browser": signals.browser.lower() if signals.browser else None,
        "referrer_kind": referrer_kind(signals.referrer),
        "country": signals.country.upper() if signals.country else None,
        "hour": signals.time.hour if signals.time else None,
        "weekend": signals.time.weekday() >= 5 if signals.time else None,
        "dwell_s": round(signals.dwell_ms / 1000, 3) if signals.dwell_ms is not None else None,
        "viewed_count": len(signals.viewed),
        "has_query": bool(signals.query),
        "price_min": filters.price_min,
        "price_max": filters.price_max,
        "rating_min": filters.rating_min,
        "category_filters": len(filters.categories),
        "viewed_price": float(catalog.prices[rows].mean()) if rows else None,
        "viewed_rating": (float(np.nanmean(catalog.ratings[rows]))
                          if rows and not np.isnan(catalog.ratings[rows]).all() else None),
    }
    for i, name in enumerate(PERSONA_NAMES):
        row[f"query_{name}"] = round(query_sims[i], 5) if query_sims else None
        row[f"viewed_{name}"] = round(viewed_personas[i], 5) if viewed_personas else None
    return row

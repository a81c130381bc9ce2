"""Seed 002's request bodies, verbatim: what `pulse demo shop` hands a user to send
first (``POST /v1/infer`` and ``POST /v1/products/tag``), so the documentation's
examples are the first thing they try, and they answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["SEED_PRODUCTS", "SEED_SESSION", "write_examples"]

SEED_SESSION: dict[str, Any] = {
    "session_id": "sess_abc123",
    "context": {"device": "mobile", "browser": "safari", "referrer": "instagram.com",
                "geo": {"country": "US", "region": "CA"}, "time": "2025-01-14T23:30:00Z"},
    "behavior": {"search_query": "running shoes under 100",
                 "filters": ["price:0-100", "rating:4+"],
                 "viewed_products": ["prod_123", "prod_456"], "dwell_time_ms": 45000},
}
SEED_PRODUCTS: dict[str, Any] = {"products": [{
    "id": "prod_123", "name": "Performance Running Shoe",
    "description": "Lightweight cushioned...", "price": 129.99,
    "category": "footwear/running", "image_url": "https://..."}]}


def write_examples(directory: Path) -> tuple[Path, Path]:
    """Writes the two bodies as JSON files in ``directory`` (``curl -d @file``,
    ``pulse session @file``); their paths, session first."""
    directory.mkdir(parents=True, exist_ok=True)
    session, products = directory / "shop-session.json", directory / "shop-products.json"
    session.write_text(json.dumps(SEED_SESSION, indent=2) + "\n", encoding="utf-8")
    products.write_text(json.dumps(SEED_PRODUCTS, indent=2) + "\n", encoding="utf-8")
    return session, products

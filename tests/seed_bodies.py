"""Request bodies exactly as seed 002 shows them: the contract clients code against."""

from __future__ import annotations

from typing import Any

SEED_INFER: dict[str, Any] = {
    "session_id": "sess_abc123",
    "context": {"device": "mobile", "browser": "safari", "referrer": "instagram.com",
                "geo": {"country": "US", "region": "CA"}, "time": "2025-01-14T23:30:00Z"},
    "behavior": {"search_query": "running shoes under 100",
                 "filters": ["price:0-100", "rating:4+"],
                 "viewed_products": ["prod_123", "prod_456"], "dwell_time_ms": 45000},
}
SEED_TAG: dict[str, Any] = {"products": [{
    "id": "prod_123", "name": "Performance Running Shoe",
    "description": "Lightweight cushioned...", "price": 129.99,
    "category": "footwear/running", "image_url": "https://..."}]}

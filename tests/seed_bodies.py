"""Request bodies the tests share: seed 002's exactly as it shows them (the contract
clients code against), and one transaction the demo fraud models score."""

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

# A transaction with every column of pulse_ray.demo.transactions but the label.
FRAUD_INPUT: dict[str, Any] = {
    "transaction_amount": 1500.0, "merchant_category": "electronics", "country": "US",
    "home_country": "US", "hour": 3, "device": "mobile", "account_age_days": 30,
    "txn_count_24h": 4, "avg_amount_30d": 80.0, "distance_from_home_km": 12.5}

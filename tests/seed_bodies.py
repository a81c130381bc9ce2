"""Request bodies the tests share: seed 000's and seed 002's exactly as they show them
(the contract clients code against), the data contract the README's fraud-detector
declares, and one transaction the demo fraud models score."""

from __future__ import annotations

from typing import Any

SEED_000_INFER: dict[str, Any] = {
    "input": {"transaction_amount": 1500.00, "merchant_category": "electronics"},
    "options": {"include_metadata": True},
}
SEED_000_ERROR: dict[str, Any] = {"error": {
    "code": "VALIDATION_ERROR", "message": "Input validation failed",
    "details": [{"field": "transaction_amount", "message": "must be a positive number"}]}}
SEED_000_TRAIN: dict[str, Any] = {  # the snapshot id is the seed's: tests put theirs
    "snapshot": "snap_abc123", "options": {"gpu": True, "notify_on_complete": True}}

# The fraud-detector's data contract in the README's walk-through: what the columns'
# meaning forbids. Nothing is required, so the seed's two-field body is answered.
FRAUD_CONSTRAINTS: dict[str, Any] = {
    "transaction_amount": {"exclusive_minimum": 0}, "avg_amount_30d": {"exclusive_minimum": 0},
    "account_age_days": {"minimum": 0}, "txn_count_24h": {"minimum": 0},
    "distance_from_home_km": {"minimum": 0}, "hour": {"minimum": 0, "maximum": 23}}

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

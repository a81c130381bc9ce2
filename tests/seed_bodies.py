"""Request bodies the tests share: seed 000's and seed 002's exactly as they show them
(the contract clients code against), the data contract the README's fraud-detector
declares, and one transaction the demo fraud models score."""

from __future__ import annotations

from typing import Any

from pulse_ray.demo.examples import SEED_PRODUCTS, SEED_SESSION

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

# Seed 002's bodies: the package hands them to users (`pulse demo shop`), verbatim.
SEED_INFER: dict[str, Any] = SEED_SESSION
SEED_TAG: dict[str, Any] = SEED_PRODUCTS

# A transaction with every column of pulse_ray.demo.transactions but the label.
FRAUD_INPUT: dict[str, Any] = {
    "transaction_amount": 1500.0, "merchant_category": "electronics", "country": "US",
    "home_country": "US", "hour": 3, "device": "mobile", "account_age_days": 30,
    "txn_count_24h": 4, "avg_amount_30d": 80.0, "distance_from_home_km": 12.5}

"""The plans a key can be on, as the two product seeds name them."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Plan"]


class Plan(StrEnum):
    """Seed 000 sells free / pro / enterprise, seed 002 starter / growth / enterprise."""

    FREE = "free"
    PRO = "pro"
    ENTERPRISE = "enterprise"
    STARTER = "starter"
    GROWTH = "growth"

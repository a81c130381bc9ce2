"""Digital Twin tags: where a product sits on the persona axes, which personas it
suits, its price tier and facets.

The text model embeds each product (name, category, description) and each persona's
description; a product's persona scores are a softmax over the cosine similarities
(temperature ``_TEMPERATURE``), and its axis scores the persona levels weighted by those
scores, moved by what the fields say directly (price for price sensitivity, rating for
social proof). The same embedding is stored with the product and ranks it for search
queries and for similarity to what a shopper viewed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from pulse_ray.shop.encoder import MODEL_NAME, Encoder
from pulse_ray.shop.personas import AXES, PERSONAS, Axis

__all__ = [
    "PersonaSpace",
    "ProductFields",
    "TAGGER",
    "category_facets",
    "price_tier",
    "product_text",
    "tag",
]

TAGGER = f"{MODEL_NAME}/personas-1"
_TEMPERATURE = 0.04
_PRICE_TIERS: tuple[tuple[float, str], ...] = (
    (40.0, "budget"), (120.0, "mid"), (300.0, "premium"), (math.inf, "luxury"),
)
# How sensitive to price a shopper of each tier's products is.
_TIER_SENSITIVITY = {"budget": 1.0, "mid": 0.6, "premium": 0.25, "luxury": 0.0}
_LEVEL_VALUE = {"low": 0.0, "medium": 0.5, "high": 1.0,
                "browsing": 0.0, "exploring": 0.5, "active": 1.0}
_LEVELS: dict[Axis, tuple[str, str, str]] = {
    "price_sensitivity": ("low", "medium", "high"),
    "brand_loyalty": ("low", "medium", "high"),
    "social_proof_reliance": ("low", "medium", "high"),
    "purchase_intent": ("browsing", "exploring", "active"),
}
# persona x axis: each persona's level as a number in [0, 1]
_PERSONA_LEVELS = np.array(
    [[_LEVEL_VALUE[p.attributes[axis]] for axis in AXES] for p in PERSONAS], dtype=np.float32)


@dataclass(frozen=True, slots=True)
class ProductFields:
    """What tagging reads of a product."""

    name: str
    description: str | None
    price: float
    category: str
    rating: float | None = None


def product_text(product: ProductFields) -> str:
    """The text the model embeds: the category path reads as words."""
    category = product.category.replace("/", " ").replace("_", " ").replace("-", " ")
    return f"{product.name}. {category}. {product.description or ''}".strip()


def price_tier(price: float) -> str:
    return next(tier for bound, tier in _PRICE_TIERS if price < bound)


def category_facets(category: str) -> list[str]:
    """``footwear/running`` → ``["footwear", "footwear/running"]``: every level, so a
    filter on a parent category matches its children."""
    parts = [p for p in category.split("/") if p]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


class PersonaSpace:
    """The personas' embeddings, computed once per encoder."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors  # (personas, dimensions), normalised

    @classmethod
    async def build(cls, encoder: Encoder) -> PersonaSpace:
        return cls(await encoder.encode([p.description for p in PERSONAS]))

    def scores(self, vectors: np.ndarray) -> np.ndarray:
        """(n, personas) softmax of the cosine similarities: how well each suits."""
        logits = vectors @ self.vectors.T / _TEMPERATURE
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def _level(axis: Axis, value: float) -> str:
    low, medium, high = _LEVELS[axis]
    return low if value < 0.35 else medium if value < 0.65 else high


def tag(product: ProductFields, persona_scores: np.ndarray) -> dict[str, Any]:
    """The tags of one product from its row of :meth:`PersonaSpace.scores`."""
    tier = price_tier(product.price)
    axis_values = dict(zip(AXES, (persona_scores @ _PERSONA_LEVELS).tolist(), strict=True))
    axis_values["price_sensitivity"] = (
        0.5 * axis_values["price_sensitivity"] + 0.5 * _TIER_SENSITIVITY[tier])
    if product.rating is not None:  # well-reviewed products are what social proof buys
        axis_values["social_proof_reliance"] = (
            0.7 * axis_values["social_proof_reliance"]
            + 0.3 * min(max((product.rating - 3.0) / 2.0, 0.0), 1.0))
    ranked = sorted(zip((p.name for p in PERSONAS), persona_scores.tolist(), strict=True),
                    key=lambda item: -item[1])
    return {
        "attributes": {axis: _level(axis, value) for axis, value in axis_values.items()},
        "attribute_scores": {axis: round(value, 4) for axis, value in axis_values.items()},
        "personas": [{"persona": name, "score": round(score, 4)} for name, score in ranked],
        "price_tier": tier,
        "facets": {"category": category_facets(product.category), "price_tier": tier},
        "model": TAGGER,
    }

"""The tagged catalog in memory, and recommendations ranked from it.

A ranking mixes four signals, each in [0, 1]-ish, with fixed weights:

* persona fit — the product's persona scores weighted by the shopper's persona
  probabilities (so a 60/40 shopper sees a 60/40 mix);
* the search query's cosine similarity to the product's embedding;
* similarity to the products the shopper viewed (their mean embedding);
* the product's rating, the social proof shoppers lean on;
* its purchases (conversions recorded for it), on a log scale: what sells.

Filters are applied before ranking and viewed products removed, so no
recommendation ever breaks a filter or repeats what the shopper has seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pulse_ray.shop.filters import Filters
from pulse_ray.shop.personas import PERSONA_NAMES

__all__ = ["Catalog", "CatalogItem", "Recommendation"]

_W_PERSONA, _W_QUERY, _W_VIEWED, _W_RATING, _W_SALES = 0.35, 0.25, 0.15, 0.10, 0.15


@dataclass(frozen=True, slots=True)
class CatalogItem:
    id: str
    price: float
    rating: float | None
    category: str
    embedding: np.ndarray  # (dimensions,) float32, normalised
    personas: dict[str, float]  # persona name -> score (the product's tags)
    purchases: int = 0


@dataclass(frozen=True, slots=True)
class Recommendation:
    product_ids: list[str]
    scores: list[float]


class Catalog:
    """Column arrays over an account's tagged products, built once per refresh."""

    def __init__(self, items: Sequence[CatalogItem]) -> None:
        self.ids = [item.id for item in items]
        self.index = {item_id: row for row, item_id in enumerate(self.ids)}
        self.prices = np.array([item.price for item in items], dtype=np.float64)
        self.ratings = np.array([np.nan if item.rating is None else item.rating
                                 for item in items], dtype=np.float64)
        self.categories = np.array([item.category for item in items], dtype=str)
        self.vectors = (np.stack([item.embedding for item in items]) if items
                        else np.zeros((0, 0), dtype=np.float32))
        self.personas = np.array(
            [[item.personas.get(name, 0.0) for name in PERSONA_NAMES] for item in items],
            dtype=np.float32).reshape(-1, len(PERSONA_NAMES))
        self._rating_score = np.nan_to_num((self.ratings - 1.0) / 4.0, nan=0.5)
        sales = np.log1p(np.array([item.purchases for item in items], dtype=np.float64))
        self._sales_score = sales / max(float(sales.max()) if items else 0.0, 1.0)

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, product_ids: Sequence[str]) -> list[int]:
        """Rows of the ids the catalog has (unknown ids are skipped)."""
        return [self.index[p] for p in product_ids if p in self.index]

    def recommend(self, *, persona: np.ndarray, query: np.ndarray | None,
                  viewed: Sequence[str], filters: Filters, k: int) -> Recommendation:
        """The top ``k`` products for a shopper.

        Args:
            persona: the shopper's probability per persona (PERSONA_NAMES order).
            query: the search query's embedding, if there is one.
        """
        if not self.ids:
            return Recommendation([], [])
        keep = filters.mask(self.prices, self.ratings, self.categories)
        viewed_rows = self.rows(viewed)
        keep[viewed_rows] = False
        candidates = np.flatnonzero(keep)
        if candidates.size == 0:
            return Recommendation([], [])
        fit = self.personas[candidates] @ persona.astype(np.float32)
        score = _W_PERSONA * fit / max(float(fit.max()), 1e-6)
        probes, weights = [], []
        if query is not None:
            probes.append(query)
            weights.append(_W_QUERY)
        if viewed_rows:
            centre = self.vectors[viewed_rows].mean(axis=0)
            probes.append(centre / max(float(np.linalg.norm(centre)), 1e-6))
            weights.append(_W_VIEWED)
        if probes:
            # One pass over the whole matrix for both, then the candidates picked:
            # cheaper than copying the candidates' rows out of it.
            similarity = (self.vectors @ np.stack(probes, axis=1))[candidates]
            score += np.clip(similarity, 0.0, 1.0) @ np.array(weights, dtype=np.float32)
        score += _W_RATING * self._rating_score[candidates]
        score += _W_SALES * self._sales_score[candidates]
        top = np.argsort(-score, kind="stable")[:k]  # k is small: a full sort is ~0.3 ms
        return Recommendation([self.ids[candidates[i]] for i in top],
                              [round(float(min(score[i], 1.0)), 4) for i in top])

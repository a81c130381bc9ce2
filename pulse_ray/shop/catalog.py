"""The tagged catalog in memory, and recommendations ranked from it.

A ranking mixes four signals, each in [0, 1]-ish, with fixed weights:

* persona fit — the product's persona scores weighted by the shopper's persona
  probabilities (so a 60/40 shopper sees a 60/40 mix);
* the search query's cosine similarity to the product's embedding;
* the cosine similarity to the products the shopper viewed (their mean embedding);
* the product's rating, the social proof shoppers lean on;
* its purchases (conversions recorded for it), on a log scale: what sells.

Filters are applied before ranking and viewed products removed, so no
recommendation ever breaks a filter or repeats what the shopper has seen.

The two similarities are each a pass over the whole embedding matrix (5,000 x 384
floats are 7.7 MB, which no CPU cache holds, so the pass costs the memory's time:
~0.25 ms alone, several times that on a busy machine — the largest cost of a shop
inference in the ingress). Both are kept per catalog instead: a search query's
similarity to every product, and each viewed product's; the viewed term is their mean
(the similarity to the viewed products' mean embedding, by linearity). Queries repeat
and shoppers view the popular products, so a request mostly adds a few kept rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pulse_ray.cache import BoundedCache
from pulse_ray.shop.filters import Filters
from pulse_ray.shop.personas import PERSONA_NAMES

__all__ = ["Catalog", "CatalogItem", "Recommendation", "Shortlist"]

_W_PERSONA, _W_QUERY, _W_VIEWED, _W_RATING, _W_SALES = 0.35, 0.25, 0.15, 0.10, 0.15
# The similarity rows one catalog keeps (4 bytes a product each): 1,677 rows of a
# 5,000-product catalog.
_SIMILARITY_CACHE_BYTES = 32 * 2**20


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
class Shortlist:
    candidates: np.ndarray  # catalog rows that pass the filters and were not viewed
    score: np.ndarray  # their score so far, without the persona term


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
        # Similarity to every product, by query embedding (bytes) or viewed product (row).
        self._similarity: BoundedCache[bytes | int, np.ndarray] = BoundedCache(
            _SIMILARITY_CACHE_BYTES // max(4 * len(items), 1))

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, product_ids: Sequence[str]) -> list[int]:
        """Rows of the ids the catalog has (unknown ids are skipped)."""
        return [self.index[p] for p in product_ids if p in self.index]

    def shortlist(self, *, query: np.ndarray | None, viewed: Sequence[str],
                  filters: Filters) -> Shortlist:
        """The products a shopper may be shown, with what their ranking owes to
        everything but the persona (the caller works this out while the persona model
        answers).

        Args:
            query: the search query's embedding, if there is one.
        """
        keep = filters.mask(self.prices, self.ratings, self.categories)
        viewed_rows = self.rows(viewed)
        keep[viewed_rows] = False
        candidates = np.flatnonzero(keep)
        score = (_W_RATING * self._rating_score[candidates]
                 + _W_SALES * self._sales_score[candidates])
        if candidates.size == 0 or (query is None and not viewed_rows):
            return Shortlist(candidates, score)
        similarity = np.zeros(len(self.ids), dtype=np.float32)
        if query is not None:
            similarity += _W_QUERY * self._similarities([query.tobytes()], query[None, :])[0]
        if viewed_rows:
            # The cosine to the viewed products' mean embedding: the mean of their
            # similarities over that mean's norm.
            centre = float(np.linalg.norm(self.vectors[viewed_rows].mean(axis=0)))
            similarity += (_W_VIEWED / max(centre, 1e-6)) * self._similarities(
                viewed_rows, self.vectors[viewed_rows]).mean(axis=0)
        score += similarity[candidates]
        return Shortlist(candidates, score)

    def _similarities(self, keys: Sequence[bytes | int], probes: np.ndarray) -> np.ndarray:
        """Every product's similarity to each of ``probes`` (one row each, named by
        ``keys``): the kept rows, and those missing from one pass over the matrix."""
        rows = [self._similarity.get(key) for key in keys]
        missing = [i for i, row in enumerate(rows) if row is None]
        if missing:
            fresh = (self.vectors @ probes[missing].T).T
            for i, row in zip(missing, fresh, strict=True):
                rows[i] = row
                self._similarity.put(keys[i], row)
        return np.stack(rows)  # type: ignore[arg-type]  # every None was filled

    def rank(self, shortlist: Shortlist, *, persona: np.ndarray, k: int) -> Recommendation:
        """The top ``k`` of a shortlist for the shopper's probability per persona
        (PERSONA_NAMES order)."""
        candidates = shortlist.candidates
        if candidates.size == 0:
            return Recommendation([], [])
        fit = self.personas[candidates] @ persona.astype(np.float32)
        score = shortlist.score + _W_PERSONA * fit / max(float(fit.max()), 1e-6)
        top = np.argpartition(-score, k)[:k] if candidates.size > k else np.arange(score.size)
        top = top[np.argsort(-score[top], kind="stable")]
        # Whole arrays to Python at once: a numpy scalar per item costs ~10 us each.
        return Recommendation([self.ids[row] for row in candidates[top].tolist()],
                              [round(x, 4) for x in np.clip(score[top], 0.0, 1.0).tolist()])

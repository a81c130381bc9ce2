"""Shopper filters (seed 002: ``price:0-100``, ``rating:4+``, ``category:…``).

Grammar, one filter per string:

* ``price:MIN-MAX`` (inclusive), ``price:MIN+``, ``price:-MAX``
* ``rating:MIN+`` (0 to 5)
* ``category:PATH`` — the category or any below it (``footwear`` matches
  ``footwear/running``); several category filters mean any of them.

Anything else is refused, naming the filter, rather than ignored: a shop that sends
``colour:red`` must learn that it is not applied.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the wire schemas (and so the SDK) check filters without numpy
    import numpy as np

__all__ = ["Filters", "check_filter", "parse_filters"]

_NUMBER = r"(\d+(?:\.\d+)?)"
_PRICE_RANGE = re.compile(rf"^price:{_NUMBER}-{_NUMBER}$")
_PRICE_MIN = re.compile(rf"^price:{_NUMBER}\+$")
_PRICE_MAX = re.compile(rf"^price:-{_NUMBER}$")
_RATING_MIN = re.compile(rf"^rating:{_NUMBER}\+$")
_CATEGORY = re.compile(r"^category:([a-z0-9][a-z0-9_\-/ ]{0,254})$")
_SYNTAX = "use price:MIN-MAX, price:MIN+, price:-MAX, rating:MIN+ or category:PATH"


@dataclass(frozen=True, slots=True)
class Filters:
    price_min: float | None = None
    price_max: float | None = None
    rating_min: float | None = None
    categories: tuple[str, ...] = ()

    def admits(self, price: float, rating: float | None, category: str) -> bool:
        """Whether one product passes (the reference the vectorised mask must match)."""
        return (
            (self.price_min is None or price >= self.price_min)
            and (self.price_max is None or price <= self.price_max)
            and (self.rating_min is None or (rating is not None and rating >= self.rating_min))
            and (not self.categories or any(
                category == c or category.startswith(c + "/") for c in self.categories))
        )

    def mask(self, prices: np.ndarray, ratings: np.ndarray, categories: np.ndarray) -> np.ndarray:
        """:meth:`admits` over a catalog's columns (ratings NaN where unknown)."""
        import numpy as np

        keep = np.ones(len(prices), dtype=bool)
        if self.price_min is not None:
            keep &= prices >= self.price_min
        if self.price_max is not None:
            keep &= prices <= self.price_max
        if self.rating_min is not None:
            keep &= np.nan_to_num(ratings, nan=-1.0) >= self.rating_min
        if self.categories:
            wanted = np.zeros(len(prices), dtype=bool)
            for category in self.categories:
                wanted |= (categories == category) | np.char.startswith(categories, category + "/")
            keep &= wanted
        return keep


def check_filter(text: str) -> str:
    """One filter, checked (pydantic calls this per list item, so a 400 names it).

    Raises:
        ValueError: unknown syntax or an impossible value.
    """
    _apply(Filters(), text)
    return text


def parse_filters(texts: list[str]) -> Filters:
    """All filters of a session, combined (each narrows the last).

    Raises:
        ValueError: a filter's syntax, or filters that admit nothing together.
    """
    filters = Filters()
    for text in texts:
        filters = _apply(filters, text)
    low, high = filters.price_min, filters.price_max
    if low is not None and high is not None and low > high:
        raise ValueError(f"the price filters admit nothing (min {low:g} > max {high:g})")
    return filters


def _apply(filters: Filters, text: str) -> Filters:
    value = text.strip().lower()
    if match := _PRICE_RANGE.match(value):
        low, high = float(match[1]), float(match[2])
        if low > high:
            raise ValueError(f"'{text}': the minimum price is above the maximum")
        return _narrow_price(filters, low, high)
    if match := _PRICE_MIN.match(value):
        return _narrow_price(filters, float(match[1]), None)
    if match := _PRICE_MAX.match(value):
        return _narrow_price(filters, None, float(match[1]))
    if match := _RATING_MIN.match(value):
        rating = float(match[1])
        if rating > 5:
            raise ValueError(f"'{text}': ratings go from 0 to 5")
        return Filters(filters.price_min, filters.price_max,
                       max(rating, filters.rating_min or 0.0), filters.categories)
    if match := _CATEGORY.match(value):
        return Filters(filters.price_min, filters.price_max, filters.rating_min,
                       (*filters.categories, match[1].strip("/ ")))
    raise ValueError(f"unknown filter '{text}': {_SYNTAX}")


def _narrow_price(filters: Filters, low: float | None, high: float | None) -> Filters:
    new_low = max(x for x in (low, filters.price_min, -math.inf) if x is not None)
    new_high = min(x for x in (high, filters.price_max, math.inf) if x is not None)
    return Filters(None if new_low == -math.inf else new_low,
                   None if new_high == math.inf else new_high,
                   filters.rating_min, filters.categories)

from __future__ import annotations

import numpy as np
import pytest

from pulse_ray.shop.filters import Filters, check_filter, parse_filters


def test_the_seed_filters_parse() -> None:
    assert parse_filters(["price:0-100", "rating:4+"]) == Filters(
        price_min=0, price_max=100, rating_min=4)
    assert parse_filters(["price:50+", "price:-80", "category:Footwear/Running/"]) == Filters(
        price_min=50, price_max=80, categories=("footwear/running",))


@pytest.mark.parametrize("text", ["colour:red", "price:abc", "price:10-", "rating:4",
                                  "rating:6+", "price:100-0", "category:", ""])
def test_unknown_or_impossible_filters_are_refused_by_name(text: str) -> None:
    with pytest.raises(ValueError, match="price|rating|unknown filter"):
        check_filter(text)


def test_filters_that_admit_nothing_together_are_refused() -> None:
    with pytest.raises(ValueError, match="admit nothing"):
        parse_filters(["price:100+", "price:0-50"])


def test_the_vectorised_mask_agrees_with_admits() -> None:
    rng = np.random.default_rng(1)
    prices = rng.uniform(0, 300, 500)
    ratings = np.where(rng.random(500) < 0.1, np.nan, rng.uniform(1, 5, 500))
    categories = rng.choice(["footwear", "footwear/running", "footwear-x", "bags"], 500)
    for filters in (parse_filters(["price:20-120", "rating:4+"]),
                    parse_filters(["category:footwear", "category:bags"]),
                    parse_filters(["price:-30"])):
        mask = filters.mask(prices, ratings, categories)
        expected = [filters.admits(p, None if np.isnan(r) else r, c)
                    for p, r, c in zip(prices, ratings, categories, strict=True)]
        assert mask.tolist() == expected
    # A parent category matches its children, never a sibling that shares a prefix.
    assert Filters(categories=("footwear",)).admits(1, None, "footwear/running")
    assert not Filters(categories=("footwear",)).admits(1, None, "footwear-x")

from __future__ import annotations

import numpy as np

from pulse_ray.shop.catalog import Catalog, CatalogItem, Recommendation
from pulse_ray.shop.filters import Filters, parse_filters
from pulse_ray.shop.personas import PERSONA_NAMES


def _unit(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=64).astype(np.float32)
    return v / np.linalg.norm(v)


def _catalog(n: int = 300) -> Catalog:
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        persona = PERSONA_NAMES[i % len(PERSONA_NAMES)]
        items.append(CatalogItem(
            id=f"prod_{i}", price=float(rng.uniform(5, 400)),
            rating=None if i % 17 == 0 else float(rng.uniform(2, 5)),
            category=["footwear/running", "bags", "gifts/sets"][i % 3], embedding=_unit(rng),
            personas={name: (0.9 if name == persona else 0.02) for name in PERSONA_NAMES},
            purchases=int(rng.integers(0, 5))))
    return Catalog(items)


def _recommend(catalog: Catalog, *, persona: np.ndarray, query: np.ndarray | None,
               viewed: list[str], filters: Filters, k: int) -> Recommendation:
    """What POST /v1/infer does: shortlist, then rank for the persona."""
    return catalog.rank(catalog.shortlist(query=query, viewed=viewed, filters=filters),
                        persona=persona, k=k)


def _persona(name: str) -> np.ndarray:
    return np.array([1.0 if n == name else 0.0 for n in PERSONA_NAMES], dtype=np.float32)


def test_recommendations_never_break_a_filter_nor_repeat_a_viewed_product() -> None:
    catalog = _catalog()
    filters = parse_filters(["price:0-100", "rating:4+", "category:footwear"])
    viewed = ["prod_0", "prod_3", "prod_6", "prod_9"]
    picked = _recommend(catalog, persona=_persona("deal_hunter"), query=None, viewed=viewed,
                               filters=filters, k=10)
    assert picked.product_ids
    for product_id in picked.product_ids:
        row = catalog.index[product_id]
        assert filters.admits(catalog.prices[row], catalog.ratings[row],
                              str(catalog.categories[row]))
        assert product_id not in viewed
    assert picked.scores == sorted(picked.scores, reverse=True)
    assert all(0 <= s <= 1 for s in picked.scores)


def test_the_shoppers_persona_and_query_move_the_ranking() -> None:
    catalog = _catalog()
    none = parse_filters([])
    for name in ("gift_shopper", "performance_athlete"):
        picked = _recommend(catalog, persona=_persona(name), query=None, viewed=[],
                            filters=none, k=10)
        suited = [catalog.personas[catalog.index[p]][PERSONA_NAMES.index(name)] > 0.5
                  for p in picked.product_ids]
        assert sum(suited) >= 8
    target = catalog.vectors[catalog.index["prod_42"]]
    picked = _recommend(catalog, persona=np.full(len(PERSONA_NAMES), 1 / 6), query=target,
                               viewed=[], filters=none, k=3)
    assert picked.product_ids[0] == "prod_42"


def test_an_empty_catalog_or_an_impossible_filter_recommends_nothing() -> None:
    query = np.full(384, 384 ** -0.5, dtype=np.float32)  # a search, on an empty catalog
    empty = _recommend(Catalog([]), persona=_persona("deal_hunter"), query=query, viewed=[],
                       filters=parse_filters([]), k=5)
    assert empty.product_ids == []
    nothing = _recommend(_catalog(), persona=_persona("deal_hunter"), query=None, viewed=[],
                         filters=parse_filters(["price:10000+"]), k=5)
    assert nothing.product_ids == [] and nothing.scores == []


def test_a_search_within_narrow_filters_finds_its_product_first() -> None:
    catalog = _catalog()
    filters = parse_filters(["price:0-60", "category:bags"])  # well under a quarter left
    admitted = [p for p in catalog.ids if filters.admits(
        catalog.prices[catalog.index[p]], catalog.ratings[catalog.index[p]],
        str(catalog.categories[catalog.index[p]]))]
    assert 0 < len(admitted) * 4 < len(catalog)
    for target in admitted[:5]:
        picked = _recommend(catalog, persona=np.full(len(PERSONA_NAMES), 1 / 6),
                            query=catalog.vectors[catalog.index[target]], viewed=[],
                            filters=filters, k=3)
        assert picked.product_ids[0] == target


def test_kept_similarities_score_as_the_query_and_viewed_embeddings_do() -> None:
    """Scores from the kept similarity rows, first computed and then reused, are the
    cosines to the query and to the viewed products' mean embedding."""
    catalog = _catalog()
    rng = np.random.default_rng(3)
    query = _unit(rng)
    viewed = ["prod_1", "prod_5", "prod_5", "prod_8"]
    centre = catalog.vectors[[1, 5, 5, 8]].mean(axis=0)
    expected = (0.25 * catalog.vectors @ query
                + 0.15 * catalog.vectors @ (centre / np.linalg.norm(centre)))
    for _ in range(2):  # computed, then kept
        shortlist = catalog.shortlist(query=query, viewed=viewed, filters=parse_filters([]))
        base = shortlist.score - expected[shortlist.candidates]
        # What is left is the rating and sales terms, which depend on no embedding.
        alone = catalog.shortlist(query=None, viewed=[], filters=parse_filters([]))
        assert np.allclose(base, alone.score[shortlist.candidates], atol=1e-5)

"""The shop demo's sessions, and the shifted shop the closed-loop benchmark sends."""

from __future__ import annotations

from collections import Counter

import pytest

from pulse_ray.demo import shop as demo
from pulse_ray.shop.features import referrer_kind
from pulse_ray.shop.personas import PERSONA_NAMES

CATALOG = demo.catalog(600, seed=11)


def _shares(sessions: list[demo.DemoSession]) -> dict[str, float]:
    counts = Counter(s.persona for s in sessions)
    return {name: counts[name] / len(sessions) for name in PERSONA_NAMES}


def test_sessions_are_the_same_for_the_same_seed_and_follow_the_mix() -> None:
    first = demo.sessions(CATALOG, 3000, seed=7)
    assert first == demo.sessions(CATALOG, 3000, seed=7)
    for name, share in zip(PERSONA_NAMES, demo.PERSONA_MIX, strict=True):
        assert _shares(first)[name] == pytest.approx(share, abs=0.03)


def test_black_friday_gift_shoppers_shop_like_deal_hunters_but_buy_gifts() -> None:
    by_id = {p.id: p for p in CATALOG}
    before = [s for s in demo.sessions(CATALOG, 3000, seed=7) if s.persona == "gift_shopper"]
    during = demo.sessions(CATALOG, 3000, seed=7, shift=demo.BLACK_FRIDAY)
    for name, share in zip(PERSONA_NAMES, demo.BLACK_FRIDAY.mix, strict=True):
        assert _shares(during)[name] == pytest.approx(share, abs=0.03)
    gifts = [s for s in during if s.persona == "gift_shopper"]

    def deal_sites(sessions: list[demo.DemoSession]) -> float:
        return sum(referrer_kind(s.referrer) == "deals" for s in sessions) / len(sessions)

    def under_50(sessions: list[demo.DemoSession]) -> float:
        return sum("price:0-50" in s.filters for s in sessions) / len(sessions)

    assert deal_sites(before) == 0 and under_50(before) == 0
    assert deal_sites(gifts) > 0.2 and under_50(gifts) > 0.5
    bought = [by_id[s.purchased] for s in gifts if s.purchased]
    assert {p.persona for p in bought} == {"gift_shopper"}


def test_a_mix_that_is_not_one_share_per_persona_is_refused() -> None:
    with pytest.raises(ValueError, match="persona mix"):
        demo.sessions(CATALOG, 10, shift=demo.Shift(mix=(1.0, 0.0)))

from __future__ import annotations

from pathlib import Path

import pytest

from pulse_ray.plans import (
    DEFAULT_PLANS,
    Family,
    LimitOverrides,
    LimitSpec,
    Plan,
    effective_limit,
    load_plans,
)


def test_defaults_are_the_seeds_plans() -> None:
    free = DEFAULT_PLANS[Plan.FREE].for_family(Family.DEFAULT)
    assert free is not None and (free.requests, free.window_s, free.capacity) == (60, 60, 10)
    pro = DEFAULT_PLANS[Plan.PRO].for_family(Family.INFERENCE)
    assert pro is not None and (pro.requests, pro.capacity) == (600, 100)
    assert all(DEFAULT_PLANS[Plan.ENTERPRISE].for_family(f) is None for f in Family)
    starter, growth = DEFAULT_PLANS[Plan.STARTER], DEFAULT_PLANS[Plan.GROWTH]
    assert starter.for_family(Family.INFERENCE) == LimitSpec(requests=100, per="second")
    assert starter.for_family(Family.TAGGING) == LimitSpec(requests=10, per="second")
    assert growth.for_family(Family.INFERENCE) == LimitSpec(requests=500, per="second")
    assert growth.for_family(Family.TAGGING) == LimitSpec(requests=50, per="second")


def test_a_toml_file_changes_some_limits(tmp_path: Path) -> None:
    path = tmp_path / "plans.toml"
    path.write_text(
        '[plans.free]\ndefault = { requests = 120, per = "minute", burst = 20 }\n'
        '[plans.growth]\ntagging = "unlimited"\n'
    )
    plans = load_plans(path)
    assert plans[Plan.FREE].for_family(Family.DEFAULT) == LimitSpec(
        requests=120, per="minute", burst=20
    )
    assert plans[Plan.FREE].for_family(Family.INFERENCE) == DEFAULT_PLANS[
        Plan.FREE
    ].for_family(Family.INFERENCE)
    assert plans[Plan.GROWTH].for_family(Family.TAGGING) is None


def test_a_json_file_works_too(tmp_path: Path) -> None:
    path = tmp_path / "plans.json"
    path.write_text('{"plans": {"pro": {"inference": {"requests": 5, "per": "second"}}}}')
    assert load_plans(path)[Plan.PRO].for_family(Family.INFERENCE) == LimitSpec(
        requests=5, per="second"
    )


@pytest.mark.parametrize(
    "content",
    [
        '{"plans": {"platinum": {}}}',
        '{"plans": {"free": {"default": {"requests": 0}}}}',
        '{"plans": {"free": {"default": {"requests": 1, "per": "fortnight"}}}}',
        "{not json",
    ],
)
def test_a_bad_file_is_refused_with_its_name(tmp_path: Path, content: str) -> None:
    path = tmp_path / "plans.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="plans.json"):
        load_plans(path)


def test_key_overrides_win_per_family() -> None:
    plan = DEFAULT_PLANS[Plan.ENTERPRISE]
    own = LimitOverrides(inference=LimitSpec(requests=2000, per="second"))
    assert effective_limit(plan, own, Family.INFERENCE) == LimitSpec(requests=2000, per="second")
    assert effective_limit(plan, own, Family.TAGGING) is None
    capped = LimitOverrides(default="unlimited")
    assert effective_limit(DEFAULT_PLANS[Plan.FREE], capped, Family.DEFAULT) is None

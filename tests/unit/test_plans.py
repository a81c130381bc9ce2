from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from pulse_ray.errors import ValidationError
from pulse_ray.plans import (
    DEFAULT_PLANS,
    Budget,
    Family,
    FamilyLimits,
    Limits,
    LimitSpec,
    Plan,
    budget_for,
    dump_limits,
    effective_limits,
    load_plans,
    parse_limits,
)

FREE = LimitSpec(requests=60, per="minute", burst=10)
PRO = LimitSpec(requests=600, per="minute", burst=100)


def test_seed_000_plans_are_one_budget_per_key() -> None:
    assert DEFAULT_PLANS[Plan.FREE] == FREE
    assert DEFAULT_PLANS[Plan.PRO] == PRO
    assert DEFAULT_PLANS[Plan.ENTERPRISE] == "unlimited"


def test_seed_002_plans_are_per_family() -> None:
    starter, growth = DEFAULT_PLANS[Plan.STARTER], DEFAULT_PLANS[Plan.GROWTH]
    assert isinstance(starter, FamilyLimits) and isinstance(growth, FamilyLimits)
    assert starter.inference == LimitSpec(requests=100, per="second")
    assert starter.tagging == LimitSpec(requests=10, per="second")
    assert starter.default == PRO
    assert growth.inference == LimitSpec(requests=500, per="second")
    assert growth.tagging == LimitSpec(requests=50, per="second")
    assert growth.default == LimitSpec(requests=3000, per="minute", burst=500)


@pytest.mark.parametrize("family", list(Family))
def test_a_free_key_spends_one_budget_whatever_the_route(family: Family) -> None:
    budget = budget_for(Plan.FREE, FREE, None, family)
    assert budget == Budget("free", FREE, None)
    assert budget.bucket("key_1") == "key_1"


def test_a_starter_key_has_a_budget_per_family() -> None:
    starter = DEFAULT_PLANS[Plan.STARTER]
    budgets = {f: budget_for(Plan.STARTER, starter, None, f) for f in Family}
    assert {f: (b.name, b.bucket("key_1")) for f, b in budgets.items() if b} == {
        Family.INFERENCE: ("starter-inference", "key_1:inference"),
        Family.TAGGING: ("starter-tagging", "key_1:tagging"),
        Family.DEFAULT: ("starter-default", "key_1:default"),
    }
    assert budgets[Family.TAGGING].limit == LimitSpec(requests=10, per="second")  # type: ignore[union-attr]


def test_unlimited_is_no_budget_at_all() -> None:
    assert all(budget_for(Plan.ENTERPRISE, "unlimited", None, f) is None for f in Family)
    growth = FamilyLimits(inference="unlimited", tagging=PRO)
    assert budget_for(Plan.GROWTH, growth, None, Family.INFERENCE) is None
    assert budget_for(Plan.GROWTH, growth, None, Family.DEFAULT) is None  # left out


def test_a_keys_own_budget_replaces_the_plans() -> None:
    own = LimitSpec(requests=6000, per="minute", burst=500)
    starter = DEFAULT_PLANS[Plan.STARTER]
    for family in Family:
        assert budget_for(Plan.STARTER, starter, own, family) == Budget("custom", own, None)
    assert budget_for(Plan.FREE, FREE, "unlimited", Family.DEFAULT) is None


def test_a_keys_own_family_limits_replace_only_the_families_they_name() -> None:
    fast = LimitSpec(requests=2000, per="second")
    own = FamilyLimits(inference=fast)
    assert budget_for(Plan.ENTERPRISE, "unlimited", own, Family.INFERENCE) == Budget(
        "custom-inference", fast, Family.INFERENCE
    )
    assert budget_for(Plan.ENTERPRISE, "unlimited", own, Family.TAGGING) is None
    starter = DEFAULT_PLANS[Plan.STARTER]
    assert budget_for(Plan.STARTER, starter, own, Family.TAGGING) == Budget(
        "starter-tagging", LimitSpec(requests=10, per="second"), Family.TAGGING
    )
    # Under a key-wide plan the families left out share the plan's one budget: naming
    # one family never hands the others a budget each.
    shared = Budget("free", FREE, None)
    assert budget_for(Plan.FREE, FREE, own, Family.TAGGING) == shared
    assert budget_for(Plan.FREE, FREE, own, Family.DEFAULT) == shared


def test_effective_limits_keep_the_plans_shape() -> None:
    assert effective_limits(Plan.FREE, FREE, None) == FREE
    assert effective_limits(Plan.ENTERPRISE, "unlimited", None) == "unlimited"
    assert effective_limits(Plan.STARTER, DEFAULT_PLANS[Plan.STARTER], None) == DEFAULT_PLANS[
        Plan.STARTER
    ]
    own = FamilyLimits(inference=LimitSpec(requests=5, per="second"))
    assert effective_limits(Plan.ENTERPRISE, "unlimited", own) == FamilyLimits(
        inference=LimitSpec(requests=5, per="second"), tagging="unlimited", default="unlimited"
    )


def test_a_toml_file_changes_some_limits(tmp_path: Path) -> None:
    path = tmp_path / "plans.toml"
    path.write_text(
        '[plans.free]\nrequests = 120\nper = "minute"\nburst = 20\n'
        '[plans.growth]\ntagging = "unlimited"\n'
    )
    plans = load_plans(path)
    assert plans[Plan.FREE] == LimitSpec(requests=120, per="minute", burst=20)
    growth = plans[Plan.GROWTH]
    assert isinstance(growth, FamilyLimits) and growth.tagging == "unlimited"
    assert growth.inference == LimitSpec(requests=500, per="second")  # kept
    assert plans[Plan.PRO] == PRO


def test_a_json_file_can_switch_shapes(tmp_path: Path) -> None:
    path = tmp_path / "plans.json"
    path.write_text(
        '{"plans": {"starter": {"requests": 50, "per": "second"}, "enterprise": '
        '{"inference": {"requests": 5, "per": "second"}}, "pro": {"inference": "unlimited", '
        '"tagging": {"requests": 1, "per": "second"}, "default": "unlimited"}}}'
    )
    plans = load_plans(path)
    assert plans[Plan.STARTER] == LimitSpec(requests=50, per="second")
    assert plans[Plan.ENTERPRISE] == FamilyLimits(inference=LimitSpec(requests=5, per="second"))
    assert budget_for(Plan.ENTERPRISE, plans[Plan.ENTERPRISE], None, Family.DEFAULT) is None
    assert plans[Plan.PRO] == FamilyLimits(
        inference="unlimited", tagging=LimitSpec(requests=1, per="second"), default="unlimited"
    )


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ('{"plans": {"platinum": {}}}', "plans.platinum: Input should be 'free'"),
        ('{"plans": {"free": {"requests": 0}}}', "plans.free.requests"),
        ('{"plans": {"free": {"requests": 1, "per": "fortnight"}}}', "plans.free.per"),
        ('{"plans": {"growth": {"tagging": {"requests": 0}}}}', "plans.growth.tagging.requests"),
        ('{"plans": {"free": {"requests": 1, "inference": "unlimited"}}}', "not both"),
        ('{"plans": {"free": "lots"}}', '"unlimited"'),
        ('{"plans": {"free": {"inference": {"requests": 5}}}}', "missing: tagging, default"),
        ("{not json", "plans.json"),
    ],
)
def test_a_bad_file_is_refused_with_its_name(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "plans.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="plans.json") as info:
        load_plans(path)
    assert says in str(info.value)


class _Body(BaseModel):
    limits: Limits


@pytest.mark.parametrize(
    ("limits", "field", "says"),
    [
        ({"requests": 0}, "limits.requests", "greater than 0"),
        ({"inference": {"requests": 5, "per": "day"}}, "limits.inference.per", "'second'"),
        ({"inference": "lots"}, "limits.inference", '"unlimited"'),
        ({"requests": 5, "tagging": "unlimited"}, "limits", "not both"),
        ({"everything": 5}, "limits", "limits per family"),
        ({"requests": 5, "bursts": 9}, "limits.bursts", "not a recognised field"),
        (42, "limits", '"unlimited"'),
    ],
)
def test_bad_limits_name_the_field_once(limits: object, field: str, says: str) -> None:
    with pytest.raises(PydanticValidationError) as info:
        _Body.model_validate({"limits": limits})
    [detail] = ValidationError.from_pydantic(info.value.errors()).details
    assert detail.field == field and says in detail.message


def test_limits_round_trip_through_their_stored_form() -> None:
    for limits in (FREE, "unlimited", FamilyLimits(inference=PRO, tagging="unlimited")):
        assert parse_limits(dump_limits(limits)) == limits
    assert dump_limits(FamilyLimits(tagging="unlimited")) == {"tagging": "unlimited"}
    # Rows written before key-wide budgets existed stored every family, null for "plan's".
    old = {"inference": {"requests": 2000, "per": "second", "burst": None},
           "tagging": None, "default": None}
    assert parse_limits(old) == FamilyLimits(inference=LimitSpec(requests=2000, per="second"))

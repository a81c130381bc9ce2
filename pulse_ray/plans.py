"""Plans and their rate limits: one budget for the whole key, or one per API family.

The seeds sell two kinds of plan. Seed 000 limits *all* requests of a key together —
free 60/min burst 10, pro 600/min burst 100, enterprise unlimited or custom — so those
plans are one budget per key, whatever mix of routes spends it. Seed 002 limits its two
API families separately — starter 100/s inference and 10/s tagging, growth 500/s and
50/s — so those plans give each family (``inference``, ``tagging``, and ``default``
for everything else, which that seed leaves out: pro's and 5x pro's limits) a budget of
its own, and heavy tagging never eats a key's inference budget.

A plan's :data:`Limits` is therefore one of:

* a :class:`LimitSpec` — one token bucket for every request of the key;
* ``"unlimited"``;
* :class:`FamilyLimits` — a limit (or ``"unlimited"``) per family.

The defaults can be changed with a TOML or JSON file (``PULSE_PLANS_FILE``)::

    [plans.free]                 # one budget for the key
    requests = 120
    per = "minute"
    burst = 20
    [plans.growth]               # only the families named change
    tagging = "unlimited"

An enterprise key can carry its own limits in either shape. A key-wide budget replaces
the plan's; limits per family replace the plan's for the families they name, and the
families they leave out keep the plan's limits (under a key-wide plan, its one budget).
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from pulse_ray.errors import ValidationError as PulseValidationError

__all__ = [
    "DEFAULT_PLANS",
    "Budget",
    "Family",
    "FamilyLimits",
    "Limit",
    "LimitSpec",
    "Limits",
    "Plan",
    "Unlimited",
    "budget_for",
    "dump_limits",
    "effective_limits",
    "load_plans",
    "parse_limits",
]


class Plan(StrEnum):
    """Seed 000 sells free / pro / enterprise, seed 002 starter / growth / enterprise."""

    FREE = "free"
    PRO = "pro"
    ENTERPRISE = "enterprise"
    STARTER = "starter"
    GROWTH = "growth"


class Family(StrEnum):
    """Groups of routes that a per-family plan limits separately."""

    INFERENCE = "inference"
    TAGGING = "tagging"
    DEFAULT = "default"


_SECONDS = {"second": 1, "minute": 60, "hour": 3600}

Unlimited = Literal["unlimited"]


class LimitSpec(BaseModel):
    """``requests`` per ``per``, with bursts of up to ``burst`` (a token bucket)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests: int = Field(gt=0, description="Sustained requests per period.")
    per: Literal["second", "minute", "hour"] = "minute"
    burst: int | None = Field(
        default=None, gt=0, description="Bucket size: requests allowed at once (default: requests)."
    )

    @property
    def window_s(self) -> int:
        return _SECONDS[self.per]

    @property
    def rate(self) -> float:
        """Tokens added per second."""
        return self.requests / self.window_s

    @property
    def capacity(self) -> int:
        return self.burst or self.requests

    def describe(self) -> str:
        return f"{self.requests}/{self.per} (burst {self.capacity})"


_BUDGET_FIELDS = frozenset(LimitSpec.model_fields)
_FAMILY_FIELDS = frozenset(f.value for f in Family)
_SHAPES = (
    'one budget for the key, e.g. {"requests": 60, "per": "minute", "burst": 10}; '
    '"unlimited"; or limits per family (inference, tagging, default)'
)


def _one_limit(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # Dispatches on the input's shape instead of trying each member of the union, so a
    # mistake is reported once, at its own field (`limits.inference.requests`), rather
    # than once per member under pydantic's member names. (A ValidationError raised in
    # a validator keeps its own locations under the field's: pinned by test_plans.)
    if value == "unlimited" or isinstance(value, LimitSpec):
        return value
    if isinstance(value, Mapping):
        return LimitSpec.model_validate(value)
    raise PydanticCustomError(
        "limit", 'must be "unlimited" or a limit such as {"requests": 100, "per": "second"}'
    )


Limit = Annotated[LimitSpec | Unlimited, WrapValidator(_one_limit)]
"""One budget: a token bucket, or none at all."""


class FamilyLimits(BaseModel):
    """A limit per API family, each family its own budget.

    A family left out (None) is unlimited in a plan; in a change laid over a plan (a
    key's own limits, an entry of the plans file) it keeps the plan's limit.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    inference: Limit | None = Field(default=None, description="/v1/infer and /v1/infer/{model}.")
    tagging: Limit | None = Field(default=None, description="/v1/products/tag.")
    default: Limit | None = Field(default=None, description="Every other route.")

    def for_family(self, family: Family) -> Limit | None:
        value: Limit | None = getattr(self, family.value)
        return value

    def named(self) -> dict[str, Limit]:
        """The families this names, by name."""
        return {f.value: v for f in Family if (v := self.for_family(f)) is not None}


def _limits(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    if isinstance(value, FamilyLimits):
        return value
    if not isinstance(value, Mapping):
        return _one_limit(value, handler)
    keys = set(value)
    if keys & _BUDGET_FIELDS and keys & _FAMILY_FIELDS:
        raise PydanticCustomError(
            "limits_shape",
            "give either one budget for the key (requests, per, burst) or limits per "
            "family (inference, tagging, default), not both",
        )
    if keys & _BUDGET_FIELDS:
        return LimitSpec.model_validate(value)
    if keys and not keys & _FAMILY_FIELDS:
        raise PydanticCustomError("limits_shape", f"must be {_SHAPES}")
    return FamilyLimits.model_validate(value)


Limits = Annotated[LimitSpec | Unlimited | FamilyLimits, WrapValidator(_limits)]
"""A plan's (or a key's own) limits: one budget for the key, or one per family."""

_LIMITS: TypeAdapter[Limits] = TypeAdapter(Limits)


def parse_limits(raw: Any) -> Limits:
    """Limits from their JSON form (as stored with a key)."""
    return _LIMITS.validate_python(raw)


def dump_limits(limits: Limits) -> Any:
    """The JSON form of ``limits``, leaving out what was not given."""
    return _LIMITS.dump_python(limits, mode="json", exclude_none=True)


_PRO = LimitSpec(requests=600, per="minute", burst=100)

DEFAULT_PLANS: dict[Plan, Limits] = {
    Plan.FREE: LimitSpec(requests=60, per="minute", burst=10),
    Plan.PRO: _PRO,
    Plan.ENTERPRISE: "unlimited",
    Plan.STARTER: FamilyLimits(
        inference=LimitSpec(requests=100, per="second"),
        tagging=LimitSpec(requests=10, per="second"),
        default=_PRO,
    ),
    Plan.GROWTH: FamilyLimits(
        inference=LimitSpec(requests=500, per="second"),
        tagging=LimitSpec(requests=50, per="second"),
        default=LimitSpec(requests=3000, per="minute", burst=500),
    ),
}


class _PlansFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plans: dict[Plan, Limits]


def _lay_over(plan: Plan, base: Limits, change: Limits) -> Limits:
    if not isinstance(change, FamilyLimits):
        return change
    if isinstance(base, FamilyLimits):
        return FamilyLimits.model_validate({**base.named(), **change.named()})
    missing = [f.value for f in Family if change.for_family(f) is None]
    if isinstance(base, LimitSpec) and missing:
        # Filling them with the plan's one budget would give each family that whole
        # budget: the multiplied limit this shape exists to prevent.
        raise ValueError(
            f"plans.{plan.value}: {plan.value} is one budget for the whole key; limits "
            f"per family must name every family (missing: {', '.join(missing)}), or give "
            "one budget (requests, per, burst)"
        )
    return change


def load_plans(path: Path | None) -> dict[Plan, Limits]:
    """The default plans, with what ``path`` (TOML or JSON) changes laid over them.

    An entry that is one budget (or ``"unlimited"``) replaces the plan's limits; an
    entry per family changes the families it names.

    Raises:
        ValueError: the file cannot be read or does not describe plans; the message
            names the file and the bad entry.
    """
    plans = dict(DEFAULT_PLANS)
    if path is None:
        return plans
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
        changes = _PlansFile.model_validate(data).plans
        for plan, change in changes.items():
            plans[plan] = _lay_over(plan, plans[plan], change)
    except ValidationError as exc:
        details = PulseValidationError.from_pydantic(exc.errors()).details
        reasons = "; ".join(f"{d.field.removesuffix('.[key]')}: {d.message}" for d in details)
        raise ValueError(f"plans file {path}: {reasons}") from exc
    except (OSError, ValueError) as exc:
        raise ValueError(f"plans file {path}: {exc}") from exc
    return plans


@dataclass(frozen=True, slots=True)
class Budget:
    """The token bucket one request draws from."""

    name: str  # the policy name clients see: "free", "starter-inference", "custom", ...
    limit: LimitSpec
    family: Family | None  # None: one budget for every route of the key

    def bucket(self, key_id: str) -> str:
        """The bucket's id in the shared store."""
        return key_id if self.family is None else f"{key_id}:{self.family.value}"


def _budget(name: str, limit: Limit, family: Family | None) -> Budget | None:
    return None if isinstance(limit, str) else Budget(name, limit, family)


def budget_for(
    plan: Plan, limits: Limits, own: Limits | None, family: Family
) -> Budget | None:
    """The budget a request of ``family`` spends for a key on ``plan`` (whose limits
    are ``limits``) with its ``own`` limits, if any; None when it is unlimited."""
    if isinstance(own, FamilyLimits):
        mine = own.for_family(family)
        if mine is not None:
            return _budget(f"custom-{family.value}", mine, family)
    elif own is not None:
        return _budget("custom", own, None)
    if isinstance(limits, FamilyLimits):
        return _budget(f"{plan.value}-{family.value}", limits.for_family(family) or "unlimited",
                       family)
    return _budget(plan.value, limits, None)


def effective_limits(plan: Plan, limits: Limits, own: Limits | None) -> Limits:
    """The limits in force for a key, in the shape of :data:`Limits` (what whoami shows)."""
    budgets: dict[Family, Budget | None] = {f: budget_for(plan, limits, own, f) for f in Family}
    first = budgets[Family.DEFAULT]
    if all(b is None for b in budgets.values()):
        return "unlimited"
    if first is not None and first.family is None and all(b == first for b in budgets.values()):
        return first.limit
    return FamilyLimits.model_validate(
        {f.value: "unlimited" if b is None else b.limit for f, b in budgets.items()}
    )


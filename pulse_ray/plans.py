"""Plans and their rate limits, per API family.

The seeds sell two sets of plans: seed 000 limits all requests of a key
(free 60/min burst 10, pro 600/min burst 100, enterprise unlimited or custom), seed 002
limits inference and tagging separately (starter 100/s and 10/s, growth 500/s and
50/s). Here every plan has a limit per family — ``inference``, ``tagging`` and
``default`` (everything else) — each its own token bucket, so heavy tagging never eats
a key's inference budget. Seed 000's plans apply their one limit to each family; the
seed 002 plans' ``default`` family (which that seed leaves out) gets pro's and 5x
pro's limits.

The defaults can be changed with a TOML or JSON file (``PULSE_PLANS_FILE``)::

    [plans.free]
    default = { requests = 120, per = "minute", burst = 20 }
    [plans.growth]
    tagging = "unlimited"

An enterprise key can carry its own limits, which override its plan's per family.
"""

from __future__ import annotations

import json
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "DEFAULT_PLANS",
    "Family",
    "LimitOverrides",
    "LimitSpec",
    "Plan",
    "PlanLimits",
    "Unlimited",
    "effective_limit",
    "load_plans",
]


class Plan(StrEnum):
    """Seed 000 sells free / pro / enterprise, seed 002 starter / growth / enterprise."""

    FREE = "free"
    PRO = "pro"
    ENTERPRISE = "enterprise"
    STARTER = "starter"
    GROWTH = "growth"


class Family(StrEnum):
    """Groups of routes that are limited separately."""

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


FamilyLimit = LimitSpec | Unlimited


class PlanLimits(BaseModel):
    """One plan: a limit (or "unlimited") for each family."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inference: FamilyLimit = "unlimited"
    tagging: FamilyLimit = "unlimited"
    default: FamilyLimit = "unlimited"

    def for_family(self, family: Family) -> LimitSpec | None:
        value: FamilyLimit = getattr(self, family.value)
        return None if value == "unlimited" else value  # type: ignore[return-value]


class LimitOverrides(BaseModel):
    """An enterprise key's own limits; families left out keep the plan's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inference: FamilyLimit | None = None
    tagging: FamilyLimit | None = None
    default: FamilyLimit | None = None


def _same(spec: LimitSpec) -> PlanLimits:
    return PlanLimits(inference=spec, tagging=spec, default=spec)


_PRO = LimitSpec(requests=600, per="minute", burst=100)

DEFAULT_PLANS: dict[Plan, PlanLimits] = {
    Plan.FREE: _same(LimitSpec(requests=60, per="minute", burst=10)),
    Plan.PRO: _same(_PRO),
    Plan.ENTERPRISE: PlanLimits(),
    Plan.STARTER: PlanLimits(
        inference=LimitSpec(requests=100, per="second"),
        tagging=LimitSpec(requests=10, per="second"),
        default=_PRO,
    ),
    Plan.GROWTH: PlanLimits(
        inference=LimitSpec(requests=500, per="second"),
        tagging=LimitSpec(requests=50, per="second"),
        default=LimitSpec(requests=3000, per="minute", burst=500),
    ),
}


class _PlansFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plans: dict[Plan, LimitOverrides]


def load_plans(path: Path | None) -> dict[Plan, PlanLimits]:
    """The default plans, with what ``path`` (TOML or JSON) changes laid over them.

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
    except (OSError, ValueError, ValidationError) as exc:
        raise ValueError(f"plans file {path}: {exc}") from exc
    for plan, override in changes.items():
        plans[plan] = PlanLimits.model_validate(
            {**plans[plan].model_dump(), **override.model_dump(exclude_none=True)}
        )
    return plans


def effective_limit(
    plan: PlanLimits, overrides: LimitOverrides | None, family: Family
) -> LimitSpec | None:
    """The limit that applies to a key for ``family``; None when unlimited."""
    if overrides is not None:
        own: FamilyLimit | None = getattr(overrides, family.value)
        if own is not None:
            return None if own == "unlimited" else own  # type: ignore[return-value]
    return plan.for_family(family)


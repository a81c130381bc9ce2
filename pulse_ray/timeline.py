"""What was live when, the rules: a model's deploys and rollbacks made into periods,
each with why it began, and how the live outcomes (feedback) scored its predictions.
Pure: the store's rows come in as plain values."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = ["Change", "Outcomes", "Period", "Reason", "outcomes", "periods", "reason"]

Reason = Literal["manual", "training", "canary_promoted", "retrain_promoted", "rolled_back"]


@dataclass(frozen=True, slots=True)
class Change:
    """A deploy or rollback (a promotions row) and the deployed version's evaluation."""

    action: str  # deploy | rollback
    to_version: str
    at: datetime
    by_key: str | None
    by_run: str | None
    detail: str | None  # a rollout's end says why
    evaluation: dict[str, Any] | None  # the version's, when a retrain made it


def reason(change: Change) -> Reason:
    """Why the deployed version changed: a rollback; a retrain's version judged better
    (through its canary, or at once); a canary's promotion (its end gives a reason); a
    run's ``deploy`` option; else a person's deploy."""
    if change.action == "rollback":
        return "rolled_back"
    if change.evaluation is not None and change.evaluation.get("promoted") \
            and (change.by_run is not None or change.detail is not None):
        return "retrain_promoted"  # its canary's end, or deployed at once by the loop
    if change.detail is not None:
        return "canary_promoted"
    # a run's deploy carries the key that started the run too
    return "training" if change.by_run is not None else "manual"


@dataclass(frozen=True, slots=True)
class Period:
    version: str
    started_at: datetime
    ended_at: datetime | None  # None: live now
    change: Change


def periods(changes: Sequence[Change]) -> list[Period]:
    """``changes`` (oldest first) as the periods each version was live, oldest first."""
    ends: list[datetime | None] = [*(c.at for c in changes[1:]), None]
    return [Period(version=c.to_version, started_at=c.at, ended_at=end, change=c)
            for c, end in zip(changes, ends, strict=False)]


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Feedback on a period's predictions: how many, and how often the prediction was
    the outcome (a classifier) or how far from it (a regressor's mean absolute error)."""

    labelled: int
    scored: int  # those whose prediction was recorded
    accuracy: float | None
    mae: float | None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def outcomes(pairs: Sequence[tuple[Any, Any]], *, regression: bool) -> Outcomes:
    """``pairs`` of (prediction or None, label)."""
    scored = [(p, label) for p, label in pairs if p is not None]
    accuracy = mae = None
    if scored and regression:
        errors = [abs(float(p) - float(label)) for p, label in scored
                  if _number(p) and _number(label)]
        mae = round(math.fsum(errors) / len(errors), 6) if errors else None
    elif scored:
        accuracy = round(sum(p == label for p, label in scored) / len(scored), 6)
    return Outcomes(labelled=len(pairs), scored=len(scored), accuracy=accuracy, mae=mae)

"""Retraining policy, the rules: when a model's schedule fires, and whether a retrain is
due — a scheduled time (or, with ``on_drift``, a drift alert) since the last one, with
enough new labels to learn from. Pure: the clock and the counts are arguments.

A schedule is ``daily`` (00:00 UTC) or a five-field cron string (minute hour
day-of-month month day-of-week, UTC), read by croniter: ``*``, lists, ranges, ``/``
steps and names (``mon``, ``jan``) as in cron, where a day matching either restricted
day field fires.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from croniter import CroniterBadDateError, croniter

__all__ = ["HIGHER_IS_BETTER", "Due", "Evaluation", "Schedule", "due", "holdout_size",
           "judge", "parse_schedule"]

# The metrics a promotion margin can be measured on, by family: each one higher-better,
# so "better by the margin" means one thing.
HIGHER_IS_BETTER: dict[str, frozenset[str]] = {
    "tabular-classifier": frozenset({"accuracy", "precision", "recall", "f1_score",
                                     "roc_auc"}),
    "tabular-regressor": frozenset({"r2"}),
}
_FIELDS = ("minute", "hour", "day of month", "month", "day of week")


@dataclass(frozen=True, slots=True)
class Schedule:
    cron: str  # five fields

    def next_after(self, when: datetime) -> datetime:
        """The first time strictly after ``when`` that the schedule fires (UTC)."""
        fire: datetime = croniter(self.cron, when.astimezone(UTC)).get_next(datetime)
        return fire.astimezone(UTC)


def parse_schedule(text: str) -> Schedule:
    """Raises ValueError saying what is wrong with ``text``, naming the cron field."""
    cron = "0 0 * * *" if text.strip() == "daily" else text.strip()
    parts = cron.split()
    if len(parts) != 5:
        raise ValueError('must be "daily" or a cron string of five fields '
                         "(minute hour day-of-month month day-of-week)")
    for index, (part, name) in enumerate(zip(parts, _FIELDS, strict=True)):
        # Each field alone among stars: croniter's own error does not say which it is.
        probe = ["*"] * 5
        probe[index] = part
        if not croniter.is_valid(" ".join(probe)):
            raise ValueError(f"{name} '{part}' is not a valid cron field")
    if not croniter.is_valid(cron):
        raise ValueError(f"'{text}' is not a valid cron string")
    schedule = Schedule(cron=" ".join(parts))
    try:  # one that never fires (Feb 30) is refused here
        schedule.next_after(datetime(2000, 1, 1, tzinfo=UTC))
    except CroniterBadDateError:
        raise ValueError(f"'{text}' never fires") from None
    return schedule


@dataclass(frozen=True, slots=True)
class Due:
    """Whether a retrain is due now, and why (or why not)."""

    due: bool
    reason: Literal["schedule", "drift", "waiting", "labels"]
    next_scheduled_at: datetime


def due(*, schedule: Schedule, since: datetime, now: datetime, new_labels: int,
        min_new_labels: int, on_drift: bool, drifted_since: bool) -> Due:
    """Whether a retrain is due at ``now``.

    Args:
        since: when the last retrain started (else when the policy was set): scheduled
            times up to it are spent.
        new_labels: feedback recorded since then.
        drifted_since: a drift alert was raised since then.
    """
    fired = schedule.next_after(since)
    next_at = fired if fired > now else schedule.next_after(now)
    if fired > now and not (on_drift and drifted_since):
        return Due(False, "waiting", next_at)
    if new_labels < min_new_labels:
        return Due(False, "labels", next_at)
    return Due(True, "schedule" if fired <= now else "drift", next_at)


def holdout_size(labelled: int, *, fraction: float) -> int:
    """How many of ``labelled`` feedback rows, the latest, are held out: ``fraction`` of
    them, at least one while there are two (so something is left to train on)."""
    if labelled < 2:
        return 0
    return min(labelled - 1, max(1, round(labelled * fraction)))


@dataclass(frozen=True, slots=True)
class Evaluation:
    """A retrained version against the champion on the same holdout, and the verdict."""

    metric: str
    candidate: float
    champion: float | None  # None: nothing was deployed
    champion_version: str | None
    margin: float
    holdout_rows: int
    promoted: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def judge(*, metric: str, candidate: float, champion: float | None,
          champion_version: str | None, margin: float, holdout_rows: int) -> Evaluation:
    """Promoted when nothing is deployed, or the candidate beats the champion by
    ``margin`` (strictly better when the margin is 0). A figure that is not a number (an
    AUC on a one-class holdout) proves nothing: not promoted."""
    if champion is None:
        promoted = math.isfinite(candidate)
    elif not (math.isfinite(candidate) and math.isfinite(champion)):
        promoted = False
    else:
        gain = candidate - champion
        promoted = gain >= margin - 1e-12 if margin > 0 else gain > 0
    return Evaluation(metric=metric, candidate=candidate, champion=champion,
                      champion_version=champion_version, margin=margin,
                      holdout_rows=holdout_rows, promoted=promoted)

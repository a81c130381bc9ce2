"""Retraining policy, the rules: when a model's schedule fires, and whether a retrain is
due — a scheduled time (or, with ``on_drift``, a drift alert) since the last one, with
enough new labels to learn from. Pure: the clock and the counts are arguments.

A schedule is ``daily`` (00:00 UTC) or a five-field cron string (minute hour
day-of-month month day-of-week, UTC; ``*``, lists, ranges and ``/`` steps; day of week
0-6 from Sunday, 7 also Sunday). As in cron, when both day fields are restricted a day
matching either fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

__all__ = ["HIGHER_IS_BETTER", "Due", "Schedule", "due", "parse_schedule"]

# The metrics a promotion margin can be measured on, by family: each one higher-better,
# so "better by the margin" means one thing.
HIGHER_IS_BETTER: dict[str, frozenset[str]] = {
    "tabular-classifier": frozenset({"accuracy", "precision", "recall", "f1_score",
                                     "roc_auc"}),
    "tabular-regressor": frozenset({"r2"}),
}
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
           ("day of week", 0, 7))
_HORIZON_DAYS = 366 * 5  # a cron that cannot fire within it (Feb 30) is refused


@dataclass(frozen=True, slots=True)
class Schedule:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day: bool  # day of month was *
    any_weekday: bool  # day of week was *

    def _day_fires(self, day: datetime) -> bool:
        if day.month not in self.months:
            return False
        by_date = day.day in self.days
        by_weekday = (day.isoweekday() % 7) in self.weekdays
        if self.any_day or self.any_weekday:
            return by_date and by_weekday
        return by_date or by_weekday

    def next_after(self, when: datetime) -> datetime:
        """The first time strictly after ``when`` that the schedule fires."""
        start = (when + timedelta(minutes=1)).replace(second=0, microsecond=0)
        day = start.replace(hour=0, minute=0)
        for _ in range(_HORIZON_DAYS):
            if self._day_fires(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        fire = day.replace(hour=hour, minute=minute)
                        if fire >= start:
                            return fire
            day += timedelta(days=1)
        raise ValueError("the schedule never fires")


def _field(text: str, name: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            start, end = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            start, end = int(first), int(last)
        else:
            start = end = int(body)
            if step_text:
                end = high
        if step < 1 or not low <= start <= end <= high:
            raise ValueError(f"{name} '{part}' is out of {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_schedule(text: str) -> Schedule:
    """Raises ValueError saying what is wrong with ``text``."""
    fields = "0 0 * * *" if text.strip() == "daily" else text
    parts = fields.split()
    if len(parts) != 5:
        raise ValueError('must be "daily" or a cron string of five fields '
                         "(minute hour day-of-month month day-of-week)")
    try:
        sets = [_field(p, name, low, high)
                for p, (name, low, high) in zip(parts, _FIELDS, strict=True)]
    except ValueError as exc:
        if "invalid literal" in str(exc):
            raise ValueError(f"'{text}' is not a cron string of numbers, *, -, / and ,"
                             ) from None
        raise
    weekdays = frozenset(d % 7 for d in sets[4])
    schedule = Schedule(minutes=sets[0], hours=sets[1], days=sets[2], months=sets[3],
                        weekdays=weekdays, any_day=parts[2].startswith("*"),
                        any_weekday=parts[4].startswith("*"))
    schedule.next_after(datetime(2000, 1, 1))  # one that never fires is refused here
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

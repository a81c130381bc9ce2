"""The retraining policy's rules: schedules (daily, cron) and when a retrain is due, on
a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pulse_ray.retrain import due, parse_schedule

T0 = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)  # a Tuesday


def test_daily_fires_at_midnight_utc_and_cron_where_it_says() -> None:
    assert parse_schedule("daily").next_after(T0) == datetime(2026, 12, 2, tzinfo=UTC)
    assert parse_schedule("*/15 * * * *").next_after(T0) == T0 + timedelta(minutes=15)
    assert parse_schedule("0 3 * * 1-5").next_after(T0) == datetime(2026, 12, 2, 3,
                                                                    tzinfo=UTC)
    weekend = parse_schedule("0 6 * * 0,6").next_after(T0)
    assert weekend == datetime(2026, 12, 5, 6, tzinfo=UTC)  # Saturday
    assert parse_schedule("30 10 * * *").next_after(T0) == T0 + timedelta(days=1)  # strictly after
    # Both day fields restricted: either fires (cron's rule): the 15th, or a Sunday.
    assert parse_schedule("0 0 15 * 0").next_after(T0) == datetime(2026, 12, 6, tzinfo=UTC)


@pytest.mark.parametrize("text", ["weekly", "* * * *", "60 * * * *", "0 24 * * *",
                                  "0 0 30 2 *", "a b c d e", "*/0 * * * *"])
def test_a_bad_schedule_is_refused_saying_why(text: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_schedule(text)
    assert str(refused.value)


def test_a_retrain_is_due_when_the_schedule_fired_and_labels_are_enough() -> None:
    daily = parse_schedule("daily")
    since = T0 - timedelta(days=1)  # last retrain yesterday 10:30; midnight has passed
    common = {"schedule": daily, "since": since, "min_new_labels": 500, "on_drift": True}
    ready = due(now=T0, new_labels=500, drifted_since=False, **common)
    assert (ready.due, ready.reason) == (True, "schedule")
    assert ready.next_scheduled_at == datetime(2026, 12, 2, tzinfo=UTC)
    few = due(now=T0, new_labels=499, drifted_since=False, **common)
    assert (few.due, few.reason) == (False, "labels")
    fresh = {**common, "since": T0 - timedelta(hours=1)}  # midnight is spent already
    assert due(now=T0, new_labels=10_000, drifted_since=False, **fresh).reason == "waiting"
    drift = due(now=T0, new_labels=500, drifted_since=True, **fresh)
    assert (drift.due, drift.reason) == (True, "drift")
    ignored = due(now=T0, new_labels=500, drifted_since=True, **{**fresh, "on_drift": False})
    assert ignored.due is False

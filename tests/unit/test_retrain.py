"""The retraining policy's rules: schedules (daily, cron) and when a retrain is due, on
a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pulse_ray.retrain import due, holdout_size, judge, parse_schedule

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


@pytest.mark.parametrize(("text", "says"), [
    ("weekly", "five fields"), ("* * * *", "five fields"), ("60 * * * *", "minute '60'"),
    ("0 24 * * *", "hour '24'"), ("0 0 32 * *", "day of month '32'"),
    ("0 0 * 13 *", "month '13'"), ("0 0 * * 8", "day of week '8'"),
    ("0 0 30 2 *", "never fires"), ("a b c d e", "minute 'a'"), ("*/0 * * * *", "minute"),
])
def test_a_bad_schedule_is_refused_naming_the_field(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_schedule(text)


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


def test_the_latest_fraction_of_labels_is_held_out_leaving_some_to_train_on() -> None:
    assert holdout_size(1000, fraction=0.2) == 200
    assert holdout_size(3, fraction=0.2) == 1
    assert holdout_size(2, fraction=0.9) == 1
    assert holdout_size(1, fraction=0.2) == 0


def test_a_retrained_version_is_promoted_only_when_better_by_the_margin() -> None:
    common = {"metric": "f1_score", "champion_version": "1.0.0-abc", "holdout_rows": 100}
    assert judge(candidate=0.805, champion=0.8, margin=0.005, **common).promoted
    assert not judge(candidate=0.804, champion=0.8, margin=0.005, **common).promoted
    assert not judge(candidate=0.8, champion=0.8, margin=0, **common).promoted
    assert judge(candidate=0.8001, champion=0.8, margin=0, **common).promoted
    assert not judge(candidate=float("nan"), champion=0.8, margin=0, **common).promoted
    first = judge(candidate=0.5, champion=None, margin=0.1, metric="r2",
                  champion_version=None, holdout_rows=10)
    assert first.promoted and first.to_json()["champion"] is None

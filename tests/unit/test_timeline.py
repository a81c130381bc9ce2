"""What was live when, the rules: deploys and rollbacks as periods with their reason,
and feedback scored against the recorded predictions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pulse_ray.timeline import Change, outcomes, periods, reason

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _change(minutes: int, version: str, **kwargs: object) -> Change:
    fields: dict[str, object] = {"action": "deploy", "by_key": None, "by_run": None,
                                 "detail": None, "evaluation": None, **kwargs}
    return Change(to_version=version, at=T0 + timedelta(minutes=minutes),
                  **fields)  # type: ignore[arg-type]


def test_each_change_starts_a_period_that_the_next_one_ends() -> None:
    changes = [_change(0, "1.0.0", by_run="run_a", by_key="key_a"),  # the run's key
               _change(10, "1.1.0", by_key="key_a"),
               _change(20, "1.0.0", action="rollback", by_key="key_a")]
    spans = periods(changes)
    assert [(p.version, p.started_at, p.ended_at) for p in spans] == [
        ("1.0.0", changes[0].at, changes[1].at), ("1.1.0", changes[1].at, changes[2].at),
        ("1.0.0", changes[2].at, None)]
    assert [reason(p.change) for p in spans] == ["training", "manual", "rolled_back"]
    assert periods([]) == []


def test_a_retrained_version_judged_better_is_told_from_a_plain_canary() -> None:
    better = {"promoted": True, "candidate": 0.9, "champion": 0.8}
    assert reason(_change(0, "1.2.0", by_run="run_b", detail="promoted at 100%",
                          evaluation=better)) == "retrain_promoted"
    assert reason(_change(0, "1.2.0", by_run="run_b", detail="promoted at 100%")) \
        == "canary_promoted"
    # a person deploying a candidate the retrain did not promote: manual
    assert reason(_change(0, "1.2.0", by_key="key_a",
                          evaluation={**better, "promoted": False})) == "manual"


def test_feedback_scores_the_recorded_predictions() -> None:
    scored = outcomes([(True, True), (False, True), (False, False), (None, True)],
                      regression=False)
    assert (scored.labelled, scored.scored, scored.accuracy, scored.mae) == (
        4, 3, round(2 / 3, 6), None)
    assert outcomes([(10.0, 12.0), (5.0, 4.0)], regression=True).mae == 1.5
    assert outcomes([], regression=False).accuracy is None

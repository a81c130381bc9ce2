"""The rollout rules as pure functions, with a fake clock: the arm a caller takes, a
window's figures, and what the controller decides from them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pydantic
import pytest

from pulse_ray.config import Settings
from pulse_ray.rollouts import ArmStats, Policy, decide, percentile, takes_candidate

T0 = datetime(2026, 12, 1, tzinfo=UTC)
POLICY = Policy(steps=(5, 25, 50, 100), interval_s=60, max_error_rate_delta=0.01,
                max_p99_ratio=1.2, min_requests=200)
HEALTHY = ArmStats(requests=1000, errors=2, p50_ms=10, p99_ms=40)


def judge(*, after_s: float = 61, step_index: int = 0, stable: ArmStats = HEALTHY,
          candidate: ArmStats = HEALTHY, baseline: ArmStats | None = None) -> tuple[str, str]:
    decision = decide(policy=POLICY, step_index=step_index, step_started_at=T0,
                      now=T0 + timedelta(seconds=after_s), stable=stable, candidate=candidate,
                      baseline=baseline)
    return decision.action, decision.reason


def test_within_bounds_the_next_step_begins_and_after_the_last_it_is_promoted() -> None:
    assert judge(step_index=0)[0] == "advance"
    assert judge(step_index=2)[0] == "advance"
    action, reason = judge(step_index=3, stable=ArmStats(), baseline=HEALTHY)
    assert action == "promote" and "5, 25, 50, 100" in reason


def test_before_the_interval_or_with_too_few_requests_it_waits() -> None:
    assert judge(after_s=59.9)[0] == "wait"
    action, reason = judge(candidate=ArmStats(requests=199, errors=199, p50_ms=1, p99_ms=1))
    assert action == "wait" and "199 of the 200" in reason


def test_an_error_rate_over_the_stable_ones_by_more_than_the_delta_rolls_back() -> None:
    # stable 0.2 %; 1.2 % is exactly the delta away (kept), 1.3 % is over it.
    assert judge(candidate=ArmStats(requests=1000, errors=12, p50_ms=10, p99_ms=40))[0] \
        == "advance"
    action, reason = judge(candidate=ArmStats(requests=1000, errors=200, p50_ms=10, p99_ms=40))
    assert action == "rollback"
    assert "0.2000" in reason and "0.0020" in reason and "0.01" in reason


def test_a_p99_over_the_ratio_rolls_back() -> None:
    assert judge(candidate=ArmStats(requests=1000, errors=2, p50_ms=10, p99_ms=48))[0] \
        == "advance"
    action, reason = judge(candidate=ArmStats(requests=1000, errors=2, p50_ms=10, p99_ms=49))
    assert action == "rollback" and "p99 49.0 ms" in reason and "40.0 ms" in reason


def test_without_stable_traffic_the_last_judged_window_is_the_reference() -> None:
    """At 100 % the stable arm takes nothing: the baseline stands in for it."""
    slow = ArmStats(requests=500, errors=0, p50_ms=10, p99_ms=100)
    assert judge(step_index=3, stable=ArmStats(), candidate=slow,
                 baseline=HEALTHY)[0] == "rollback"
    decision = decide(policy=POLICY, step_index=3, step_started_at=T0,
                      now=T0 + timedelta(seconds=61), stable=ArmStats(), candidate=HEALTHY,
                      baseline=HEALTHY)
    assert decision.figures["baseline"]["requests"] == 1000
    # No reference at all: the candidate's own error rate against the delta, no p99 check.
    assert judge(stable=ArmStats(), candidate=slow)[0] == "advance"


def test_the_figures_name_each_arm() -> None:
    decision = decide(policy=POLICY, step_index=1, step_started_at=T0,
                      now=T0 + timedelta(seconds=61), stable=HEALTHY,
                      candidate=ArmStats(requests=250, errors=50, p50_ms=9, p99_ms=30),
                      baseline=None)
    assert decision.figures == {
        "step": 25,
        "stable": {"requests": 1000, "errors": 2, "error_rate": 0.002, "p50_ms": 10,
                   "p99_ms": 40},
        "candidate": {"requests": 250, "errors": 50, "error_rate": 0.2, "p50_ms": 9,
                      "p99_ms": 30}}


def test_window_figures_from_latencies_and_errors() -> None:
    # 100 answers, 20 of them cached (their latency is the cache's, not the model's).
    stats = ArmStats.of(answered=100, errors=25, latencies_ms=[float(ms) for ms in range(1, 81)])
    assert (stats.requests, stats.errors, stats.error_rate) == (125, 25, 0.2)
    assert (stats.p50_ms, stats.p99_ms) == (40, 80)
    assert ArmStats.of(answered=0, errors=0, latencies_ms=[]) == ArmStats()
    assert percentile([7.0], 99) == 7.0 and percentile([], 50) is None


def test_a_caller_keeps_its_arm_and_the_share_is_the_weight() -> None:
    callers = [f"sess_{i}" for i in range(10_000)]
    at_25 = {c for c in callers if takes_candidate("rol_a", c, 25)}
    assert 2300 < len(at_25) < 2700
    assert at_25 == {c for c in callers if takes_candidate("rol_a", c, 25)}  # sticky
    # A rising weight only moves callers over; another rollout draws others.
    at_50 = {c for c in callers if takes_candidate("rol_a", c, 50)}
    assert at_25 < at_50
    assert at_25 != {c for c in callers if takes_candidate("rol_b", c, 25)}
    assert not any(takes_candidate("rol_a", c, 0) for c in callers[:100])
    assert all(takes_candidate("rol_a", c, 100) for c in callers[:100])


@pytest.mark.parametrize(("steps", "fine"), [
    ((5, 25, 50, 100), True), ((100,), True), ((50, 25, 100), False), ((5, 50), False),
    ((0, 100), False), ((), False), ((5, 5, 100), False)])
def test_steps_rise_to_100(steps: tuple[int, ...], fine: bool) -> None:
    policy = Policy(steps=steps, interval_s=1, max_error_rate_delta=0, max_p99_ratio=1,
                    min_requests=1)
    assert (policy.problems() == []) is fine


def test_settings_refuse_steps_a_canary_cannot_take() -> None:
    with pytest.raises(pydantic.ValidationError, match="must end at 100"):
        Settings(_env_file=None, rollout_steps=[5, 50])  # type: ignore[call-arg]

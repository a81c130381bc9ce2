"""Canary rollouts, the rules: which arm a request takes, what a window's figures are,
and what the controller does with them. Pure functions over plain values, the clock
passed in, so the policy is tested without a store, a cluster or waiting.

A rollout moves a model's traffic to a candidate version in steps (5 → 25 → 50 → 100
percent by default). Each request's arm is a hash of the rollout and the caller's
session (or key) against the step's share (:func:`takes_candidate`), so a user keeps
one version while the share stays. After each step's interval the candidate's
server-error rate and p99 latency are compared with the stable version's over the same
window (:func:`decide`): within bounds the next step begins, out of bounds the rollout
rolls back, and a window with too few candidate requests waits for more.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "ARMS",
    "Arm",
    "ArmStats",
    "Decision",
    "Policy",
    "ShadowStats",
    "agreement",
    "decide",
    "percentile",
    "step_over",
    "steps_problem",
    "takes_candidate",
]

Arm = Literal["stable", "candidate", "fallback"]
"""Which side answered: ``fallback`` is a request sent to the candidate that failed
there with a server error and was answered by the stable version."""
ARMS: tuple[Arm, ...] = ("stable", "candidate", "fallback")


@dataclass(frozen=True, slots=True)
class Policy:
    """How a canary steps and what it tolerates (the deploy body, settings filling in)."""

    steps: tuple[int, ...]
    interval_s: float
    max_error_rate_delta: float
    max_p99_ratio: float
    min_requests: int

    def problems(self) -> list[tuple[str, str]]:
        """(field, message) for each rule the policy breaks; empty when it is valid."""
        found = []
        if (problem := steps_problem(self.steps)) is not None:
            found.append(("steps", problem))
        if not self.interval_s > 0:
            found.append(("interval_s", "must be greater than 0"))
        if not 0 <= self.max_error_rate_delta <= 1:
            found.append(("max_error_rate_delta", "must be from 0 to 1"))
        if not self.max_p99_ratio >= 1:
            found.append(("max_p99_ratio", "must be at least 1"))
        if self.min_requests < 1:
            found.append(("min_requests", "must be at least 1"))
        return found


def steps_problem(steps: Sequence[int]) -> str | None:
    """What is wrong with a canary's steps (None: nothing): shares of traffic from 1 to
    100, rising, the last 100."""
    if not steps:
        return "must name at least one step"
    if any(not 1 <= s <= 100 for s in steps):
        return "each step is a share of traffic from 1 to 100"
    if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
        return "must rise step after step"
    if steps[-1] != 100:
        return "must end at 100"
    return None


def takes_candidate(rollout_id: str, sticky: str, weight: int) -> bool:
    """Whether the caller ``sticky`` (a session or key id) is in the candidate's
    ``weight`` percent: a stable hash into 0-99, so the answer holds for the same
    caller while the weight stays, and a rising weight only moves callers over."""
    digest = hashlib.sha256(f"{rollout_id}:{sticky}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < weight


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class ArmStats:
    """One arm over one window: requests it took (answered or failed), server errors
    among them, and the latency percentiles of the answers its model computed (one
    from the prediction cache measures the cache, which a new version starts without)."""

    requests: int = 0
    errors: int = 0
    p50_ms: float | None = None
    p99_ms: float | None = None

    @classmethod
    def of(cls, *, answered: int, errors: int, latencies_ms: Sequence[float]) -> ArmStats:
        return cls(requests=answered + errors, errors=errors,
                   p50_ms=percentile(latencies_ms, 50), p99_ms=percentile(latencies_ms, 99))

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    def figures(self) -> dict[str, Any]:
        return {"requests": self.requests, "errors": self.errors,
                "error_rate": round(self.error_rate, 6), "p50_ms": self.p50_ms,
                "p99_ms": self.p99_ms}


_NOT_LABEL = frozenset({"confidence", "probabilities"})


def agreement(stable: dict[str, Any], candidate: dict[str, Any]) -> tuple[bool, float | None]:
    """Whether two answers to one input agree (the same label: every output field but
    confidence and probabilities), and the absolute difference of their confidences
    (None when either has none)."""
    agreed = all(stable.get(k) == candidate.get(k) for k in (set(stable) | set(candidate))
                 - _NOT_LABEL)
    a, b = stable.get("confidence"), candidate.get("confidence")
    diff = abs(float(a) - float(b)) if a is not None and b is not None else None
    return agreed, diff


@dataclass(frozen=True, slots=True)
class ShadowStats:
    """A shadow rollout's comparisons so far."""

    compared: int = 0
    errors: int = 0
    agreement_rate: float | None = None
    mean_abs_confidence_diff: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None

    @classmethod
    def of(cls, results: Sequence[tuple[bool, bool | None, float | None, float | None]]
           ) -> ShadowStats:
        """From (failed, agreed, confidence diff, latency) per copy."""
        answered = [r for r in results if not r[0]]
        diffs = [r[2] for r in answered if r[2] is not None]
        latencies = [r[3] for r in answered if r[3] is not None]
        return cls(compared=len(answered), errors=len(results) - len(answered),
                   agreement_rate=round(sum(bool(r[1]) for r in answered) / len(answered), 6)
                   if answered else None,
                   mean_abs_confidence_diff=round(sum(diffs) / len(diffs), 6) if diffs else None,
                   p50_ms=percentile(latencies, 50), p99_ms=percentile(latencies, 99))


@dataclass(frozen=True, slots=True)
class Decision:
    action: Literal["wait", "advance", "promote", "rollback"]
    reason: str
    figures: dict[str, Any]


def step_over(policy: Policy, step_started_at: datetime, now: datetime) -> bool:
    """Whether the current step has run its interval (its window can be judged)."""
    return (now - step_started_at).total_seconds() >= policy.interval_s


def decide(*, policy: Policy, step_index: int, step_started_at: datetime, now: datetime,
           stable: ArmStats, candidate: ArmStats, baseline: ArmStats | None) -> Decision:
    """What to do with a rollout at ``now``, from its current window's figures.

    Args:
        stable: the stable version's figures over the window (no traffic at 100%).
        candidate: the candidate's.
        baseline: the stable figures of the last window judged, compared against when
            this window's stable arm has fewer than ``min_requests`` (the 100% step).
    """
    figures = {"step": policy.steps[step_index], "stable": stable.figures(),
               "candidate": candidate.figures()}
    if not step_over(policy, step_started_at, now):
        elapsed = (now - step_started_at).total_seconds()
        return Decision("wait", f"the step has run {elapsed:.0f} of {policy.interval_s:g} s",
                        figures)
    if candidate.requests < policy.min_requests:
        return Decision("wait", f"the candidate has {candidate.requests} of the "
                        f"{policy.min_requests} requests a window needs", figures)
    reference = stable if stable.requests >= policy.min_requests else baseline
    if reference is not stable and reference is not None:
        figures["baseline"] = reference.figures()
    stable_rate = reference.error_rate if reference is not None else 0.0
    delta = candidate.error_rate - stable_rate
    if delta > policy.max_error_rate_delta:
        return Decision("rollback", f"error rate {candidate.error_rate:.4f} against the stable "
                        f"version's {stable_rate:.4f}: {delta:+.4f} is over the "
                        f"{policy.max_error_rate_delta:g} allowed", figures)
    if (reference is not None and reference.p99_ms and candidate.p99_ms is not None
            and candidate.p99_ms > policy.max_p99_ratio * reference.p99_ms):
        return Decision("rollback", f"p99 {candidate.p99_ms:.1f} ms against the stable "
                        f"version's {reference.p99_ms:.1f} ms: over {policy.max_p99_ratio:g}×",
                        figures)
    if step_index + 1 >= len(policy.steps):
        return Decision("promote", f"every step ({', '.join(map(str, policy.steps))}%) "
                        "within bounds", figures)
    return Decision("advance", f"{policy.steps[step_index]}% within bounds: on to "
                    f"{policy.steps[step_index + 1]}%", figures)

"""Training runs (``/v1/train``): start, follow, cancel."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pulse_ray.errors import RequestTimeoutError
from pulse_ray.schemas.training import TERMINAL, RunDetail, RunPublic, TrainOptions
from pulse_ray.sdk._core import Call, endpoint

__all__ = ["RunWatch", "TrainingEndpoints"]


class TrainingEndpoints:
    """Start, look up and cancel runs (``wait_for_run`` is on each client)."""

    @endpoint
    def train(
        self, model: str, snapshot: str, *,
        options: TrainOptions | Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Call[RunPublic]:
        """Starts a training run (a Ray Job running Ray Train) and answers at once,
        queued; follow it with :meth:`get_run` or ``wait_for_run``. Options left
        unset take the server's defaults."""
        if isinstance(options, TrainOptions):
            options = options.model_dump(mode="json", exclude_unset=True)
        return Call.post(f"/v1/train/{model}", RunPublic.model_validate,
                         {"snapshot": snapshot, "options": dict(options or {})},
                         idempotency_key=idempotency_key)

    @endpoint
    def get_run(self, run_id: str) -> Call[RunDetail]:
        """A run: status, Ray job, metrics of every epoch so far, error, log tail."""
        return Call.get(f"/v1/train/{run_id}", RunDetail.model_validate)

    @endpoint
    def cancel_run(self, run_id: str, *, idempotency_key: str | None = None) -> Call[RunDetail]:
        """Stops a run's Ray job; a run that already ended is a 409."""
        return Call.post(f"/v1/train/{run_id}/cancel", RunDetail.model_validate,
                         idempotency_key=idempotency_key)


@dataclass
class RunWatch:
    """When to look at a run again, and when to stop waiting (no I/O)."""

    poll_s: float
    timeout_s: float | None
    clock: Callable[[], float]

    def __post_init__(self) -> None:
        self._deadline = None if self.timeout_s is None else self.clock() + self.timeout_s

    def next_poll_s(self, run: RunDetail) -> float | None:
        """None once the run has ended; raises when the time to wait is up."""
        if run.status in TERMINAL:
            return None
        if self._deadline is not None and self.clock() >= self._deadline:
            raise RequestTimeoutError(f"Run {run.id} is still {run.status} after "
                                      f"{self.timeout_s:g}s")
        return self.poll_s


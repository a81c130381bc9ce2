"""The service's training backend: small runs to the training coordinator
(:mod:`pulse_ray.runtime.train_coordinator`), the rest to Ray Jobs.

Apart from the coordinator because holding its handle needs nothing it trains with: the
rollout controller, which submits retrain runs, finds the coordinator by name and loads
no torch; the ingress, which starts the coordinator (and imports it), passes its handle.
"""

from __future__ import annotations

from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError

from pulse_ray.config import Settings
from pulse_ray.errors import UnavailableError
from pulse_ray.runtime.background import actor_name
from pulse_ray.runtime.jobs import RayJobsBackend
from pulse_ray.services.training import JobState, RunSpec

__all__ = ["COORDINATOR_JOB_PREFIX", "COORDINATOR_NAME", "RoutedTrainingBackend",
           "running_coordinator"]

COORDINATOR_JOB_PREFIX = "pulse-direct-"
"""Job ids of runs the coordinator trains (Ray Jobs' are ``pulse-run_…``)."""
COORDINATOR_NAME = "pulse-training"
"""The coordinator's actor name, before its store's hash (:func:`per_store`)."""
_ANSWER_TIMEOUT_S = 30.0  # a restarted coordinator imports torch first


def running_coordinator(settings: Settings) -> Any:
    """The coordinator of this store, started by the first ingress replica (before it
    starts the rollout controller) and restarted by Ray after a crash.

    Raises:
        UnavailableError: no coordinator is running for this store.
    """
    try:
        return ray.get_actor(actor_name(COORDINATOR_NAME, settings))
    except ValueError:
        raise UnavailableError("The training coordinator is not running (the ingress "
                               "starts it); retry shortly", retry_after_s=5) from None


class RoutedTrainingBackend:
    """The service's :class:`~pulse_ray.services.training.TrainingBackend`: small runs
    (:meth:`~pulse_ray.services.training.RunSpec.single_process`) to the coordinator,
    the rest to Ray Jobs; each later call goes where the job id says the run went."""

    def __init__(self, settings: Settings, coordinator: Any) -> None:
        """Args:
            coordinator: the training coordinator's actor handle.
        """
        self._settings = settings
        self._jobs = RayJobsBackend(settings)
        self.coordinator = coordinator

    def _ask(self, method: str, *args: Any) -> Any:
        """A coordinator call, waiting through a restart (its imports take seconds).

        Raises:
            UnavailableError: the coordinator did not answer within
                :data:`_ANSWER_TIMEOUT_S`.
        """
        try:
            return ray.get(getattr(self.coordinator, method).remote(*args),
                           timeout=_ANSWER_TIMEOUT_S)
        except (GetTimeoutError, RayActorError) as exc:
            raise UnavailableError("The training coordinator is restarting; retry shortly",
                                   retry_after_s=5) from exc

    def submit(self, spec: RunSpec) -> str:
        if not spec.single_process(self._settings.train_direct_max_rows):
            return self._jobs.submit(spec)
        self._ask("start", spec.run_id)
        return f"{COORDINATOR_JOB_PREFIX}{spec.run_id}"

    def state(self, job_id: str) -> JobState:
        if job_id.startswith(COORDINATOR_JOB_PREFIX):
            state: JobState = self._ask("state", _run_of(job_id))
            return state
        return self._jobs.state(job_id)

    def logs(self, job_id: str, lines: int = 40) -> str:
        if job_id.startswith(COORDINATOR_JOB_PREFIX):
            return str(self._ask("logs", _run_of(job_id), lines))
        return self._jobs.logs(job_id, lines)

    def stop(self, job_id: str) -> None:
        if job_id.startswith(COORDINATOR_JOB_PREFIX):
            self._ask("stop", _run_of(job_id))
        else:
            self._jobs.stop(job_id)


def _run_of(job_id: str) -> str:
    return job_id.removeprefix(COORDINATOR_JOB_PREFIX)

"""Training on Ray Jobs: the service's :class:`~pulse_ray.services.training.TrainingBackend`."""

from __future__ import annotations

import sys

from ray.job_submission import JobStatus, JobSubmissionClient

from pulse_ray.config import JOB_SETTINGS_VARIABLE, Settings
from pulse_ray.services.training import JobPhase, JobState, RunSpec

__all__ = ["RayJobsBackend", "job_environment"]

_PHASES: dict[JobStatus, JobPhase] = {
    JobStatus.PENDING: "pending",
    JobStatus.RUNNING: "running",
    JobStatus.SUCCEEDED: "succeeded",
    JobStatus.FAILED: "failed",
    JobStatus.STOPPED: "stopped",
}


def job_environment(settings: Settings) -> dict[str, str]:
    """What a training job runs with: the service's settings as one serialized object
    (:func:`~pulse_ray.config.job_settings` reads it), Ray Train's faster health check
    (a run ends ~4 s sooner) and how long its worker group may wait for resources."""
    return {
        # A training job reads no sealed secret: the keys stay out of its environment.
        JOB_SETTINGS_VARIABLE: settings.model_dump_json(exclude={"secret_keys"}),
        "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.2",
        "RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S": str(settings.train_start_timeout_s),
    }


class RayJobsBackend:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: JobSubmissionClient | None = None

    @property
    def client(self) -> JobSubmissionClient:
        if self._client is None:  # the dashboard may start after this replica
            self._client = JobSubmissionClient(self._settings.jobs_url)
        return self._client

    def submit(self, spec: RunSpec) -> str:
        run_id = spec.run_id
        python = self._settings.job_python or sys.executable
        return str(self.client.submit_job(
            # -P: the job's working directory must not shadow packages (a `ray` folder
            # in it would replace Ray itself).
            entrypoint=f"{python} -P -m pulse_ray.runtime.train_job --run {run_id}",
            submission_id=f"pulse-{run_id}",
            runtime_env={"env_vars": job_environment(self._settings)},
            metadata={"pulse_run": run_id},
        ))

    def state(self, job_id: str) -> JobState:
        info = self.client.get_job_info(job_id)
        return JobState(phase=_PHASES.get(info.status, "pending"), message=info.message)

    def logs(self, job_id: str, lines: int = 40) -> str:
        return "\n".join(self.client.get_job_logs(job_id).splitlines()[-lines:])

    def stop(self, job_id: str) -> None:
        self.client.stop_job(job_id)

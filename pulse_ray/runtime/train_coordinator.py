"""The training coordinator: a detached Ray actor per store that trains small runs
itself (the backend that sends each run where it belongs, and holds the coordinator's
handle without loading torch, is :mod:`pulse_ray.runtime.training_backend`).

A Ray Job for a 20,000-row run spent ~20 s starting processes (the job driver, Ray
Train's controller and worker, Ray Data's executor) around ~1 s of epochs. The
coordinator is started with the ingress (:mod:`pulse_ray.runtime.background`), has torch
and Pulse's modules imported already, and fits a run of one worker without a GPU on a
snapshot of at most ``PULSE_TRAIN_DIRECT_MAX_ROWS`` rows in a thread of its own
(:func:`~pulse_ray.runtime.train_direct.fit_in_process`). Every other run — and
``ray job submit`` of the entrypoint — goes through Ray Jobs and Ray Train as before.

Resources: the actor itself reserves no CPU, so the plan's serving share is untouched;
each run it trains holds a placement group of the run's worker CPUs while it fits, so a
run here counts against the cluster as its Ray Train worker would (and waits, then
fails naming ``PULSE_TRAIN_START_TIMEOUT_S``, when they are taken).

Runs move only through :class:`~pulse_ray.services.training.RunStates`, as in the job.
Each epoch is checkpointed beside Ray Train's (``PULSE_TRAIN_STORAGE_URI``): when the
actor dies, Ray restarts it and it resumes every unfinished run it was training from
its last epoch, as a lost Train worker resumes.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import ray
import torch
from ray.util.placement_group import (
    PlacementGroup,
    get_placement_group,
    placement_group,
    remove_placement_group,
)

from pulse_ray.config import Settings
from pulse_ray.errors import ConflictError
from pulse_ray.logs import configure_logging
from pulse_ray.runtime.background import per_store
from pulse_ray.runtime.train_direct import Cancelled, fit_in_process
from pulse_ray.runtime.train_job import register_trained, run_states
from pulse_ray.runtime.training_backend import COORDINATOR_JOB_PREFIX, COORDINATOR_NAME
from pulse_ray.services.training import JobPhase, JobState, RunSpec, unplaceable
from pulse_ray.store import Database
from pulse_ray.store import runs as run_repo
from pulse_ray.timeutil import utcnow

__all__ = ["start_training_coordinator"]

logger = logging.getLogger(__name__)

_LOG_LINES = 200  # kept per run, for GET /v1/train/{run}
_RUNS_KEPT = 500  # ended runs whose phase and log the coordinator still answers for
_SUBMITTED_WAIT_S = 10.0


@dataclass
class _Run:
    """A run the coordinator is training, or has trained since it started."""

    stop: threading.Event = field(default_factory=threading.Event)
    phase: JobPhase = "running"
    message: str | None = None
    log: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=_LOG_LINES))


class _RunLogs(logging.Handler):
    """Keeps each run's log lines: records from the run's thread go to its log."""

    def __init__(self, runs: dict[str, _Run]) -> None:
        super().__init__()
        self._runs = runs
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        run = self._runs.get(record.threadName or "")
        if run is not None:
            run.log.append(self.format(record))


# max_task_retries: a call made while Ray restarts the actor waits for the new one (every
# method is safe to repeat) instead of failing.
@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1,  # type: ignore[call-overload]
            max_concurrency=16)
class _CoordinatorActor:
    def __init__(self, settings: Settings) -> None:
        configure_logging(settings.log_level)
        self._settings = settings
        self._database = Database.from_settings(settings)
        self._states = run_states(settings)
        self._runs: dict[str, _Run] = {}  # by run id
        logging.getLogger("pulse_ray").addHandler(_RunLogs(self._runs))
        with self._database.session() as session:
            unfinished = [run.id for run in run_repo.open_runs_started_before(
                session=session, before=utcnow())
                if (run.ray_job_id or "").startswith(COORDINATOR_JOB_PREFIX)]
        for run_id in unfinished:  # this actor was restarted: carry on with its runs
            self.start(run_id)
        logger.info("training coordinator running (%d run(s) resumed)", len(unfinished))

    def start(self, run_id: str) -> None:
        if run_id not in self._runs:
            ended = [r for r, run in self._runs.items() if run.phase != "running"]
            for old in ended[:max(0, len(self._runs) - _RUNS_KEPT)]:  # oldest first
                del self._runs[old]
            self._runs[run_id] = _Run()
            threading.Thread(target=self._train, args=(run_id,), name=run_id,
                             daemon=True).start()

    def state(self, run_id: str) -> JobState:
        run = self._runs.get(run_id)
        if run is None:
            return JobState("failed", "the training coordinator has no record of this run "
                            "(it restarted without it, or the run ended long ago)")
        return JobState(run.phase, run.message)

    def logs(self, run_id: str, lines: int) -> str:
        run = self._runs.get(run_id)
        return "\n".join(list(run.log)[-lines:]) if run is not None else ""

    def stop(self, run_id: str) -> None:
        run = self._runs.get(run_id)
        if run is not None:
            run.stop.set()

    def _submitted(self, run_id: str) -> None:
        """Waits (briefly) until the API has recorded the run's job: its answer to the
        submission says ``queued``, as for a Ray Job, and a restarted coordinator finds
        the run by that job id."""
        deadline = time.monotonic() + _SUBMITTED_WAIT_S
        while time.monotonic() < deadline:
            with self._database.session() as session:
                if run_repo.get_run(session=session, run_id=run_id).ray_job_id:
                    return
            time.sleep(0.02)

    def _train(self, run_id: str) -> None:
        run = self._runs[run_id]
        try:
            self._submitted(run_id)
            with self._database.session() as session:
                spec = self._states.started(session=session, run_id=run_id)
            logger.info("training %s on %s as %s in the coordinator", spec.model,
                        spec.snapshot_id, run_id)
            registered = self._fit(spec, run)
        except (Cancelled, ConflictError):  # stopped between epochs, or while registering
            run.phase = "stopped"
            logger.info("run %s stopped", run_id)
        except Exception as exc:
            logger.error("run %s failed:\n%s", run_id, traceback.format_exc())
            with self._database.session() as session:
                self._states.failed(session=session, run_id=run_id,
                                    error=f"{type(exc).__name__}: {exc}")
            run.phase, run.message = "failed", str(exc)
        else:
            run.phase = "succeeded"
            logger.info("run %s registered %s %s", run_id, spec.model, registered.version)

    def _fit(self, spec: RunSpec, run: _Run) -> Any:
        """Fits and registers the run holding its worker's CPUs (a placement group)."""
        settings = self._settings
        reserved = _reserve(spec)
        torch.set_num_threads(max(1, int(spec.worker_cpus)))  # as a Train worker's
        try:
            ready, _ = ray.wait([reserved.ready()], timeout=settings.train_start_timeout_s)
            if not ready:
                raise unplaceable(spec, settings, free=ray.available_resources().get("CPU", 0),
                                  total=ray.cluster_resources().get("CPU", 0))
            trained, metrics = fit_in_process(
                spec, on_epoch=lambda metrics: self._epoch(spec.run_id, metrics),
                stopped=run.stop.is_set,
                checkpoint_uri=f"{settings.train_storage_uri.rstrip('/')}/{spec.run_id}"
                               "/coordinator/state.pt")
            return register_trained(database=self._database, states=self._states,
                                    spec=spec, trained=trained, metrics=metrics)
        finally:
            remove_placement_group(reserved)

    def _epoch(self, run_id: str, metrics: dict[str, float]) -> None:
        with self._database.session() as session:
            self._states.epoch(session=session, run_id=run_id, metrics=metrics)


def _reserve(spec: RunSpec) -> PlacementGroup:
    """The run's worker CPUs, as a placement group named after the run: one that a
    coordinator killed mid-run left behind is removed first, not leaked."""
    name = f"pulse-train-{spec.run_id}"
    try:
        remove_placement_group(get_placement_group(name))
    except ValueError:  # none: the usual case
        pass
    return placement_group([{"CPU": spec.worker_cpus}], name=name)


def start_training_coordinator(settings: Settings) -> Any:
    """The coordinator actor for this store (created on first call)."""
    return per_store(_CoordinatorActor, COORDINATOR_NAME, settings)

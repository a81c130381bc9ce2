"""Training runs: the one state machine a run moves through, and the API's use cases
over it. The Ray side (job submission, Ray Data, Ray Train) lives in
``pulse_ray.runtime`` and moves a run only through :class:`RunStates`.

A run is ``queued`` when created (with its :class:`RunSpec`, everything its job needs,
fixed then), ``running`` once its job starts, and ends once — ``succeeded`` (its version
registered), ``failed`` or ``cancelled``; a later ending is ignored, so the job, a
cancel and a reconcile racing each other leave the first. ``training.completed`` /
``training.failed`` go out in the transaction of the ending.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import pyarrow as pa
from anyio import to_thread
from sqlmodel import Session

from pulse_ray.auth import Principal
from pulse_ray.capacity import ResourcePlan
from pulse_ray.config import Settings
from pulse_ray.errors import ConflictError, ErrorDetail, UnavailableError, ValidationError
from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.models.families import CLASSIFIER, primary_metric
from pulse_ray.models.files import publish
from pulse_ray.models.inputs import breaking_change, read_contract, unknown_columns
from pulse_ray.models.stats import column_kind
from pulse_ray.registry import next_version, should_deploy
from pulse_ray.rollouts import Policy
from pulse_ray.schemas.training import TERMINAL, RunDetail, RunPublic, TrainCreate, TrainOptions
from pulse_ray.store import Database
from pulse_ray.store import models as model_repo
from pulse_ray.store import rollouts as rollout_repo
from pulse_ray.store import runs as run_repo
from pulse_ray.store import snapshots as snapshot_repo
from pulse_ray.store import webhooks as webhook_repo
from pulse_ray.store.tables import Model, Snapshot, TrainingRun
from pulse_ray.timeutil import Clock, format_timestamp
from pulse_ray.webhooks.events import EventType

__all__ = [
    "JobState",
    "Registered",
    "RunSpec",
    "RunStates",
    "TrainingBackend",
    "TrainingService",
    "feature_columns",
    "unplaceable",
]

logger = logging.getLogger(__name__)

JobPhase = Literal["pending", "running", "succeeded", "failed", "stopped"]


@dataclass(frozen=True, slots=True)
class JobState:
    phase: JobPhase
    message: str | None = None


class TrainingBackend(Protocol):
    """Where training jobs run (Ray Jobs; a double in API unit tests)."""

    def submit(self, spec: RunSpec) -> str:
        """Starts the training job of the run ``spec`` describes; returns the job id."""
        ...

    def state(self, job_id: str) -> JobState: ...

    def logs(self, job_id: str, lines: int = 40) -> str: ...

    def stop(self, job_id: str) -> None: ...


@dataclass(frozen=True)
class RunSpec:
    """What a run's job trains, fixed when the run is created: the job neither reads
    the model's contract again nor re-decides its features, options or resources."""

    run_id: str
    account: str
    model: str
    label: str
    features: tuple[str, ...]
    constraints: dict[str, Any]
    options: TrainOptions
    snapshot_id: str
    snapshot_uri: str
    worker_cpus: float
    data_cpus: float
    family: str = CLASSIFIER  # runs created before regressors existed classify
    rows: int = 0  # the snapshot's (0 in runs created before specs said)

    def single_process(self, max_rows: int) -> bool:
        """Whether this run is small enough to train in one process without Ray Train
        (:mod:`pulse_ray.runtime.train_coordinator`): one worker, no GPU, at most
        ``max_rows`` rows (``PULSE_TRAIN_DIRECT_MAX_ROWS``). Below that size the run's
        start-up (a job driver, a Train controller and worker, Ray Data) costs more than
        its epochs; above it the epochs dominate and Ray Train's scale-out pays."""
        return (self.options.num_workers == 1 and not self.options.gpu
                and 0 < self.rows <= max_rows)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "features": list(self.features),
                "options": self.options.model_dump()}

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> RunSpec:
        return RunSpec(**{**data, "features": tuple(data["features"]),
                          "options": TrainOptions.model_validate(data["options"])})


def unplaceable(spec: RunSpec, settings: Settings, *, free: float,
                total: float) -> RuntimeError:
    """What a run whose workers did not get their CPUs in time fails with (``free`` and
    ``total``: the cluster's CPUs then)."""
    return RuntimeError(
        f"{spec.options.num_workers} worker(s) of {spec.worker_cpus:g} CPU could not get "
        f"their resources within {settings.train_start_timeout_s:g} s "
        f"(PULSE_TRAIN_START_TIMEOUT_S): the cluster has {free:g} of {total:g} CPU free. "
        "Free CPUs, lower options.num_workers or PULSE_TRAIN_WORKER_CPUS, or add nodes")


def feature_columns(model: Model, columns: Sequence[str]) -> list[str]:
    """The model's features: as declared, else every column but the label and ids
    (``id`` or ``*_id``: row identifiers carry no signal, only noise)."""
    if model.feature_columns:
        return list(model.feature_columns)
    return [c for c in columns if c != model.label_column and c != "id"
            and not c.endswith("_id")]


def _kind(arrow_type: str) -> str:
    """:func:`column_kind` of a type as a snapshot records it (Arrow's own spelling)."""
    if arrow_type.startswith("decimal"):
        return "numeric"
    try:
        return column_kind(pa.type_for_alias(arrow_type))
    except ValueError:
        return "categorical"  # timestamps with zones, dictionaries, ...: not numbers


def check_snapshot(model: Model, snapshot: Snapshot) -> list[str]:
    """The features to train on, after checking the snapshot has them and the label,
    and that the model's constraints are on features (bounds on numeric ones).

    Raises:
        ValidationError: on ``snapshot``, naming the missing columns; on
            ``constraints.<column>`` for a constraint the features cannot meet.
    """
    types = {c["name"]: c["type"] for c in snapshot.columns}
    features = feature_columns(model, list(types))
    missing = [c for c in [model.label_column, *features] if c not in types]
    if missing:
        raise ValidationError.for_field(
            "snapshot", f"{snapshot.id} has no column(s) {', '.join(missing)}",
            summary=f"Snapshot does not fit model '{model.name}'")
    if not features:
        raise ValidationError.for_field("snapshot", "no feature columns besides the label")
    details = unknown_columns(model.constraints, features)
    details += [
        ErrorDetail(f"constraints.{name}", f"bounds apply to numbers; {name} is "
                    f"{types[name]} in {snapshot.id}")
        for name, constraint in read_contract(model.constraints).items()
        if name in features and constraint.bounded and _kind(types[name]) != "numeric"]
    if details:
        raise ValidationError(f"The constraints of model '{model.name}' do not fit its features",
                              details=details)
    return features


@dataclass(frozen=True)
class Registered:
    version: str
    deployed: bool
    rollout: str | None = None  # deploy auto over a deployed version: the canary started


@dataclass
class RunStates:
    """The only code that moves a run between states (and writes its job id)."""

    clock: Clock
    artifact_uri: str = field(default="")
    # How deploy auto replaces a deployed version: through this canary, or (None) at once.
    auto_rollout: Policy | None = None

    def create(self, *, session: Session, model: Model, snapshot: Snapshot,
               options: TrainOptions, key_id: str | None, plan: ResourcePlan) -> TrainingRun:
        """A queued run with its spec; refuses a snapshot that does not fit the model."""
        features = check_snapshot(model, snapshot)
        now = self.clock()
        run_id = new_id(IdPrefix.RUN, now=now)
        spec = RunSpec(run_id=run_id, account=model.account, model=model.name,
                       label=model.label_column, features=tuple(features),
                       constraints=dict(model.constraints), options=options,
                       snapshot_id=snapshot.id, snapshot_uri=snapshot.uri,
                       worker_cpus=plan.train_worker_cpus, data_cpus=plan.train_data_cpus,
                       family=model.family, rows=snapshot.rows)
        run = TrainingRun(id=run_id, account=model.account, key_id=key_id, model_id=model.id,
                          snapshot_id=snapshot.id, status="queued",
                          options=options.model_dump(), spec=spec.to_json(), epochs=[],
                          started_at=now)
        session.add(run)
        session.flush()
        return run

    def submit(self, database: Database, backend: TrainingBackend,
               run: TrainingRun) -> TrainingRun:
        """Submits the queued ``run``'s job and records it; a run Ray would not take is
        marked failed before the backend's error is raised (for the caller to map)."""
        try:
            assert run.spec is not None  # create wrote it
            job_id = backend.submit(RunSpec.from_json(run.spec))
        except Exception as exc:
            with database.session() as session:
                self.failed(session=session, run_id=run.id, error=f"submission failed: {exc}")
            raise
        with database.session() as session:
            return self.submitted(session=session, run_id=run.id, job_id=job_id)

    def submitted(self, *, session: Session, run_id: str, job_id: str) -> TrainingRun:
        """Records the job that runs it (once: a resubmission keeps the first id)."""
        run = run_repo.get_run(session=session, run_id=run_id)
        run.ray_job_id = run.ray_job_id or job_id
        session.add(run)
        session.flush()
        return run

    def started(self, *, session: Session, run_id: str) -> RunSpec:
        """The job has started: the run is running; its spec, for the job."""
        run = run_repo.get_run(session=session, run_id=run_id)
        if run.status == "queued":
            run.status, run.running_at = "running", self.clock()
            session.add(run)
            session.flush()
        if run.spec is None:
            raise ConflictError(f"Run {run_id} was created before runs had a spec: start a "
                                "new one")
        return RunSpec.from_json(run.spec)

    def epoch(self, *, session: Session, run_id: str, metrics: dict[str, float]) -> None:
        """Appends an epoch's metrics, stamped ``reported_at`` (Unix seconds: progress and
        the benchmarks' epoch times read it)."""
        run = run_repo.get_run(session=session, run_id=run_id)
        entry = {k: float(v) for k, v in metrics.items()} | {
            "reported_at": self.clock().timestamp()}
        run.epochs = [*run.epochs, entry]  # a new list, so the JSON column is rewritten
        session.add(run)
        session.flush()

    def failed(self, *, session: Session, run_id: str, error: str) -> TrainingRun:
        return self._end(session, run_id, "failed", error=error)

    def cancelled(self, *, session: Session, run_id: str, reason: str) -> TrainingRun:
        return self._end(session, run_id, "cancelled", error=reason)

    def register(self, *, session: Session, spec: RunSpec, saved: Path, digest: str,
                 metrics: dict[str, float], input_schema: dict[str, Any]) -> Registered:
        """Publishes a trained model saved at ``saved`` as the next version of its model,
        deploys it by the run's ``deploy`` option (``auto``: when it beats the deployed
        version on its family's :func:`~pulse_ray.models.families.primary_metric`), and
        ends the run succeeded.

        The version is ``MAJOR.MINOR.PATCH-<digest>``: minor up each time, major up when
        clients must send another input (:func:`~pulse_ray.registry.next_version`,
        :func:`~pulse_ray.models.inputs.breaking_change`).

        Raises:
            ConflictError: the run ended meanwhile (cancelled, past its deadline): a
                version it registered would come from a run that says it stopped.
        """
        run = run_repo.get_run(session=session, run_id=spec.run_id)
        if run.status in TERMINAL:
            raise ConflictError(f"Run {run.id} already ended ({run.status}): not registered")
        model = session.get(Model, run.model_id)
        assert model is not None  # foreign key
        latest = model_repo.latest_version(session=session, model_id=model.id)
        version = next_version(latest.version if latest else None,
                               schema_changed=latest is not None
                               and breaking_change(latest.input_schema, input_schema),
                               digest=digest)
        uri = f"{self.artifact_uri.rstrip('/')}/{model.account}/{model.name}/{version}"
        publish(saved, uri)
        now = self.clock()
        model_repo.register_version(session=session, model=model, version=version,
                                    run_id=run.id, metrics=metrics, input_schema=input_schema,
                                    artifact_uri=uri, now=now)
        deployed = model_repo.deployed_version(session=session, model_id=model.id)
        score = primary_metric(spec.family)
        deploy = should_deploy(spec.options.deploy, metrics.get(score),
                               deployed.metrics.get(score) if deployed else None)
        rollout = None
        if deploy and spec.options.deploy == "auto" and deployed is not None \
                and self.auto_rollout is not None:
            # Through a canary; while another runs, the version waits as a candidate
            # (like one that did not win).
            if rollout_repo.active_rollout(session=session, account=model.account,
                                           model_id=model.id) is None:
                rollout = rollout_repo.start_rollout(
                    session=session, model=model, version=version, policy=self.auto_rollout,
                    by_key=run.key_id, by_run=run.id, now=now).id
            deploy = False
        elif deploy:
            model_repo.deploy_version(session=session, model=model, version=version,
                                      by_key=run.key_id, by_run=run.id, now=now)
        self._end(session, run.id, "succeeded", metrics=metrics, version=version)
        return Registered(version=version, deployed=deploy, rollout=rollout)

    def reconcile(self, *, session: Session, run: TrainingRun, job: JobState) -> TrainingRun:
        """A run whose job ended without saying so (killed, crashed, stopped elsewhere)
        is marked failed or cancelled, never left running."""
        if run.status in TERMINAL or job.phase in ("pending", "running"):
            return run
        if job.phase == "stopped":
            return self.cancelled(session=session, run_id=run.id,
                                  reason="the Ray job was stopped")
        return self.failed(session=session, run_id=run.id, error=job.message or
                           f"the Ray job ended ({job.phase}) without registering a result")

    def _end(self, session: Session, run_id: str, status: str, *,
             metrics: dict[str, float] | None = None, version: str | None = None,
             error: str | None = None) -> TrainingRun:
        """Ends a run once: a run already ended keeps its first ending."""
        run = run_repo.get_run(session=session, run_id=run_id)
        if run.status in TERMINAL:
            return run
        now = self.clock()
        run.status, run.completed_at = status, now
        run.metrics = metrics if metrics is not None else run.metrics
        run.version = version or run.version
        run.error = (error or "")[:4000] or None
        session.add(run)
        session.flush()
        if run.options.get("notify_on_complete") and status in ("succeeded", "failed"):
            model = session.get(Model, run.model_id)
            assert model is not None  # foreign key
            webhook_repo.emit(
                session=session, account=run.account, now=now,
                type_=EventType.TRAINING_COMPLETED if status == "succeeded"
                else EventType.TRAINING_FAILED,
                data={"id": run.id, "model": model.name, "status": status,
                      "snapshot": run.snapshot_id, "version": run.version,
                      "metrics": run.metrics, "error": run.error,
                      "completed_at": format_timestamp(now)})
        return run


class TrainingService:
    """``POST /v1/train/{model}``, ``GET /v1/train/{run}``, ``POST .../cancel``."""

    def __init__(self, *, database: Database, backend: TrainingBackend | None,
                 plan: Callable[[], ResourcePlan], states: RunStates,
                 deadline: timedelta) -> None:
        """Args:
            deadline: how long a run may take from being queued to its end, whatever it
                waits for; past it the run fails saying so and its job is stopped.
        """
        self._database = database
        self._backend = backend
        self._plan = plan
        self._states = states
        self._deadline = deadline

    def _expire(self, session: Session, run: TrainingRun) -> TrainingRun:
        """Fails a run past its deadline, stopping its job first (best effort: a job
        Ray no longer knows is already stopped)."""
        if run.ray_job_id and self._backend is not None:
            try:
                self._backend.stop(run.ray_job_id)
            except Exception:
                logger.warning("could not stop job %s of overdue run %s", run.ray_job_id,
                               run.id, exc_info=True)
        return self._states.failed(
            session=session, run_id=run.id,
            error=f"the run did not finish within {self._deadline.total_seconds():g} s of "
            "being queued (PULSE_TRAIN_DEADLINE_S); its job was stopped")

    def _overdue(self, run: TrainingRun) -> bool:
        return run.status not in TERMINAL and \
            run.started_at <= self._states.clock() - self._deadline

    def expire_overdue(self) -> int:
        """Fails every account's runs past their deadline; how many (the replicas'
        sweep, so a run nobody asks about does not stay queued for ever)."""
        with self._database.session() as session:
            overdue = run_repo.open_runs_started_before(
                session=session, before=self._states.clock() - self._deadline)
            for run in overdue:
                self._expire(session, run)
        if overdue:
            logger.warning("%d training run(s) failed: past their deadline", len(overdue))
        return len(overdue)

    async def watch_deadlines(self, stop: asyncio.Event, interval_s: float = 30) -> None:
        """Runs :meth:`expire_overdue` every ``interval_s`` until ``stop``."""
        while not stop.is_set():
            try:
                await to_thread.run_sync(self.expire_overdue)
            except Exception:
                logger.exception("could not check training runs' deadlines")
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except TimeoutError:
                pass

    def _jobs(self) -> TrainingBackend:
        if self._backend is None:
            raise UnavailableError("Training needs the service running on Ray (pulse serve)")
        return self._backend

    def start(self, principal: Principal, model: str, body: TrainCreate) -> RunPublic:
        """Queues a run and submits its job; answers at once (blocking I/O).

        Raises:
            ValidationError: the snapshot does not fit the model, or the cluster can
                never run the options (``options.gpu``, ``options.num_workers``).
            UnavailableError: Ray would not take the job (the run is marked failed).
        """
        backend = self._jobs()
        plan = self._plan()
        plan.check_training(num_workers=body.options.num_workers, gpu=body.options.gpu)
        with self._database.session() as session:
            found = model_repo.get_model(session=session, name=model, account=principal.account)
            snapshot, _ = snapshot_repo.get_snapshot(session=session, snapshot_id=body.snapshot,
                                                     account=principal.account)
            run = self._states.create(session=session, model=found, snapshot=snapshot,
                                      options=body.options, key_id=principal.key_id, plan=plan)
        try:
            submitted = self._states.submit(self._database, backend, run)
        except Exception as exc:
            raise UnavailableError("Could not submit the training job to Ray; retry shortly",
                                   retry_after_s=10) from exc
        return submitted.public(found.name)

    def get(self, principal: Principal, run_id: str) -> RunDetail:
        """A run as it stands, reconciled with its job, with the job's log tail."""
        backend = self._jobs()
        with self._database.session() as session:
            run, found = run_repo.get_run_with_model(session=session, run_id=run_id,
                                                     account=principal.account)
            if run.ray_job_id and run.status not in TERMINAL:
                run = self._states.reconcile(session=session, run=run,
                                             job=backend.state(run.ray_job_id))
            if self._overdue(run):
                run = self._expire(session, run)
        logs = backend.logs(run.ray_job_id) if run.ray_job_id else None
        return run.detail(found.name, logs)

    def cancel(self, principal: Principal, run_id: str) -> RunDetail:
        """Stops the run's job; the run ends cancelled.

        Raises:
            ConflictError: the run already ended.
        """
        backend = self._jobs()
        with self._database.session() as session:
            run, found = run_repo.get_run_with_model(session=session, run_id=run_id,
                                                     account=principal.account)
            if run.status in TERMINAL:
                raise ConflictError(f"Run {run_id} already ended ({run.status})")
            if run.ray_job_id:
                backend.stop(run.ray_job_id)
            run = self._states.cancelled(session=session, run_id=run.id,
                                         reason="cancelled on request")
        return run.detail(found.name, None)

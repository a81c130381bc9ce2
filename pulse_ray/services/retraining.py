"""Retraining, the controller's loop: each pass begins a retrain for every policy that
is due (:func:`pulse_ray.retrain.due`) and moves each retrain in progress one step on.

A retrain (:class:`~pulse_ray.store.tables.RetrainAttempt`) is ``preparing`` — a fresh
snapshot of the datasource the deployed version was trained from, the labelled feedback
split by time into the rows trained on and the holdout (the latest labelled window,
:mod:`pulse_ray.retrain_data`), the two joined into a snapshot of that datasource, and a
normal training run of it (the champion's options, ``deploy: never``) — then
``training`` until its run ends, then judged: the new version and the champion on the
same holdout, :func:`pulse_ray.retrain.judge`. Promoted: a canary of it starts (the
rollout path; at once when nothing is deployed). Otherwise the version stays a
candidate, its evaluation saying "not promoted" with both figures.

Its state is in the store, one transaction a step, so a restarted controller picks each
attempt up where it stood (a ``preparing`` one is prepared again: the snapshot of
unchanged data is the same one).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from anyio import to_thread
from sqlmodel import Session

from pulse_ray.capacity import ResourcePlan
from pulse_ray.config import Settings
from pulse_ray.errors import PulseError
from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.retrain import due, holdout_size, judge, parse_schedule
from pulse_ray.retrain_data import feedback_rows
from pulse_ray.schemas.snapshots import SnapshotOptions
from pulse_ray.schemas.training import TERMINAL, TrainOptions
from pulse_ray.services.loops import every
from pulse_ray.services.rollouts import canary_policy
from pulse_ray.services.snapshots import SnapshotService
from pulse_ray.services.training import RunStates, TrainingBackend
from pulse_ray.snapshots import LocalSnapshotRunner, SnapshotJob
from pulse_ray.sources import DatasourceType, SourceSpec
from pulse_ray.store import Database
from pulse_ray.store import models as model_repo
from pulse_ray.store import retrain as repo
from pulse_ray.store import rollouts as rollout_repo
from pulse_ray.store import runs as run_repo
from pulse_ray.store import snapshots as snapshot_repo
from pulse_ray.store.tables import Datasource, Model, RetrainAttempt, Snapshot, TrainingRun
from pulse_ray.timeutil import Clock

__all__ = ["Evaluator", "RetrainLoop", "evaluate_artifact"]

logger = logging.getLogger(__name__)

Evaluator = Callable[[str, pa.Table], dict[str, float]]
"""A version's metrics (by its artifact URI) on a holdout table."""


def evaluate_artifact(artifact_uri: str, holdout: pa.Table) -> dict[str, float]:
    """Loads the version and scores it (torch). The only step of the controller that
    needs torch, so the modules that do are imported here, at the first judgement, not
    when the controller starts: its rollout and drift loops never load them."""
    from pulse_ray.models.artifacts import TrainedModel
    from pulse_ray.models.evaluation import holdout_metrics

    return holdout_metrics(TrainedModel.load(artifact_uri), holdout)


class RetrainFailed(Exception):
    """A retrain cannot go on; its message says why (kept on the attempt)."""


@dataclass(frozen=True, slots=True)
class _Source:
    """What a retrain starts from: the model, the datasource its deployed (else latest)
    version was trained from, and that version's run options."""

    account: str
    datasource: str
    options: TrainOptions


class RetrainLoop:
    def __init__(self, *, database: Database, clock: Clock, settings: Settings,
                 snapshots: SnapshotService, backend: TrainingBackend, states: RunStates,
                 plan: Callable[[], ResourcePlan], evaluate: Evaluator = evaluate_artifact
                 ) -> None:
        self._database = database
        self._clock = clock
        self._settings = settings
        self._snapshots = snapshots
        self._backend = backend
        self._states = states
        self._plan = plan
        self._evaluate = evaluate

    async def tick(self) -> None:
        """Begins the due retrains, then moves every one in progress a step on."""
        await to_thread.run_sync(self.begin_due)
        with self._database.session() as session:
            ids = [a.id for a in repo.open_attempts(session=session)]
        for attempt_id in ids:
            await self._step(attempt_id)

    def begin_due(self) -> list[str]:
        """A retrain for each policy that is due now (none while one is in progress)."""
        begun = []
        now = self._clock()
        with self._database.session() as session:
            for policy in repo.all_policies(session=session):
                model = session.get(Model, policy.model_id)
                assert model is not None  # foreign key
                since = policy.last_retrain_at or policy.created_at
                verdict = due(
                    schedule=parse_schedule(policy.schedule), since=since, now=now,
                    new_labels=repo.labels_since(session=session, model=model, since=since),
                    min_new_labels=policy.min_new_labels, on_drift=policy.on_drift,
                    drifted_since=repo.drifted_since(session=session, model=model,
                                                     since=since))
                if not verdict.due:
                    continue
                attempt = repo.start_attempt(session=session, policy=policy,
                                             reason=verdict.reason, now=now)
                if attempt is not None:
                    logger.info("retrain %s of %s begins (%s)", attempt.id, model.name,
                                verdict.reason)
                    begun.append(attempt.id)
        return begun

    async def _step(self, attempt_id: str) -> None:
        try:
            with self._database.session() as session:
                attempt = session.get(RetrainAttempt, attempt_id)
                status = attempt.status if attempt is not None else None
            if status == "preparing":
                await self._prepare(attempt_id)
            elif status == "training":
                await to_thread.run_sync(self._after_training, attempt_id)
        except (RetrainFailed, PulseError, ValueError, pa.ArrowException) as exc:
            # What retrying would not change: the attempt fails saying so, and the
            # policy waits for its next due time.
            logger.warning("retrain %s failed: %s", attempt_id, exc)
            with self._database.session() as session:
                attempt = session.get(RetrainAttempt, attempt_id)
                if attempt is not None and attempt.active_model_id is not None:
                    repo.end_attempt(session=session, attempt=attempt, status="failed",
                                     now=self._clock(), error=str(exc))

    # --- preparing ----------------------------------------------------------------

    def _source(self, attempt_id: str) -> _Source:
        with self._database.session() as session:
            attempt = session.get(RetrainAttempt, attempt_id)
            model = session.get(Model, attempt.model_id) if attempt else None
            assert attempt is not None and model is not None
            base = model_repo.deployed_version(session=session, model_id=model.id) \
                or model_repo.latest_version(session=session, model_id=model.id)
            if base is None:
                raise RetrainFailed(f"model '{model.name}' has no version to retrain from")
            snapshot = run_repo.snapshot_of(session=session, version=base)
            datasource = session.get(Datasource, snapshot.datasource_id)
            run = run_repo.get_run(session=session, run_id=base.run_id)
            assert datasource is not None  # foreign key
            options = TrainOptions.model_validate({**run.options, "deploy": "never"})
            return _Source(account=model.account, datasource=datasource.name,
                           options=options)

    async def _prepare(self, attempt_id: str) -> None:
        source = await to_thread.run_sync(self._source, attempt_id)
        fresh, _ = await self._snapshots.take(account=source.account,
                                              datasource=source.datasource,
                                              options=SnapshotOptions())
        run = await to_thread.run_sync(self._join_and_queue, attempt_id, fresh.id,
                                       source.options)
        try:
            await to_thread.run_sync(self._states.submit, self._database, self._backend, run)
        except Exception as exc:
            raise RetrainFailed(f"could not submit run {run.id}: {exc}") from exc

    def _join_and_queue(self, attempt_id: str, fresh_id: str,
                        options: TrainOptions) -> TrainingRun:
        """The fresh snapshot joined with the feedback trained on, recorded as a
        snapshot of the same datasource; the holdout written beside; the run queued."""
        with self._database.session() as session:
            attempt = session.get(RetrainAttempt, attempt_id)
            assert attempt is not None
            model = session.get(Model, attempt.model_id)
            fresh = session.get(Snapshot, fresh_id)
            assert model is not None and fresh is not None
            labelled = repo.labelled_inputs(session=session, model=model)
            held = holdout_size(len(labelled), fraction=self._settings.retrain_holdout_fraction)
            if held < self._settings.retrain_min_holdout_rows:
                raise RetrainFailed(
                    f"{len(labelled)} labelled inference(s) with their inputs kept give a "
                    f"holdout of {held}; PULSE_RETRAIN_MIN_HOLDOUT_ROWS is "
                    f"{self._settings.retrain_min_holdout_rows}")
            base = pads.dataset(fresh.uri, format="parquet").to_table()
            train_rows = feedback_rows(labelled[:-held], schema=base.schema,
                                       label=model.label_column)
            holdout = feedback_rows(labelled[-held:], schema=base.schema,
                                    label=model.label_column)
            root = f"{self._settings.snapshot_uri.rstrip('/')}/retrain/{attempt.id}"
            _write(pa.concat_tables([base, train_rows]), f"{root}/train/part-0.parquet")
            _write(holdout, f"{root}/holdout.parquet")
            datasource = session.get(Datasource, fresh.datasource_id)
            assert datasource is not None  # foreign key
            joined = self._record_joined(session, datasource, f"{root}/train")
            plan = self._plan()
            plan.check_training(num_workers=options.num_workers, gpu=options.gpu)
            run = self._states.create(session=session, model=model, snapshot=joined,
                                      options=options, key_id=None, plan=plan)
            attempt.status, attempt.run_id = "training", run.id
            attempt.base_snapshot_id, attempt.snapshot_id = fresh.id, joined.id
            attempt.holdout_uri = f"{root}/holdout.parquet"
            attempt.feedback_rows, attempt.holdout_rows = train_rows.num_rows, held
            session.add(attempt)
            session.flush()
            return run

    def _record_joined(self, session: Session, datasource: Datasource,
                       path: str) -> Snapshot:
        """The joined rows as a snapshot of ``datasource`` (hashed and stored as any),
        so the run's lineage reads run → snapshot → datasource as for any other."""
        job = SnapshotJob(snapshot_id=new_id(IdPrefix.SNAPSHOT, now=self._clock()),
                          source=SourceSpec(type=DatasourceType.PARQUET, path=path),
                          storage_uri=self._settings.snapshot_uri, compression="zstd")
        result = LocalSnapshotRunner().run_sync(job)
        snapshot, _ = snapshot_repo.record(session=session, datasource=datasource, job=job,
                                           result=result, force=False, now=self._clock())
        return snapshot

    # --- training, then the judgement ---------------------------------------------

    def _after_training(self, attempt_id: str) -> None:
        with self._database.session() as session:
            attempt = session.get(RetrainAttempt, attempt_id)
            assert attempt is not None and attempt.run_id is not None
            run = run_repo.get_run(session=session, run_id=attempt.run_id)
            if run.status not in TERMINAL and run.ray_job_id:
                run = self._states.reconcile(session=session, run=run,
                                             job=self._backend.state(run.ray_job_id))
            if run.status not in TERMINAL:
                return  # next pass
            if run.status != "succeeded" or run.version is None:
                raise RetrainFailed(f"run {run.id} {run.status}: {run.error}")
            self._judge(session, attempt, run.version)

    def _judge(self, session: Session, attempt: RetrainAttempt, version: str) -> None:
        model = session.get(Model, attempt.model_id)
        assert model is not None and attempt.holdout_uri is not None
        now = self._clock()
        candidate = model_repo.get_version(session=session, model=model, version=version)
        champion = model_repo.deployed_version(session=session, model_id=model.id)
        holdout = pads.dataset(attempt.holdout_uri, format="parquet").to_table()
        verdict = judge(
            metric=attempt.metric,
            candidate=self._evaluate(candidate.artifact_uri, holdout)[attempt.metric],
            champion=self._evaluate(champion.artifact_uri, holdout)[attempt.metric]
            if champion is not None else None,
            champion_version=champion.version if champion is not None else None,
            margin=attempt.promotion_margin, holdout_rows=holdout.num_rows)
        candidate.evaluation = verdict.to_json()
        session.add(candidate)
        attempt.version, attempt.candidate_metric = version, verdict.candidate
        attempt.champion_version, attempt.champion_metric = (verdict.champion_version,
                                                             verdict.champion)
        status, error = "not_promoted", None
        if verdict.promoted and champion is None:
            model_repo.deploy_version(session=session, model=model, version=version,
                                      by_key=None, by_run=attempt.run_id, now=now,
                                      reason="retrain promoted", figures=verdict.to_json())
            status = "promoted"
        elif verdict.promoted:
            running = rollout_repo.active_rollout(session=session, account=model.account,
                                                  model_id=model.id)
            if running is None:
                attempt.rollout_id = rollout_repo.start_rollout(
                    session=session, model=model, version=version,
                    policy=canary_policy(self._settings), by_key=None, by_run=attempt.run_id,
                    now=now).id
                status = "promoted"
            else:
                error = f"better, but rollout {running.id} was running: kept as a candidate"
        repo.end_attempt(session=session, attempt=attempt, status=status, now=now,
                         error=error)
        logger.info("retrain %s of %s: %s %s %s vs %s", attempt.id, model.name, status,
                    attempt.metric, verdict.candidate, verdict.champion)

    async def run(self, stopping: asyncio.Event) -> None:
        """Passes every ``retrain_interval_s`` until ``stopping`` is set."""
        await every(self._settings.retrain_interval_s, self.tick, stopping,
                    name="retrain loop")


def _write(table: pa.Table, uri: str) -> None:
    filesystem, path = pafs.FileSystem.from_uri(uri)
    filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
    pq.write_table(table, path, filesystem=filesystem, compression="zstd")

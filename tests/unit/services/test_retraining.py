"""The retrain loop without Ray, on a fake clock: a due policy becomes a retrain that
snapshots the datasource afresh, appends the labelled feedback (the latest held out),
queues a normal run of it, and — once the run's version is registered — judges it
against the champion on the holdout: a canary when better by the margin, a candidate
marked "not promoted" with both figures otherwise."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as pads
import pytest
from sqlmodel import col, select

from pulse_ray.config import Settings
from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.schemas.datasources import DatasourceCreate
from pulse_ray.schemas.models import ModelCreate
from pulse_ray.schemas.retrain import RetrainPolicyBody
from pulse_ray.schemas.snapshots import SnapshotOptions
from pulse_ray.schemas.training import TrainOptions
from pulse_ray.services.retrain import RetrainService
from pulse_ray.services.retraining import RetrainLoop
from pulse_ray.services.snapshots import SnapshotService
from pulse_ray.services.timeline import timeline
from pulse_ray.services.training import JobState, RunSpec, RunStates
from pulse_ray.snapshots import LocalSnapshotRunner
from pulse_ray.store import Database
from pulse_ray.store import datasources as datasource_repo
from pulse_ray.store import feedback as feedback_repo
from pulse_ray.store import models as model_repo
from pulse_ray.store import rollouts as rollout_repo
from pulse_ray.store import runs as run_repo
from pulse_ray.store.tables import (
    InferenceRecord,
    RetrainAttempt,
    RetrainPolicy,
    Rollout,
    Snapshot,
    WebhookEndpoint,
    WebhookMessage,
)

from .conftest import PLAN, T0

LABELS = 50  # feedback rows; the latest 10 (20 %) are the holdout


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> Any:
        return self.now


class Jobs:
    """Ray Jobs as the loop sees them: submitted, then running until told otherwise."""

    def __init__(self) -> None:
        self.submitted: list[str] = []
        self.phase = "running"

    def submit(self, spec: RunSpec) -> str:
        self.submitted.append(spec.run_id)
        return f"job-{spec.run_id}"

    def state(self, job_id: str) -> JobState:
        return JobState(self.phase)  # type: ignore[arg-type]

    def logs(self, job_id: str, lines: int = 40) -> str:
        return ""

    def stop(self, job_id: str) -> None:
        self.phase = "stopped"


class World:
    def __init__(self, settings: Settings, database: Database, tmp_path: Path,
                 figures: dict[str, float]) -> None:
        self.settings, self.database, self.tmp_path = settings, database, tmp_path
        self.clock, self.jobs = Clock(), Jobs()
        self.states = RunStates(clock=self.clock, artifact_uri=str(tmp_path / "artifacts"))
        self.snapshots = SnapshotService(
            database=database, runner=LocalSnapshotRunner(),
            storage_uri=settings.snapshot_uri, plan=lambda: PLAN, clock=self.clock,
            deadline_s=60)
        self.evaluated: list[int] = []

        def evaluate(uri: str, holdout: pa.Table) -> dict[str, float]:
            self.evaluated.append(holdout.num_rows)
            return {"f1_score": figures[uri.rsplit("/", 1)[1].split("-")[0]]}

        self.evaluate = evaluate
        self.restart()

    def restart(self) -> None:
        self.loop = RetrainLoop(database=self.database, clock=self.clock,
                                settings=self.settings, snapshots=self.snapshots,
                                backend=self.jobs, states=self.states, plan=lambda: PLAN,
                                evaluate=self.evaluate)

    def tick(self, after_s: float = 60) -> None:
        self.clock.now += timedelta(seconds=after_s)
        asyncio.run(self.loop.tick())

    def train(self, run_id: str, digest: str) -> None:
        """What the run's job does: registers its version (deploy per its options)."""
        for name in ("model.pt", "model.json"):
            (self.tmp_path / name).write_bytes(b"")
        with self.database.session() as session:
            spec = self.states.started(session=session, run_id=run_id)
            self.states.register(session=session, spec=spec, saved=self.tmp_path,
                                 digest=digest, metrics={"f1_score": 0.5},
                                 input_schema={"fields": {}})

    def attempt(self) -> RetrainAttempt:
        with self.database.session() as session:
            latest = session.exec(select(RetrainAttempt).order_by(
                col(RetrainAttempt.id).desc())).first()
            assert latest is not None
            return latest


def _setup(world: World, *, min_new_labels: int = 20, margin: float = 0.01) -> None:
    """fraud-detector trained on a CSV of 100 rows and deployed (1.0.0), 50 of its
    predictions labelled, a daily policy set two days ago."""
    csv = world.tmp_path / "tx.csv"
    pacsv.write_csv(pa.table({"amount": [float(i) for i in range(100)],
                              "merchant": ["food"] * 100,
                              "is_fraud": [i % 10 == 0 for i in range(100)]}), csv)
    with world.database.session() as session:
        datasource_repo.create_datasource(session=session, datasource_create=DatasourceCreate(
            name="tx", type="csv", path=str(csv)), account="acme", now=T0)
        model_repo.create_model(session=session, model_create=ModelCreate.model_validate({
            "name": "fraud-detector", "label_column": "is_fraud"}), account="acme", now=T0)
    first, _ = asyncio.run(world.snapshots.take(account="acme", datasource="tx",
                                                options=SnapshotOptions()))
    with world.database.session() as session:
        model = model_repo.get_model(session=session, name="fraud-detector", account="acme")
        snapshot = session.get(Snapshot, first.id)
        assert snapshot is not None
        run = world.states.create(session=session, model=model, snapshot=snapshot,
                                  options=TrainOptions(deploy="always", epochs=3),
                                  key_id=None, plan=PLAN)
    world.train(run.id, "aaaaaa")
    with world.database.session() as session:
        model = model_repo.get_model(session=session, name="fraud-detector", account="acme")
        for i in range(LABELS):
            made = T0 + timedelta(minutes=i)
            record = InferenceRecord(
                id=new_id(IdPrefix.INFERENCE, now=made), account="acme", model_id=model.id,
                version="1.0.0-aaaaaa", latency_ms=1.0, cached=False, created_at=made,
                inputs={"amount": 1000.0 + i, "merchant": "crypto"}, prediction=True)
            session.add(record)
            session.flush()
            feedback_repo.add_feedback(session=session, record=record, label=i % 2 == 0,
                                       key_id=None, now=made)
        RetrainService().put(session=session, model=model, now=T0, body=RetrainPolicyBody(
            schedule="daily", min_new_labels=min_new_labels, promotion_margin=margin))
    world.clock.now = T0 + timedelta(days=2)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "pulse", retrain_min_holdout_rows=5,  # type: ignore[call-arg]
                    retrain_holdout_fraction=0.2)


def test_a_better_retrain_is_trained_on_feedback_and_deployed_through_a_canary(
        settings: Settings, database: Database, tmp_path: Path) -> None:
    world = World(settings, database, tmp_path, {"1.0.0": 0.70, "1.1.0": 0.80})
    _setup(world)
    world.tick()
    attempt = world.attempt()
    assert (attempt.status, attempt.reason) == ("training", "schedule")
    assert (attempt.feedback_rows, attempt.holdout_rows) == (40, 10)
    assert world.jobs.submitted == [attempt.run_id]
    with database.session() as session:
        run = run_repo.get_run(session=session, run_id=attempt.run_id or "")
        joined = session.get(Snapshot, run.snapshot_id)
        assert joined is not None and joined.id == attempt.snapshot_id
        assert joined.rows == 100 + 40  # the fresh snapshot and the feedback trained on
        assert run.options["deploy"] == "never" and run.options["epochs"] == 3
    trained = pads.dataset(joined.uri, format="parquet").to_table()
    amounts = trained["amount"].to_pylist()
    assert 1039 in amounts and 1040 not in amounts  # the latest ten: held out
    holdout = pads.dataset(attempt.holdout_uri or "", format="parquet").to_table()
    assert holdout["amount"].to_pylist() == [1040.0 + i for i in range(10)]
    assert holdout["is_fraud"].to_pylist() == [i % 2 == 0 for i in range(40, 50)]

    world.tick()  # the run is still going
    assert world.attempt().status == "training"
    world.train(attempt.run_id or "", "bbbbbb")
    world.tick()
    attempt = world.attempt()
    assert attempt.status == "promoted"
    assert (attempt.candidate_metric, attempt.champion_metric) == (0.80, 0.70)
    assert world.evaluated == [10, 10]  # both on the same holdout
    with database.session() as session:
        model = model_repo.get_model(session=session, name="fraud-detector", account="acme")
        rollout = rollout_repo.latest_rollout(session=session, model=model)
        assert (rollout.id, rollout.candidate_version, rollout.status) == (
            attempt.rollout_id, "1.1.0-bbbbbb", "running")
        assert rollout.run_id == attempt.run_id
        version = model_repo.get_version(session=session, model=model, version="1.1.0-bbbbbb")
        assert version.public().evaluation == {
            "metric": "f1_score", "candidate": 0.80, "champion": 0.70,
            "champion_version": "1.0.0-aaaaaa", "margin": 0.01, "holdout_rows": 10,
            "promoted": True}
        policy = RetrainService().get(session=session, model=model, now=world.clock())
    assert [(a.status, a.run, a.rollout) for a in policy.attempts] == [
        ("promoted", attempt.run_id, attempt.rollout_id)]
    assert policy.status.new_labels == 0  # spent by this retrain

    # The canary ends promoted: model.updated says by how much it was better, and the
    # timeline says why each version was live and how its predictions fared.
    with database.session() as session:
        session.add(WebhookEndpoint(id="wh_1", account="acme", url="http://h", secret="s",
                                    events=["model.updated"], created_at=T0))
        rollout = session.get(Rollout, attempt.rollout_id)
        assert rollout is not None
        rollout_repo.finish(session=session, rollout=rollout, ending="promoted",
                            reason="healthy at 100%", figures={}, by_key=None,
                            now=world.clock())
        updated = session.exec(select(WebhookMessage)).one()
        model = model_repo.get_model(session=session, name="fraud-detector", account="acme")
        line = timeline(session=session, model=model)
    assert updated.payload["data"]["evaluation"]["champion"] == 0.70
    assert updated.payload["data"]["evaluation"]["candidate"] == 0.80
    assert [(p.version, p.reason, p.ended_at is None) for p in line.periods] == [
        ("1.1.0-bbbbbb", "retrain_promoted", True), ("1.0.0-aaaaaa", "training", False)]
    assert line.periods[0].evaluation == version.public().evaluation
    champion = line.periods[1].outcomes  # it said fraud each time; half were
    assert (champion.labelled, champion.scored, champion.accuracy) == (50, 50, 0.5)


def test_a_challenger_not_better_by_the_margin_is_kept_not_promoted(
        settings: Settings, database: Database, tmp_path: Path) -> None:
    world = World(settings, database, tmp_path, {"1.0.0": 0.70, "1.1.0": 0.705})
    _setup(world, margin=0.01)
    world.tick()
    world.train(world.attempt().run_id or "", "bbbbbb")
    world.restart()  # a new controller knows only the store: it carries the attempt on
    world.tick()
    attempt = world.attempt()
    assert (attempt.status, attempt.candidate_metric, attempt.champion_metric) == (
        "not_promoted", 0.705, 0.70)
    with database.session() as session:
        model = model_repo.get_model(session=session, name="fraud-detector", account="acme")
        version = model_repo.get_version(session=session, model=model, version="1.1.0-bbbbbb")
        assert version.status == "candidate"
        assert version.evaluation is not None and version.evaluation["promoted"] is False
        assert model_repo.deployed_version(session=session,
                                           model_id=model.id).version == "1.0.0-aaaaaa"
        assert rollout_repo.active_rollout(session=session, account="acme",
                                           model_id=model.id) is None
    world.tick(after_s=3600)  # not due again until the next midnight
    assert world.attempt().id == attempt.id


def test_a_failed_run_fails_the_retrain_and_too_few_labels_say_so(
        settings: Settings, database: Database, tmp_path: Path) -> None:
    world = World(settings, database, tmp_path, {})
    _setup(world)
    world.tick()
    world.jobs.phase = "failed"
    world.tick()
    failed = world.attempt()
    assert failed.status == "failed" and failed.active_model_id is None
    assert f"run {failed.run_id} failed" in (failed.error or "")

    strict = Settings(data_dir=settings.data_dir,  # type: ignore[call-arg]
                      retrain_min_holdout_rows=11)
    world.loop = RetrainLoop(database=database, clock=world.clock, settings=strict,
                             snapshots=world.snapshots, backend=world.jobs,
                             states=world.states, plan=lambda: PLAN)
    world.tick(after_s=86_400)  # the next day's schedule; labels since: none
    assert world.attempt().id == failed.id
    with database.session() as session:
        policy = session.exec(select(RetrainPolicy)).one()
        policy.min_new_labels = 0
        session.add(policy)
    world.tick(after_s=86_400)
    short = world.attempt()
    assert short.status == "failed"
    assert "holdout of 10; PULSE_RETRAIN_MIN_HOLDOUT_ROWS is 11" in (short.error or "")

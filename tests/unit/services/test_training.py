"""The run state machine, without Ray: every move a run makes, its spec, registration
and the deploy decision, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from pulse_ray.errors import ConflictError, ValidationError
from pulse_ray.schemas.training import TrainOptions
from pulse_ray.services.training import JobState, RunSpec, RunStates
from pulse_ray.store import Database
from pulse_ray.store import models as model_repo
from pulse_ray.store import runs as run_repo
from pulse_ray.store import webhooks as webhook_repo
from pulse_ray.store.tables import Model, Snapshot, WebhookMessage

from .conftest import PLAN, T0, model_and_snapshot


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def states(tmp_path: Path) -> RunStates:
    return RunStates(clock=Clock(), artifact_uri=str(tmp_path / "models"))


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """A trained model as the job saves it (what registration publishes)."""
    directory = tmp_path / "saved"
    directory.mkdir()
    (directory / "model.pt").write_bytes(b"weights")
    (directory / "model.json").write_text("{}")
    return directory


def test_a_run_is_created_queued_with_its_spec_fixed(database: Database,
                                                     states: RunStates) -> None:
    with database.session() as session:
        model, snapshot = model_and_snapshot(session)
        run = states.create(session=session, model=model, snapshot=snapshot,
                            options=TrainOptions(epochs=7), key_id="key_1", plan=PLAN)
        assert run.status == "queued" and run.ray_job_id is None
        spec = RunSpec.from_json(run.spec or {})
    assert spec.features == ("transaction_amount", "merchant_category")  # not id, not label
    assert (spec.label, spec.snapshot_uri, spec.options.epochs) == (
        "is_fraud", "/s/snap_fraud-detector", 7)
    assert (spec.worker_cpus, spec.data_cpus) == (PLAN.train_worker_cpus, PLAN.train_data_cpus)
    assert spec.constraints == {"transaction_amount": {"exclusive_minimum": 0.0,
                                                       "required": False}}
    assert RunSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(("rows", "options", "single"), [
    (1, {}, True),
    (20_000, {}, True),
    (20_001, {}, False),  # over PULSE_TRAIN_DIRECT_MAX_ROWS: Ray Train
    (1, {"num_workers": 2}, False),
    (1, {"gpu": True}, False),
    (0, {}, False),  # a run created before specs carried rows
])
def test_only_small_one_worker_cpu_runs_train_in_one_process(
        database: Database, states: RunStates, rows: int, options: dict[str, object],
        single: bool) -> None:
    with database.session() as session:
        model, snapshot = model_and_snapshot(session)
        snapshot.rows = rows
        run = states.create(session=session, model=model, snapshot=snapshot,
                            options=TrainOptions.model_validate(options), key_id=None,
                            plan=PLAN)
        spec = RunSpec.from_json(run.spec or {})
    assert spec.rows == rows
    assert spec.single_process(max_rows=20_000) is single
    assert not spec.single_process(max_rows=0)  # 0: every run as a Ray Job


def test_a_snapshot_that_does_not_fit_the_model_makes_no_run(database: Database,
                                                             states: RunStates) -> None:
    with database.session() as session:
        model, snapshot = model_and_snapshot(
            session, constraints={"no_such_column": {"minimum": 0}})
        with pytest.raises(ValidationError) as refused:
            states.create(session=session, model=model, snapshot=snapshot,
                          options=TrainOptions(), key_id=None, plan=PLAN)
        assert refused.value.details[0].field == "constraints.no_such_column"


def test_a_run_moves_queued_running_succeeded_and_ends_once(
        database: Database, states: RunStates, saved: Path) -> None:
    with database.session() as session:
        model, snapshot = model_and_snapshot(session)
        webhook_repo.create_endpoint(session=session, account="a", url="https://h.example/x",
                                     events=["training.completed", "model.updated"],
                                     description=None, secret="whsec_x", now=T0)
        run = states.create(session=session, model=model, snapshot=snapshot,
                            options=TrainOptions(notify_on_complete=True), key_id="key_1",
                            plan=PLAN)
        states.submitted(session=session, run_id=run.id, job_id="pulse-job")
        states.submitted(session=session, run_id=run.id, job_id="another")  # keeps the first
        spec = states.started(session=session, run_id=run.id)
        states.epoch(session=session, run_id=run.id, metrics={"epoch": 0, "loss": 0.5})
        registered = states.register(session=session, spec=spec, saved=saved, digest="abc123",
                                     metrics={"f1_score": 0.4}, input_schema={"fields": {}})
        states.failed(session=session, run_id=run.id, error="too late")  # ignored: it ended
        run = run_repo.get_run(session=session, run_id=run.id)
        events = [m.type for m in session.exec(select(WebhookMessage))]
    assert (registered.version, registered.deployed) == ("1.0.0-abc123", True)
    assert (run.status, run.ray_job_id, run.version, run.error) == (
        "succeeded", "pulse-job", "1.0.0-abc123", None)
    assert run.running_at is not None and run.completed_at is not None
    assert run.epochs == [{"epoch": 0, "loss": 0.5, "reported_at": run.epochs[0]["reported_at"]}]
    assert T0.timestamp() < run.epochs[0]["reported_at"] < run.completed_at.timestamp()
    assert Path(states.artifact_uri, "a", "fraud-detector", "1.0.0-abc123", "model.pt").exists()
    assert sorted(events) == ["model.updated", "training.completed"]


def test_a_run_cancelled_while_it_trains_registers_no_version(
        database: Database, states: RunStates, saved: Path) -> None:
    with database.session() as session:
        model, snapshot = model_and_snapshot(session)
        run = states.create(session=session, model=model, snapshot=snapshot,
                            options=TrainOptions(), key_id=None, plan=PLAN)
        spec = states.started(session=session, run_id=run.id)
        states.cancelled(session=session, run_id=run.id, reason="cancelled on request")
        with pytest.raises(ConflictError, match="already ended"):
            states.register(session=session, spec=spec, saved=saved, digest="abc123",
                            metrics={"f1_score": 0.4}, input_schema={"fields": {}})
        assert model_repo.latest_version(session=session, model_id=model.id) is None
        assert run_repo.get_run(session=session, run_id=run.id).status == "cancelled"


def test_versions_count_up_and_deploy_only_when_asked_or_better(
        database: Database, states: RunStates, saved: Path) -> None:
    def run(session: Session, model: Model, snapshot: Snapshot, deploy: str, f1: float,
            schema: dict[str, object]) -> tuple[str, bool]:
        created = states.create(session=session, model=model, snapshot=snapshot,
                                options=TrainOptions(deploy=deploy), key_id=None, plan=PLAN)
        spec = states.started(session=session, run_id=created.id)
        done = states.register(session=session, spec=spec, saved=saved,
                               digest=f"{int(f1 * 100):06d}", metrics={"f1_score": f1},
                               input_schema=schema)
        return done.version, done.deployed

    same, changed = {"fields": {}}, {"fields": {"x": {"type": "number", "nullable": True}}}
    new_words = {"fields": {"x": {"type": "number", "nullable": True, "categories": ["a"]}}}
    with database.session() as session:
        model, snapshot = model_and_snapshot(session)
        assert run(session, model, snapshot, "auto", 0.30, same) == ("1.0.0-000030", True)
        assert run(session, model, snapshot, "auto", 0.20, same) == ("1.1.0-000020", False)
        assert run(session, model, snapshot, "never", 0.90, same) == ("1.2.0-000090", False)
        assert run(session, model, snapshot, "always", 0.10, changed) == ("2.0.0-000010", True)
        deployed = model_repo.deployed_version(session=session, model_id=model.id)
        assert deployed is not None and deployed.version == "2.0.0-000010"
        # Other categories seen in training ask nothing new of a client: a minor version.
        assert run(session, model, snapshot, "never", 0.50, new_words) == ("2.1.0-000050",
                                                                           False)


@pytest.mark.parametrize(("job", "status", "error"), [
    (JobState("running"), "running", None),
    (JobState("stopped"), "cancelled", "the Ray job was stopped"),
    (JobState("failed", "worker died: OOM"), "failed", "worker died: OOM"),
    (JobState("succeeded"), "failed", "the Ray job ended (succeeded) without registering "
     "a result"),
])
def test_a_run_whose_job_ended_without_a_word_is_reconciled(
        database: Database, states: RunStates, job: JobState, status: str,
        error: str | None) -> None:
    with database.session() as session:
        model, snapshot = model_and_snapshot(session)
        run = states.create(session=session, model=model, snapshot=snapshot,
                            options=TrainOptions(), key_id=None, plan=PLAN)
        states.started(session=session, run_id=run.id)
        run = states.reconcile(session=session, run=run, job=job)
    assert (run.status, run.error) == (status, error)

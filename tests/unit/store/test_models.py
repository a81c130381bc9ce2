"""Registry operations on SQLite and PostgreSQL: one deployed version, history, rollback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from pulse_ray.capacity import Resources, plan_resources
from pulse_ray.config import Settings
from pulse_ray.errors import ConflictError, NotFoundError
from pulse_ray.schemas.datasources import DatasourceCreate
from pulse_ray.schemas.models import ModelCreate
from pulse_ray.schemas.training import TrainOptions
from pulse_ray.services.training import RunStates
from pulse_ray.store import Database
from pulse_ray.store import datasources as ds_repo
from pulse_ray.store import models as repo
from pulse_ray.store.tables import Model, Snapshot

T0 = datetime(2024, 1, 15, tzinfo=UTC)
PLAN = plan_resources(Settings(_env_file=None), Resources(cpus=4))  # type: ignore[call-arg]


def _model_with_versions(session: Session, count: int) -> Model:
    model = repo.create_model(session=session, model_create=ModelCreate(
        name="fraud-detector", label_column="is_fraud"), account="a", now=T0)
    source = ds_repo.create_datasource(session=session, datasource_create=DatasourceCreate(
        name="tx", type="csv", path="/tmp/x.csv"), account="a", now=T0)
    snapshot = Snapshot(id="snap_1", account="a", datasource_id=source.id, rows=1,
                        size_bytes=1, hash="sha256:0", compression="zstd", uri="/tmp/s",
                        columns=[{"name": "is_fraud", "type": "bool"},
                                 {"name": "transaction_amount", "type": "double"}],
                        files=[], created_at=T0)
    session.add(snapshot)
    for i in range(count):
        run = RunStates(clock=lambda i=i: T0 + timedelta(seconds=i)).create(
            session=session, model=model, snapshot=snapshot, options=TrainOptions(),
            key_id=None, plan=PLAN)
        repo.register_version(session=session, model=model, version=f"1.{i}.0-abcdef",
                              run_id=run.id, metrics={"f1_score": 0.5 + i / 10},
                              input_schema={}, artifact_uri=f"/m/{i}",
                              now=T0 + timedelta(seconds=i))
    return model


def test_deploy_archives_the_previous_and_rollback_undoes(database: Database) -> None:
    with database.session() as session:
        model = _model_with_versions(session, 3)
        for i in range(3):
            repo.deploy_version(session=session, model=model, version=f"1.{i}.0-abcdef",
                                by_key="key_x", now=T0 + timedelta(minutes=i))
        statuses = {v.version: v.status for v in repo.list_versions(session=session,
                                                                  model_id=model.id)}
        assert statuses == {"1.2.0-abcdef": "deployed", "1.1.0-abcdef": "archived",
                            "1.0.0-abcdef": "archived"}
        back = repo.rollback(session=session, model=model, by_key="key_y",
                             now=T0 + timedelta(hours=1))
        assert back.version == "1.1.0-abcdef"
        events = repo.history(session=session, model_id=model.id)
        assert [(e.action, e.from_version, e.to_version, e.key_id) for e in events][:2] == [
            ("rollback", "1.2.0-abcdef", "1.1.0-abcdef", "key_y"),
            ("deploy", "1.1.0-abcdef", "1.2.0-abcdef", "key_x"),
        ]
        deployed = repo.deployed_version(session=session, model_id=model.id)
        assert deployed is not None and deployed.version == "1.1.0-abcdef"


def test_nothing_to_roll_back_to_is_a_conflict(database: Database) -> None:
    with database.session() as session:
        model = _model_with_versions(session, 1)
        with pytest.raises(ConflictError):
            repo.rollback(session=session, model=model, by_key=None, now=T0)
        repo.deploy_version(session=session, model=model, version="1.0.0-abcdef",
                            by_key=None, now=T0)
        with pytest.raises(ConflictError):
            repo.rollback(session=session, model=model, by_key=None, now=T0)
        with pytest.raises(NotFoundError):
            repo.deploy_version(session=session, model=model, version="9.9.9-000000",
                                by_key=None, now=T0)


def test_model_names_are_unique_per_account(database: Database) -> None:
    body = ModelCreate(name="m", label_column="y")
    with database.session() as session:
        repo.create_model(session=session, model_create=body, account="a", now=T0)
        repo.create_model(session=session, model_create=body, account="b", now=T0)
        with pytest.raises(ConflictError):
            repo.create_model(session=session, model_create=body, account="a", now=T0)

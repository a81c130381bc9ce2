"""The FastAPI app in-process (no Ray): the same app the Serve ingress wraps, with Ray
Jobs replaced by a recorder and predictions made in-process."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import torch
from fastapi import FastAPI
from fastapi.testclient import TestClient

from pulse_ray.api import AppState, build_state, create_app
from pulse_ray.auth import Scope
from pulse_ray.capacity import Resources
from pulse_ray.config import Settings
from pulse_ray.demo.transactions import load
from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.models.artifacts import TrainedModel
from pulse_ray.models.inputs import read_contract
from pulse_ray.models.stats import table_stats
from pulse_ray.models.tabular import TabularNet, fit_preprocessor
from pulse_ray.predictions import InferenceEvent, Predictor, ServedModel
from pulse_ray.schemas.keys import ApiKeyCreate
from pulse_ray.services.training import JobState, RunSpec, RunStates, feature_columns
from pulse_ray.shop.encoder import LocalEncoder
from pulse_ray.store import inference as inference_repo
from pulse_ray.store import keys as repo
from pulse_ray.store import models as model_repo
from pulse_ray.store import runs as run_repo
from pulse_ray.store import upgrade
from pulse_ray.timeutil import utcnow
from tests.seed_bodies import FRAUD_CONSTRAINTS

MakeKey = Callable[..., str]


class RecordingBackend:
    """Stands in for Ray Jobs: records what was submitted and stopped."""

    def __init__(self) -> None:
        self.submitted: list[str] = []
        self.stopped: list[str] = []
        self.phase = "running"

    def submit(self, spec: RunSpec) -> str:
        self.submitted.append(spec.run_id)
        return f"pulse-{spec.run_id}"

    def state(self, job_id: str) -> JobState:
        return JobState(phase=self.phase, message="worker died: OOM")  # type: ignore[arg-type]

    def logs(self, job_id: str, lines: int = 40) -> str:
        return "epoch 1 ..."

    def stop(self, job_id: str) -> None:
        self.stopped.append(job_id)


@dataclass
class ResizableCluster:
    """A cluster whose size a test changes (Ray's live totals under Serve)."""

    resources: Resources = field(default_factory=lambda: Resources(cpus=4.0))

    def totals(self) -> Resources:
        return self.resources


@pytest.fixture
def backend() -> RecordingBackend:
    return RecordingBackend()


@pytest.fixture
def cluster() -> ResizableCluster:
    return ResizableCluster()


@pytest.fixture
def state(settings: Settings, backend: RecordingBackend, encoder: LocalEncoder,
          cluster: ResizableCluster) -> Iterator[AppState]:
    state = build_state(settings, training_backend=backend, encoder=encoder, cluster=cluster)
    upgrade(state.database)
    yield state
    state.database.dispose()


@pytest.fixture
def headers(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key(Scope.READ, Scope.WRITE, plan="pro"))


@pytest.fixture
def snapshot_id(client: TestClient, headers: dict[str, str], tmp_path: Path,
                demo_table: pa.Table) -> str:
    load(demo_table, str(tmp_path / "d.db"))
    client.post("/v1/datasources", headers=headers, json={
        "name": "tx", "type": "sqlite", "path": str(tmp_path / "d.db"), "table": "transactions"})
    client.post("/v1/models", headers=headers, json={
        "name": "fraud-detector", "label_column": "is_fraud", "constraints": FRAUD_CONSTRAINTS})
    return str(client.post("/v1/snapshot/tx", headers=headers).json()["id"])



@pytest.fixture
def app(state: AppState) -> FastAPI:
    return create_app(state)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def make_key(state: AppState) -> MakeKey:
    """Issues a key straight in the store, as `pulse keys create` does."""

    def make(
        *scopes: Scope, account: str = "default", name: str = "test", plan: str = "free"
    ) -> str:
        with state.database.session() as session:
            _, secret = repo.create_key(
                session=session,
                key_create=ApiKeyCreate.model_validate(
                    {"name": name, "plan": plan, "scopes": list(scopes or [Scope.READ])}
                ),
                account=account,
                now=utcnow(),
            )
        return secret

    return make


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def register_run(state: AppState, run_id: str, *, digest: str, metrics: dict[str, float],
                 trained: TrainedModel | None = None) -> str:
    """What the training job does at the end of a run: the run's states register its
    model (``trained``, or an empty stand-in where only the store matters) as the next
    version; the version."""
    with state.database.session() as session:
        run = run_repo.get_run(session=session, run_id=run_id)
        spec = RunSpec.from_json(run.spec or {})
    with tempfile.TemporaryDirectory() as directory:
        if trained is not None:
            trained.save(Path(directory))
            schema = trained.input_schema.model_dump()
        else:
            for name in ("model.pt", "model.json"):
                (Path(directory) / name).write_bytes(b"")
            schema = {"fields": {}}
        with state.database.session() as session:
            registered = RunStates(clock=state.clock, artifact_uri=state.settings.artifact_uri
                                   ).register(session=session, spec=spec, saved=Path(directory),
                                              digest=digest, metrics=metrics,
                                              input_schema=schema)
    return registered.version


def register_untrained(client: TestClient, headers: dict[str, str], state: AppState, *,
                       model: str, snapshot_id: str, table: pa.Table, version: str,
                       seed: int = 0) -> str:
    """A version of ``model`` with untrained weights, registered as the training job
    registers one (a run through the API, its artifact published, the run finished);
    the version (``version``'s digest part is the one it gets). Inference tests need a
    real artifact, not a good one."""
    with state.database.session() as session:
        found = model_repo.get_model(session=session, name=model, account="default")
    preprocessor = fit_preprocessor(table_stats(table), label=found.label_column,
                                    features=feature_columns(found, table.column_names))
    run_id = client.post(f"/v1/train/{model}", headers=headers, json={
        "snapshot": snapshot_id, "options": {"deploy": "never"}}).json()["id"]
    torch.manual_seed(seed)
    trained = TrainedModel(net=TabularNet.for_preprocessor(preprocessor).eval(),
                           preprocessor=preprocessor, contract=read_contract(found.constraints))
    registered = register_run(state, run_id, digest=version.rpartition("-")[2],
                              metrics={"f1_score": 0.5}, trained=trained)
    assert registered == version, f"registered {registered}, the test expected {version}"
    return version


class FailingFor:
    """A model that raises for one transaction amount (a bug it has) and answers the
    rest through ``inner``: a failed prediction next to answered ones."""

    def __init__(self, inner: Predictor, amount: float) -> None:
        self._inner, self._amount = inner, amount

    async def predict(self, model: ServedModel, inputs: dict[str, Any]) -> dict[str, Any]:
        if inputs.get("transaction_amount") == self._amount:
            raise RuntimeError("the model crashed")
        return await self._inner.predict(model, inputs)


def record_shop_inferences(state: AppState, model: str,
                           shoppers: list[tuple[str, str, str]]) -> None:
    """Stores one shop inference of ``model`` (the default account's) per (account,
    session id, persona read), as the ingress's record write would."""
    with state.database.session() as session:
        found = model_repo.get_model(session=session, name=model, account="default")
        inference_repo.insert_events(session=session, events=[
            InferenceEvent(id=new_id(IdPrefix.INFERENCE, now=state.clock()), account=account,
                           key_id=None, model_row_id=found.id, version="1", latency_ms=1.0,
                           cached=False, created_at=state.clock(), session_id=session_id,
                           prediction=persona)
            for account, session_id, persona in shoppers])

"""What the services' tests stand on: a store holding a datasource, a snapshot and a
model, as the API would have made them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from pulse_ray.capacity import Resources, plan_resources
from pulse_ray.config import Settings
from pulse_ray.schemas.datasources import DatasourceCreate
from pulse_ray.schemas.models import ModelCreate
from pulse_ray.schemas.training import TrainOptions
from pulse_ray.services.training import RunStates
from pulse_ray.store import datasources as datasource_repo
from pulse_ray.store import models as model_repo
from pulse_ray.store.tables import Model, Snapshot

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PLAN = plan_resources(Settings(_env_file=None), Resources(cpus=4))  # type: ignore[call-arg]


def model_and_snapshot(session: Session, *, name: str = "fraud-detector", account: str = "a",
                       constraints: dict[str, object] | None = None) -> tuple[Model, Snapshot]:
    """A model with a contract, and a snapshot of transactions it can be trained on."""
    model = model_repo.create_model(session=session, model_create=ModelCreate.model_validate({
        "name": name, "label_column": "is_fraud",
        "constraints": constraints or {"transaction_amount": {"exclusive_minimum": 0}}}),
        account=account, now=T0)
    source = datasource_repo.create_datasource(session=session, datasource_create=DatasourceCreate(
        name=f"{name}-tx", type="csv", path="/tmp/x.csv"), account=account, now=T0)
    snapshot = Snapshot(id=f"snap_{name}", account=account, datasource_id=source.id, rows=1,
                        size_bytes=1, hash="sha256:0", compression="zstd",
                        uri=f"/s/snap_{name}",
                        columns=[{"name": "id", "type": "int64"},
                                 {"name": "is_fraud", "type": "bool"},
                                 {"name": "transaction_amount", "type": "double"},
                                 {"name": "merchant_category", "type": "string"}],
                        files=[], created_at=T0)
    session.add(snapshot)
    session.flush()
    return model, snapshot


def register_version(session: Session, model: Model, snapshot: Snapshot, tmp_path: Path, *,
                     input_schema: dict[str, Any], digest: str = "aaaaaa") -> str:
    """A version of ``model`` trained on ``snapshot`` (an empty artifact in ``tmp_path``),
    registered as a finished run registers it: deployed when it is the model's first.
    Its version string."""
    for name in ("model.pt", "model.json"):
        (tmp_path / name).write_bytes(b"")
    states = RunStates(clock=lambda: T0, artifact_uri=str(tmp_path / "models"))
    run = states.create(session=session, model=model, snapshot=snapshot,
                        options=TrainOptions(), key_id=None, plan=PLAN)
    return states.register(session=session, spec=states.started(session=session, run_id=run.id),
                           saved=tmp_path, digest=digest, metrics={},
                           input_schema=input_schema).version

"""Datasources and snapshots over the API (snapshots taken in-process here; through
Ray Data in tests/integration)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from pulse_ray.api import AppState, build_state, create_app
from pulse_ray.auth import Scope
from pulse_ray.capacity import Resources
from pulse_ray.config import Settings
from pulse_ray.demo.transactions import load
from pulse_ray.schemas.keys import ApiKeyCreate
from pulse_ray.services.snapshots import SnapshotService
from pulse_ray.shop.encoder import LocalEncoder
from pulse_ray.store import keys as key_repo
from pulse_ray.store import upgrade
from pulse_ray.timeutil import utcnow

from .conftest import MakeKey, ResizableCluster, bearer


@pytest.fixture
def headers(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key(Scope.READ, Scope.WRITE, plan="pro"))


@pytest.fixture
def demo_db(tmp_path: Path, demo_table: pa.Table) -> Path:
    path = tmp_path / "shop.db"
    load(demo_table, str(path))
    return path


def _register(client: TestClient, headers: dict[str, str], demo_db: Path,
              name: str = "transactions-db") -> dict:  # type: ignore[type-arg]
    response = client.post("/v1/datasources", headers=headers, json={
        "name": name, "type": "sqlite", "path": str(demo_db), "table": "transactions",
        "label_column": "is_fraud",
    })
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_register_list_show_remove(client: TestClient, headers: dict[str, str],
                                   demo_db: Path) -> None:
    created = _register(client, headers, demo_db)
    assert created["id"].startswith("ds_") and created["created_at"].endswith("Z")
    listed = client.get("/v1/datasources", headers=headers).json()["data"]
    assert [d["name"] for d in listed] == ["transactions-db"]
    assert client.get("/v1/datasources/transactions-db", headers=headers).json() == created
    again = client.post("/v1/datasources", headers=headers, json={
        "name": "transactions-db", "type": "csv", "path": str(demo_db)})
    assert again.status_code == 409
    assert client.delete("/v1/datasources/transactions-db", headers=headers).status_code == 200
    missing = client.get("/v1/datasources/transactions-db", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.postgres
def test_postgres_passwords_are_never_returned(client: TestClient, headers: dict[str, str],
                                               postgres_url: str, demo_table: pa.Table) -> None:
    load(demo_table, postgres_url)
    with_password = postgres_url.replace("postgresql://postgres@", "postgresql://postgres:hunter2@")
    response = client.post("/v1/datasources", headers=headers, json={
        "name": "pg", "type": "postgresql", "url": with_password, "table": "transactions"})
    assert response.status_code == 201, response.text
    assert "hunter2" not in response.text and "***" in response.json()["url"]
    assert "hunter2" not in client.get("/v1/datasources/pg", headers=headers).text


@pytest.mark.postgres
def test_secrets_stay_out_of_the_store_file_logs_errors_and_snapshots(
    client: TestClient, headers: dict[str, str], postgres_url: str, demo_table: pa.Table,
    state: AppState, caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 21: a datasource password and a webhook signing secret, used for real, are
    found nowhere a copy of the store file, the logs or an answer would show them."""
    caplog.set_level(logging.DEBUG)
    load(demo_table, postgres_url)
    password = "hunter2-Zq8xK"
    url = postgres_url.replace("postgresql://postgres@", f"postgresql://postgres:{password}@")
    assert client.post("/v1/datasources", headers=headers, json={
        "name": "pg", "type": "postgresql", "url": url, "table": "transactions"}
    ).status_code == 201
    snapshot = client.post("/v1/snapshot/pg", headers=headers)
    assert snapshot.status_code == 201, snapshot.text
    unreachable = client.post("/v1/datasources", headers=headers, json={
        "name": "down", "type": "postgresql", "table": "t",
        "url": f"postgresql://postgres:{password}@127.0.0.1:1/x"})
    assert unreachable.status_code == 400
    state.settings.webhook_allow_hosts = ["127.0.0.1"]
    webhook = client.post("/v1/webhooks", headers=headers, json={
        "url": "http://127.0.0.1:9/hook", "events": ["snapshot.created"]}).json()
    rotated = client.post(f"/v1/webhooks/{webhook['id']}/rotate-secret", headers=headers)
    signing_secrets = [webhook["secret"], rotated.json()["secret"]]
    answers = [unreachable.text, snapshot.text, client.get(
        f"/v1/snapshots/{snapshot.json()['id']}", headers=headers).text,
        client.get("/v1/datasources", headers=headers).text]
    store_file = Path(str(state.database.url.database))
    stored = b"".join(f.read_bytes() for f in store_file.parent.glob(store_file.name + "*"))
    for secret in [password, *signing_secrets, *(s.removeprefix("whsec_")
                                                 for s in signing_secrets)]:
        assert secret.encode() not in stored
        assert secret not in caplog.text
        assert all(secret not in answer for answer in answers)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "sqlite", "path": "relative/x.db", "table": "t"}, "path"),
        ({"type": "csv", "path": "/tmp/x.csv", "table": "t"}, "table"),
        ({"type": "postgresql", "url": "mysql://x", "table": "t"}, "url"),
        ({"type": "sqlite", "path": "/tmp/x.db"}, "table"),
        ({"type": "postgresql", "url": "postgresql://x@127.0.0.1:1/db", "table": "t"}, "url"),
        ({"type": "parquet", "path": "/nonexistent/dir"}, "path"),
        ({"type": "oracle", "path": "/x"}, "type"),
        ({"type": "csv", "path": "/x.csv", "name": "Bad Name!"}, "name"),
    ],
)
def test_bad_datasources_are_refused_naming_the_field(
    client: TestClient, headers: dict[str, str], body: dict, field: str  # type: ignore[type-arg]
) -> None:
    response = client.post("/v1/datasources", headers=headers, json={"name": "x", **body})
    assert response.status_code == 400, response.text
    assert field in [d["field"] for d in response.json()["error"]["details"]]
    assert client.get("/v1/datasources", headers=headers).json()["data"] == []


def test_missing_table_and_columns_are_refused(client: TestClient, headers: dict[str, str],
                                               demo_db: Path) -> None:
    base = {"name": "x", "type": "sqlite", "path": str(demo_db)}
    response = client.post("/v1/datasources", headers=headers, json={**base, "table": "nope"})
    assert response.json()["error"]["details"][0]["field"] == "table"
    response = client.post("/v1/datasources", headers=headers, json={
        **base, "table": "transactions", "label_column": "fraud?", "feature_columns": ["x"]})
    fields = [d["field"] for d in response.json()["error"]["details"]]
    assert fields == ["label_column", "feature_columns"]


def test_snapshot_dedupes_unless_forced(client: TestClient, headers: dict[str, str],
                                        demo_db: Path, demo_table: pa.Table) -> None:
    _register(client, headers, demo_db)
    first = client.post("/v1/snapshot/transactions-db", headers=headers)
    assert first.status_code == 201, first.text
    body = first.json()
    assert set(body) >= {"id", "datasource", "created_at", "rows", "size_bytes", "hash"}
    assert body["datasource"] == "transactions-db" and body["rows"] == demo_table.num_rows
    assert body["hash"].startswith("sha256:") and body["compression"] == "zstd"
    same = client.post("/v1/snapshot/transactions-db", headers=headers,
                       json={"options": {"force": False}})
    assert same.status_code == 200 and same.json()["id"] == body["id"]
    forced = client.post("/v1/snapshot/transactions-db", headers=headers,
                         json={"options": {"force": True, "compression": "snappy"}})
    assert forced.status_code == 201 and forced.json()["id"] != body["id"]
    assert forced.json()["hash"] == body["hash"]
    with sqlite3.connect(demo_db) as conn:
        conn.execute("UPDATE transactions SET transaction_amount = transaction_amount + 1 "
                     "WHERE id = 17")
    changed = client.post("/v1/snapshot/transactions-db", headers=headers)
    assert changed.status_code == 201 and changed.json()["hash"] != body["hash"]


def test_snapshot_listing_and_detail(client: TestClient, headers: dict[str, str],
                                     demo_db: Path, state: AppState) -> None:
    _register(client, headers, demo_db)
    snapshot = client.post("/v1/snapshot/transactions-db", headers=headers).json()
    listed = client.get("/v1/snapshots?datasource=transactions-db", headers=headers).json()
    assert [s["id"] for s in listed["data"]] == [snapshot["id"]]
    detail = client.get(f"/v1/snapshots/{snapshot['id']}", headers=headers).json()
    assert detail["uri"].startswith(state.settings.snapshot_uri)
    assert {"name": "transaction_amount", "type": "double"} in detail["columns"]
    assert sum(f["rows"] for f in detail["files"]) == snapshot["rows"]
    for path, code in [("/v1/snapshots/snap_missing", 404),
                       ("/v1/snapshots?datasource=nope", 404),
                       ("/v1/snapshot/nope", 404)]:
        method = client.post if path.startswith("/v1/snapshot/") else client.get
        response = method(path, headers=headers)
        assert response.status_code == code and response.json()["error"]["code"] == "NOT_FOUND"
    refused = client.delete("/v1/datasources/transactions-db", headers=headers)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "CONFLICT"


def test_every_snapshot_listed_is_named_by_its_datasource(
    client: TestClient, headers: dict[str, str], demo_db: Path
) -> None:
    for name in ("orders", "refunds"):
        _register(client, headers, demo_db, name)
    first = client.post("/v1/snapshot/orders", headers=headers).json()
    second = client.post("/v1/snapshot/refunds", headers=headers).json()
    listed = client.get("/v1/snapshots", headers=headers).json()
    assert [(s["id"], s["datasource"]) for s in listed["data"]] == [
        (second["id"], "refunds"), (first["id"], "orders")]  # newest first
    page = client.get("/v1/snapshots?limit=1", headers=headers).json()
    assert page["has_more"] and [s["datasource"] for s in page["data"]] == ["refunds"]


def test_failed_snapshots_leave_nothing(client: TestClient, headers: dict[str, str],
                                        demo_db: Path, state: AppState) -> None:
    _register(client, headers, demo_db)
    with sqlite3.connect(demo_db) as conn:
        conn.execute("DROP TABLE transactions")
    dropped = client.post("/v1/snapshot/transactions-db", headers=headers)
    assert dropped.status_code == 409, dropped.text
    assert "transactions" in dropped.json()["error"]["message"]
    demo_db.unlink()
    gone = client.post("/v1/snapshot/transactions-db", headers=headers)
    assert gone.status_code == 503 and gone.headers["retry-after"]
    assert gone.json()["error"]["code"] == "UNAVAILABLE"
    assert client.get("/v1/snapshots", headers=headers).json()["data"] == []
    assert not any(Path(state.settings.snapshot_uri).glob("*"))


def test_snapshot_options_are_validated(client: TestClient, headers: dict[str, str],
                                        demo_db: Path) -> None:
    _register(client, headers, demo_db)
    response = client.post("/v1/snapshot/transactions-db", headers=headers,
                           json={"options": {"compression": "lz5", "forse": True}})
    fields = {d["field"] for d in response.json()["error"]["details"]}
    assert response.status_code == 400 and fields == {"options.compression", "options.forse"}


def test_a_snapshot_the_cluster_can_never_run_is_refused_at_once(
        settings: Settings, demo_db: Path, cluster: ResizableCluster,
        encoder: LocalEncoder) -> None:
    # Pulse's replicas hold the whole cluster: no snapshot task could ever be scheduled.
    state = build_state(settings.model_copy(update={
        "model_serving": "replicas", "ingress_replicas": 1,
        "ingress_num_cpus": 1.0, "model_num_cpus": 1.0, "encoder_num_cpus": 1.0}),
        cluster=cluster, encoder=encoder)
    upgrade(state.database)
    with TestClient(create_app(state), raise_server_exceptions=False) as client:
        with state.database.session() as session:
            _, secret = key_repo.create_key(session=session, key_create=ApiKeyCreate(
                name="t", plan="pro", scopes=["read", "write"]), account="default", now=utcnow())
        headers = bearer(secret)
        _register(client, headers, demo_db)
        cluster.resources = Resources(cpus=3.0)
        response = client.post("/v1/snapshot/transactions-db", headers=headers)
        assert response.status_code == 503, response.text
        assert "retry-after" not in response.headers
        error = response.json()["error"]
        assert error["code"] == "INSUFFICIENT_RESOURCES"
        assert "PULSE_SNAPSHOT_TASK_CPUS" in error["message"] and "3 CPU" in error["message"]
        assert client.get("/v1/snapshots", headers=headers).json()["data"] == []
        cluster.resources = Resources(cpus=4.0)  # a node joins: the same request now works
        assert client.post("/v1/snapshot/transactions-db", headers=headers).status_code == 201
    state.database.dispose()


def test_a_snapshot_past_its_deadline_is_cancelled_saying_why(
        client: TestClient, headers: dict[str, str], demo_db: Path, state: AppState) -> None:
    """A snapshot whose tasks wait (here: a runner that never finishes, as Ray tasks
    queued behind a busy cluster) ends at PULSE_SNAPSHOT_DEADLINE_S with the reason."""
    _register(client, headers, demo_db)

    class Waiting:
        async def run(self, job: object) -> object:
            await asyncio.Event().wait()
            raise AssertionError("never")

    state.snapshots = SnapshotService(database=state.database, runner=Waiting(),  # type: ignore[arg-type]
                                      storage_uri=state.settings.snapshot_uri, plan=state.plan,
                                      clock=state.clock, deadline_s=0.2)
    response = client.post("/v1/snapshot/transactions-db", headers=headers)
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "UNAVAILABLE" and "PULSE_SNAPSHOT_DEADLINE_S" in error["message"]
    assert "0.2 s" in error["message"] and "retry-after" in response.headers
    assert client.get("/v1/snapshots", headers=headers).json()["data"] == []

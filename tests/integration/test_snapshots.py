"""Snapshots through the Serve ingress, read and written by Ray Data tasks."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from deployments.service import RunningService
from pulse_ray.demo.transactions import load, transactions
from pulse_ray.schemas.datasources import DatasourceCreate
from pulse_ray.schemas.snapshots import Compression
from pulse_ray.snapshots import LocalSnapshotRunner, SnapshotJob
from pulse_ray.sources import spec_of

from .conftest import MakeKey, bearer


@pytest.fixture
def headers(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key(plan="pro")["key"])


def _register(http: httpx.Client, headers: dict[str, str], body: dict) -> None:  # type: ignore[type-arg]
    response = http.post("/v1/datasources", headers=headers, json=body)
    assert response.status_code == 201, response.text


def _local_hash(body: dict, tmp_path: Path) -> str:  # type: ignore[type-arg]
    """The same source snapshotted in-process, one shard at a time."""
    job = SnapshotJob(snapshot_id="snap_local", source=spec_of(DatasourceCreate(**body)),
                      storage_uri=str(tmp_path / "local"), compression=Compression.NONE)
    return LocalSnapshotRunner().run_sync(job).hash


@pytest.mark.postgres
def test_postgres_snapshot_in_parallel_matches_a_serial_read(
    http: httpx.Client, headers: dict[str, str], postgres_url: str, tmp_path: Path
) -> None:
    load(transactions(120_000, seed=5), postgres_url)
    body = {"name": "pg-tx", "type": "postgresql", "url": postgres_url,
            "table": "transactions", "label_column": "is_fraud"}
    _register(http, headers, body)
    response = http.post("/v1/snapshot/pg-tx", headers=headers)
    assert response.status_code == 201, response.text
    snapshot = response.json()
    assert snapshot["rows"] == 120_000
    detail = http.get(f"/v1/snapshots/{snapshot['id']}", headers=headers).json()
    assert len(detail["files"]) > 1  # range reads ran as several Ray tasks
    assert snapshot["hash"] == _local_hash(body, tmp_path)


def test_file_and_sqlite_snapshots_match_serial_reads(
    http: httpx.Client, headers: dict[str, str], tmp_path: Path
) -> None:
    table = transactions(20_000, seed=6)
    parquet_dir = tmp_path / "parquet"
    parquet_dir.mkdir()
    for i in range(4):
        pa.parquet.write_table(table.slice(i * 5000, 5000), parquet_dir / f"p{i}.parquet")
    load(table, str(tmp_path / "tx.db"))
    for body in (
        {"name": "pq-tx", "type": "parquet", "path": str(parquet_dir)},
        {"name": "sqlite-tx", "type": "sqlite", "path": str(tmp_path / "tx.db"),
         "table": "transactions"},
    ):
        _register(http, headers, body)
        response = http.post(f"/v1/snapshot/{body['name']}", headers=headers)
        assert response.status_code == 201, response.text
        assert response.json()["rows"] == 20_000
        assert response.json()["hash"] == _local_hash(body, tmp_path / body["name"])


def test_ingress_stays_responsive_during_a_snapshot(
    http: httpx.Client, headers: dict[str, str], tmp_path: Path, service: RunningService
) -> None:
    load(transactions(300_000, seed=8), str(tmp_path / "big.db"))
    _register(http, headers, {"name": "big", "type": "sqlite", "path": str(tmp_path / "big.db"),
                              "table": "transactions"})
    done: list[httpx.Response] = []
    worker = threading.Thread(target=lambda: done.append(
        httpx.post(f"{service.url}/v1/snapshot/big", headers=headers, timeout=120)))
    worker.start()
    latencies = []
    while worker.is_alive() and len(latencies) < 200:
        started = time.monotonic()
        assert http.get("/healthz").status_code == 200
        latencies.append(time.monotonic() - started)
        time.sleep(0.05)
    worker.join(120)
    assert done and done[0].status_code == 201, done[0].text if done else "no answer"
    assert len(latencies) > 3 and max(latencies) < 1.0, latencies


def test_unreachable_source_is_503_and_leaves_nothing(
    http: httpx.Client, headers: dict[str, str], tmp_path: Path, service: RunningService
) -> None:
    load(transactions(1000), str(tmp_path / "gone.db"))
    _register(http, headers, {"name": "gone", "type": "sqlite", "path": str(tmp_path / "gone.db"),
                              "table": "transactions"})
    (tmp_path / "gone.db").unlink()
    root = Path(service.settings.snapshot_uri)
    before = set(root.glob("*"))
    response = http.post("/v1/snapshot/gone", headers=headers)
    assert response.status_code == 503 and response.json()["error"]["code"] == "UNAVAILABLE"
    assert set(root.glob("*")) == before
    listed = http.get("/v1/snapshots?datasource=gone", headers=headers).json()
    assert listed["data"] == []


def test_cli_snapshot_goes_through_the_service(
    service: RunningService, make_key: MakeKey, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from pulse_ray.cli import app

    key = make_key(plan="pro")["key"]
    load(transactions(2000), str(tmp_path / "cli.db"))
    with httpx.Client(base_url=service.url) as http:
        _register(http, bearer(key), {"name": "cli-tx", "type": "sqlite",
                                      "path": str(tmp_path / "cli.db"), "table": "transactions"})
    monkeypatch.setenv("PULSE_API_KEY", key)
    monkeypatch.setenv("PULSE_BASE_URL", service.url)
    result = CliRunner().invoke(app, ["snapshot", "cli-tx", "--compression", "gzip", "--json"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count('"compression": "gzip"') == 1
    missing = CliRunner().invoke(app, ["snapshot", "nope"])
    assert missing.exit_code == 1 and "NOT_FOUND" in missing.output


def test_a_snapshot_cancelled_by_its_client_leaves_nothing(
    http: httpx.Client, headers: dict[str, str], tmp_path: Path, service: RunningService
) -> None:
    load(transactions(400_000, seed=9), str(tmp_path / "slow.db"))
    _register(http, headers, {"name": "slow", "type": "sqlite", "path": str(tmp_path / "slow.db"),
                              "table": "transactions"})
    root = Path(service.settings.snapshot_uri)
    before = set(root.iterdir()) if root.exists() else set()
    with pytest.raises(httpx.ReadTimeout):  # the client gives up: the request is cancelled
        httpx.post(f"{service.url}/v1/snapshot/slow", headers=headers, timeout=1.0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        left = (set(root.iterdir()) if root.exists() else set()) - before
        if not left:
            break
        time.sleep(0.5)
    assert not left, left
    assert http.get("/v1/snapshots?datasource=slow", headers=headers).json()["data"] == []

"""Accounts cannot see each other, proven for every route of the OpenAPI document (OWASP
API1, broken object-level authorization): one account holds one of everything, and a
second account's admin key tries each operation on it. A route added later is tried
without editing this file; one whose path parameter names something the first account
does not hold here fails the test until the world below holds it."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from pulse_ray.api import AppState
from pulse_ray.auth import Scope
from pulse_ray.store import tagging_jobs
from pulse_ray.timeutil import utcnow
from tests.seed_bodies import FRAUD_INPUT, SEED_TAG

from .conftest import MakeKey, bearer, register_untrained
from .openapi_cases import Operation, minimal_body, operations

Values = dict[str, list[str]]
MODEL = "fraud-detector"


@pytest.fixture
def state(state: AppState) -> AppState:
    state.settings.webhook_allow_hosts = ["127.0.0.1"]  # the world's webhook is local
    return state


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    return dict(client.get("/openapi.json").json())


@pytest.fixture
def owner(make_key: MakeKey) -> dict[str, str]:
    return bearer(make_key(Scope.ADMIN, plan="enterprise"))


@pytest.fixture
def intruder(make_key: MakeKey) -> dict[str, str]:
    """Another account's key with every scope, so only tenancy stands in its way."""
    return bearer(make_key(Scope.ADMIN, account="intruder", plan="enterprise"))


@pytest.fixture
def world(client: TestClient, owner: dict[str, str], snapshot_id: str, state: AppState,
          demo_table: pa.Table) -> Values:
    """One of everything in the first account, by the path parameter that names it."""
    version = register_untrained(client, owner, state, model=MODEL, snapshot_id=snapshot_id,
                                 table=demo_table, version="1.0.0-000001")
    client.post(f"/v1/models/{MODEL}/versions/{version}/deploy", headers=owner)
    run_id = client.get(f"/v1/models/{MODEL}/versions", headers=owner).json()["versions"][0]["run"]
    inference = client.post(f"/v1/infer/{MODEL}", headers=owner, json={"input": FRAUD_INPUT})
    candidate = register_untrained(client, owner, state, model=MODEL, snapshot_id=snapshot_id,
                                   table=demo_table, version="1.1.0-000002")
    assert client.post(f"/v1/models/{MODEL}/versions/{candidate}/deploy", headers=owner,
                       json={"strategy": "canary"}).status_code == 202
    assert client.put(f"/v1/models/{MODEL}/retrain-policy", headers=owner,
                      json={}).status_code == 200
    webhook = client.post("/v1/webhooks", headers=owner, json={
        "url": "http://127.0.0.1:9/hook", "events": ["model.updated"]}).json()["id"]
    message = client.post(f"/v1/webhooks/{webhook}/test", headers=owner).json()["message_id"]
    product = client.post("/v1/products/tag", headers=owner, json=SEED_TAG).json()["data"][0]
    with state.database.session() as session:
        job = tagging_jobs.create_job(session=session, account="default", key_id=None,
                                   products=[], now=utcnow()).id
    # The app's tagging worker takes the job: the world is read once it has finished.
    deadline = time.monotonic() + 30
    while client.get(f"/v1/products/tag/{job}", headers=owner).json()["status"] != "succeeded":
        assert time.monotonic() < deadline, "the tagging worker did not finish the job"
        time.sleep(0.05)
    key_id = client.get("/v1/keys", headers=owner).json()["data"][0]["id"]
    return {
        "model": [MODEL], "version": [version], "run_id": [run_id],
        "datasource": ["tx"], "name": ["tx"], "snapshot_id": [snapshot_id],
        "lineage_id": [inference.json()["id"], run_id, snapshot_id, f"{MODEL}:{version}"],
        "key_id": [key_id], "webhook_id": [webhook], "message_id": [message],
        "job_id": [job], "product_id": [product["id"]],
    }


def _urls(operation: Operation, world: Values) -> list[str]:
    missing = [name for name in operation.path_params if name not in world]
    if missing:
        pytest.fail(f"{operation}: the first account holds no {missing} in the world "
                    "fixture, so tenancy cannot be tried on this route: add one")
    return list(operation.urls(world))


def _everything(client: TestClient, spec: Mapping[str, Any], headers: dict[str, str],
                world: Values) -> dict[str, tuple[int, Any]]:
    """Every GET of the document, as ``headers``' account sees it."""
    seen = {}
    for operation in operations(spec):
        if operation.method == "get":
            for url in _urls(operation, world):
                response = client.get(url, headers=headers)
                seen[url] = (response.status_code, response.json())
    return seen


def test_another_account_gets_404_for_every_resource_and_changes_nothing(
        client: TestClient, spec: dict[str, Any], world: Values, owner: dict[str, str],
        intruder: dict[str, str]) -> None:
    before = _everything(client, spec, owner, world)
    assert all(status == 200 for status, _ in before.values()), before
    tried = 0
    for operation in operations(spec):
        if not operation.path_params:
            continue
        schema = operation.body_schema
        for url in _urls(operation, world):
            response = client.request(
                operation.method, url, headers=intruder,
                json=None if schema is None else minimal_body(schema, spec))
            assert response.status_code == 404, (str(operation), url, response.text)
            assert response.json()["error"]["code"] == "NOT_FOUND"
            tried += 1
    assert tried >= len([o for o in operations(spec) if o.path_params])
    assert _everything(client, spec, owner, world) == before


def _ids(rows: Sequence[Mapping[str, Any]]) -> set[str]:
    return {str(row.get("id") or row["name"]) for row in rows}


def test_listings_hold_only_the_callers_rows(
        client: TestClient, spec: dict[str, Any], world: Values, owner: dict[str, str],
        intruder: dict[str, str]) -> None:
    listings = [o for o in operations(spec) if o.returns_page(spec)]
    assert listings
    for operation in listings:
        mine = client.get(operation.path, headers=owner).json()["data"]
        assert mine, f"{operation}: the world fixture holds none of these: add one"
        theirs = client.get(operation.path, headers=intruder)
        assert theirs.status_code == 200, theirs.text
        assert not _ids(mine) & _ids(theirs.json()["data"]), str(operation)
        for name in operation.params("query"):  # a filter naming the first's resource
            for value in world.get(name, []):
                filtered = client.get(operation.path, params={name: value}, headers=intruder)
                assert filtered.status_code == 404, (str(operation), name, filtered.text)


def test_a_body_naming_another_accounts_snapshot_finds_none(
        client: TestClient, world: Values, intruder: dict[str, str]) -> None:
    """Resources named in a body are looked up in the caller's account too: training
    the intruder's own model on the first account's snapshot is a 404."""
    created = client.post("/v1/models", headers=intruder,
                          json={"name": "mine", "label_column": "is_fraud"})
    assert created.status_code == 201, created.text
    response = client.post("/v1/train/mine", headers=intruder,
                           json={"snapshot": world["snapshot_id"][0]})
    assert response.status_code == 404 and "snapshot" in response.json()["error"]["message"]

"""Inference over the API with predictions made in-process (the ModelServer path runs in
tests/integration/test_inference.py); lineage of inferences: test_lineage.py."""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from pulse_ray.api import AppState
from pulse_ray.auth import Scope
from tests.seed_bodies import FRAUD_INPUT, SEED_000_ERROR, SEED_000_INFER

from .conftest import MakeKey, bearer, register_untrained

GOOD = FRAUD_INPUT


@pytest.fixture
def versions(client: TestClient, headers: dict[str, str], snapshot_id: str, state: AppState,
             demo_table: pa.Table) -> list[str]:
    """Two versions of fraud-detector registered as the training job does; the first is
    deployed."""
    names = [register_untrained(client, headers, state, model="fraud-detector",
                                snapshot_id=snapshot_id, table=demo_table,
                                version=f"1.{i}.0-00000{i}", seed=i) for i in range(2)]
    client.post(f"/v1/models/fraud-detector/versions/{names[0]}/deploy", headers=headers)
    return names


def _infer(client: TestClient, headers: dict[str, str], model: str = "fraud-detector",
           **body: Any) -> Any:
    return client.post(f"/v1/infer/{model}", headers=headers, json={"input": GOOD, **body})


def test_infer_answers_in_the_seed_shape(client: TestClient, headers: dict[str, str],
                                         versions: list[str]) -> None:
    response = _infer(client, headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"id", "model", "version", "output"}
    assert body["id"].startswith("inf_") and body["model"] == "fraud-detector"
    assert body["version"] == versions[0]
    assert set(body["output"]) == {"is_fraud", "confidence"}
    assert isinstance(body["output"]["is_fraud"], bool)
    assert 0 <= body["output"]["confidence"] <= 1


def test_the_seeds_request_answers_in_the_seeds_shape(
    client: TestClient, headers: dict[str, str], versions: list[str]
) -> None:
    """Seed 000's body as it is: two of the model's ten inputs, the rest imputed."""
    response = client.post("/v1/infer/fraud-detector", headers=headers, json=SEED_000_INFER)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"id", "model", "version", "output", "metadata"}
    assert body["id"].startswith("inf_") and body["model"] == "fraud-detector"
    assert set(body["output"]) == {"is_fraud", "confidence"}
    assert isinstance(body["output"]["is_fraud"], bool)
    assert 0 <= body["output"]["confidence"] <= 1
    metadata = body["metadata"]
    assert metadata["cached"] is False and metadata["latency_ms"] >= 0
    assert sorted(metadata["imputed"]) == sorted(set(FRAUD_INPUT) - set(SEED_000_INFER["input"]))
    nulls = {**SEED_000_INFER, "input": {**SEED_000_INFER["input"], "country": None}}
    again = client.post("/v1/infer/fraud-detector", headers=headers, json=nulls).json()
    assert again["output"] == body["output"] and again["metadata"]["cached"] is True
    assert "country" in again["metadata"]["imputed"]  # null is missing, like left out
    complete = _infer(client, headers, options={"include_metadata": True}).json()
    assert complete["metadata"]["imputed"] == []


def test_a_negative_amount_answers_the_seeds_error(client: TestClient, headers: dict[str, str],
                                                   versions: list[str]) -> None:
    negative = {**SEED_000_INFER, "input": {**SEED_000_INFER["input"],
                                            "transaction_amount": -1500.00}}
    response = client.post("/v1/infer/fraud-detector", headers=headers, json=negative)
    assert response.status_code == 400
    assert response.json() == SEED_000_ERROR


def test_identical_inputs_are_answered_from_the_cache(
    client: TestClient, headers: dict[str, str], versions: list[str]
) -> None:
    options = {"include_metadata": True}
    first = _infer(client, headers, options=options).json()
    again = _infer(client, headers, options=options).json()
    assert first["metadata"]["cached"] is False and again["metadata"]["cached"] is True
    assert again["output"] == first["output"] and again["id"] != first["id"]
    assert again["metadata"]["latency_ms"] >= 0
    other = client.post("/v1/infer/fraud-detector", headers=headers,
                        json={"input": {**GOOD, "transaction_amount": 3.0},
                              "options": options}).json()
    assert other["metadata"]["cached"] is False


def test_a_version_can_be_pinned(client: TestClient, headers: dict[str, str],
                                 versions: list[str]) -> None:
    pinned = _infer(client, headers, options={"version": versions[1]})
    assert pinned.status_code == 200 and pinned.json()["version"] == versions[1]
    missing = _infer(client, headers, options={"version": "9.9.9-zzzzzz"})
    assert missing.status_code == 404
    assert missing.json()["error"]["details"][0]["field"] == "options.version"


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"colour": "red"}, "colour", "is not an input of this model"),
    ({"hour": "three"}, "hour", "must be a number"),
    ({"hour": 2.5}, "hour", "must be a whole number"),
    ({"hour": 24}, "hour", "must be at most 23"),
    ({"transaction_amount": 0}, "transaction_amount", "must be a positive number"),
    ({"account_age_days": -1}, "account_age_days", "must not be negative"),
    ({"device": 3}, "device", "must be a string"),
    ({"device": True}, "device", "must be a string"),
])
def test_bad_inputs_name_the_field(client: TestClient, headers: dict[str, str],
                                   versions: list[str], change: dict[str, Any], field: str,
                                   message: str) -> None:
    response = client.post("/v1/infer/fraud-detector", headers=headers,
                           json={"input": {**GOOD, **change}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert [(d["field"], d["message"]) for d in error["details"]] == [(field, message)]


def test_unbounded_values_pass_and_the_rest_of_the_body_keeps_dotted_paths(
    client: TestClient, headers: dict[str, str], versions: list[str]
) -> None:
    # The contract bounds neither: values training never saw are still read.
    unseen = {**GOOD, "merchant_category": "space-travel", "country": "AQ"}
    assert _infer(client, headers, input=unseen).status_code == 200
    # An integer input written as a float (2.0) is a whole number: accepted.
    assert _infer(client, headers, input={**GOOD, "hour": 2.0, "txn_count_24h": 1e3}
                  ).status_code == 200
    empty = client.post("/v1/infer/fraud-detector", headers=headers,
                        json={"input": {}, "options": {"include_metadata": True}})
    assert empty.status_code == 200
    assert sorted(empty.json()["metadata"]["imputed"]) == sorted(GOOD)
    for body, field in (({"input": [1, 2]}, "input"), ({}, "input"),
                        ({"input": GOOD, "options": {"fast": True}}, "options.fast"),
                        ({"input": GOOD, "options": {"include_metadata": [1]}},
                         "options.include_metadata")):
        response = client.post("/v1/infer/fraud-detector", headers=headers, json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["details"][0]["field"] == field


def test_unknown_and_undeployed_models(client: TestClient, headers: dict[str, str],
                                       versions: list[str]) -> None:
    assert _infer(client, headers, model="nope").status_code == 404
    client.post("/v1/models", headers=headers, json={"name": "empty", "label_column": "y"})
    response = _infer(client, headers, model="empty")
    assert response.status_code == 409
    assert "no deployed version" in response.json()["error"]["message"]


def test_a_deploy_moves_traffic(client: TestClient, headers: dict[str, str],
                                versions: list[str], state: AppState) -> None:
    assert _infer(client, headers).json()["version"] == versions[0]
    client.post(f"/v1/models/fraud-detector/versions/{versions[1]}/deploy", headers=headers)
    time.sleep(state.settings.model_cache_ttl_s)  # replicas see the deploy within this
    assert _infer(client, headers).json()["version"] == versions[1]


def test_another_account_sees_neither_models_nor_lineage(
    client: TestClient, headers: dict[str, str], versions: list[str], make_key: MakeKey
) -> None:
    inference = _infer(client, headers).json()
    stranger = bearer(make_key(Scope.READ, account="other"))
    assert _infer(client, stranger).status_code == 404
    assert client.get(f"/v1/lineage/{inference['id']}", headers=stranger).status_code == 404


def test_inputs_the_contract_requires_cannot_be_left_out(
    client: TestClient, headers: dict[str, str], snapshot_id: str, state: AppState,
    demo_table: pa.Table
) -> None:
    client.post("/v1/models", headers=headers, json={
        "name": "strict", "label_column": "is_fraud", "constraints": {
            "country": {"required": True}, "hour": {"minimum": 0, "maximum": 23}}})
    version = register_untrained(client, headers, state, model="strict",
                                 snapshot_id=snapshot_id, table=demo_table,
                                 version="1.0.0-000000")
    client.post(f"/v1/models/strict/versions/{version}/deploy", headers=headers)
    schema = client.get("/v1/models/strict/versions", headers=headers).json()[
        "versions"][0]["input_schema"]["fields"]
    assert schema["country"]["nullable"] is False and schema["device"]["nullable"] is True
    assert (schema["hour"]["minimum"], schema["hour"]["maximum"]) == (0, 23)
    assert "minimum" not in schema["transaction_amount"]  # this model's contract has none
    response = _infer(client, headers, model="strict",
                      input={"transaction_amount": -5.0, "hour": -1})
    assert response.status_code == 400
    assert response.json()["error"]["details"] == [
        {"field": "hour", "message": "must not be negative"},
        {"field": "country", "message": "is required"}]
    assert _infer(client, headers, model="strict",
                  input={"transaction_amount": -5.0, "country": "US"}).status_code == 200

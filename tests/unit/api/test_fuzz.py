"""Every operation of the OpenAPI document, fuzzed with a valid key: the document's own
valid body and that body with one field of any JSON (wrong types, huge strings, deep
nesting, Unicode edge cases), any JSON, bytes that are not JSON, path and query values
of any text. Whatever comes in, the answer is never a 5xx, its status is one the
document lists for the operation, its body matches the schema documented for that
status, and nothing stored before changed.

Bounded (a few examples per operation, about a minute) to keep the unit suite quick."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from sqlmodel import SQLModel

from pulse_ray.api import AppState
from pulse_ray.auth import Scope

from .conftest import MakeKey, bearer
from .openapi_cases import Operation, minimal_body, operations, resolve

EXAMPLES_PER_OPERATION = 15

JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(codec="utf-8")),  # lone surrogates, RTL, zero widths
    st.sampled_from(["", "\x00", "\u202e", "\ufeff", "𝕏" * 300, "null", "-0", "1e309"]))
ANY_JSON = st.recursive(JSON_LEAF, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=20), inner, max_size=5)),
    max_leaves=25)
# Idempotency-Key: a few reused (the same key for another request is a 422), or any
# Latin-1 text a header can carry (a 400 unless 1-255 printable ASCII characters).
HEADER_VALUE = st.one_of(st.sampled_from(["k1", "k2"]), st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=300,
)).map(lambda value: value.encode("latin-1"))
RAW_BODIES = st.one_of(
    st.integers(1, 100_000).map(lambda depth: "[" * depth + "]" * depth),  # deep nesting
    st.integers(1, 100_000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
    st.integers(0, 2_000_000).map(lambda n: json.dumps({"input": {"s": "x" * n}})),  # huge
    st.binary(max_size=64),  # not JSON, not even UTF-8
)


@pytest.fixture
def state(state: AppState) -> AppState:
    state.settings.webhook_allow_hosts = ["127.0.0.1"]
    return state


@pytest.fixture
def stored(client: TestClient, headers: dict[str, str], snapshot_id: str) -> str:
    """Something of each kind the routes read: a datasource, a model, its snapshot, a
    webhook (and the keys)."""
    client.post("/v1/webhooks", headers=headers, json={
        "url": "http://127.0.0.1:9/hook", "events": ["model.updated"]})
    return snapshot_id


def _rows(state: AppState) -> dict[tuple[str, tuple[Any, ...]], tuple[Any, ...]]:
    """Every row of the store, by table and primary key."""
    rows = {}
    with state.database.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in connection.execute(table.select()):
                key = tuple(row._mapping[c.name] for c in table.primary_key.columns)
                rows[(table.name, key)] = tuple(row)
    return rows


def _with_components(schema: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    """``schema`` as a document its ``#/components/...`` references resolve in."""
    return {**schema, "components": spec["components"]}


def _value(schema: Mapping[str, Any], spec: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """A path or query value: of the documented type (edges of its range included) or
    any text at all."""
    schema = resolve(schema, spec)
    anything = st.text(alphabet=st.characters(codec="utf-8"), min_size=1)
    if schema.get("type") == "integer":
        return st.one_of(st.integers(schema.get("minimum", -(2**64)) - 1,
                                     schema.get("maximum", 2**64) + 1), anything)
    return anything


def _bodies(schema: Mapping[str, Any], spec: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """The document's own smallest valid body, the same with one field swapped for any
    JSON (a wrong type, a huge or deep value, odd Unicode), any JSON, and raw bytes."""
    valid = minimal_body(schema, spec)
    fields = sorted(resolve(schema, spec).get("properties", {}))
    one_wrong = (st.builds(lambda name, value: {**valid, name: value},
                           st.sampled_from(fields), ANY_JSON)
                 if fields and isinstance(valid, dict) else st.nothing())
    return st.one_of(st.just(valid).map(json.dumps), one_wrong.map(json.dumps),
                     ANY_JSON.map(json.dumps), RAW_BODIES)


def _request(operation: Operation, spec: Mapping[str, Any]) -> st.SearchStrategy[
        dict[str, Any]]:
    """Strategy of ``client.request`` keyword arguments for ``operation``."""
    parameters = operation.spec.get("parameters", [])
    path = st.fixed_dictionaries({p["name"]: _value(p["schema"], spec)
                                  for p in parameters if p["in"] == "path"})
    query = st.fixed_dictionaries({}, optional={p["name"]: _value(p["schema"], spec)
                                                for p in parameters if p["in"] == "query"})
    headers = st.fixed_dictionaries({}, optional={p["name"]: HEADER_VALUE
                                                  for p in parameters if p["in"] == "header"})
    schema = operation.body_schema
    body = st.none() if schema is None else _bodies(schema, spec)

    def build(path_values: dict[str, Any], query_values: dict[str, Any],
              header_values: dict[str, bytes], content: str | bytes | None) -> dict[str, Any]:
        url = operation.path
        for name, raw in path_values.items():
            url = url.replace("{" + name + "}", quote(str(raw), safe="") or "_")
        return {"method": operation.method.upper(), "url": url,
                "params": {k: str(v) for k, v in query_values.items()},
                "headers": header_values, "content": content}

    return st.builds(build, path, query, headers, body)


def _check(operation: Operation, spec: Mapping[str, Any], status: int, body: bytes) -> None:
    documented = operation.spec["responses"]
    assert status < 500, (str(operation), status, body[:300])
    assert str(status) in documented, (str(operation), status, body[:300])
    content = documented[str(status)].get("content", {}).get("application/json")
    if content is not None and content.get("schema"):
        Draft202012Validator(_with_components(content["schema"], spec)).validate(
            json.loads(body))


def _fuzz(client: TestClient, spec: Mapping[str, Any], key: dict[str, str],
          operation: Operation) -> None:
    # Derandomized: the same examples on every run, so CI fails for a change, not by
    # chance (raise EXAMPLES_PER_OPERATION locally to search further).
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              derandomize=True, suppress_health_check=list(HealthCheck))
    @given(request=_request(operation, spec))
    def answers_as_documented(request: dict[str, Any]) -> None:
        headers = {**key, "Content-Type": "application/json", **request.pop("headers")}
        response = client.request(headers=headers, **request)
        _check(operation, spec, response.status_code, response.content)

    answers_as_documented()


def test_every_operation_answers_as_documented_whatever_it_is_sent(
        client: TestClient, make_key: MakeKey, stored: str, state: AppState) -> None:
    spec = client.get("/openapi.json").json()
    key = bearer(make_key(Scope.ADMIN, plan="enterprise"))
    before = _rows(state)
    for operation in operations(spec):
        _fuzz(client, spec, key, operation)
    after = _rows(state)
    changed = [key for key, row in before.items() if after.get(key) != row]
    assert changed == [], "fuzzing changed what was stored before"

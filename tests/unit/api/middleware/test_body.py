"""The request body: read once, parsed once, capped; routes receive the parsed value
(the byte limit and the caps as a client meets them: test_errors.py, test_limits.py)."""

from __future__ import annotations

import importlib
import json
import pkgutil
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pulse_ray.api import routers
from pulse_ray.api.middleware.body import JsonBodyRoute, check_caps, is_json
from pulse_ray.auth import Scope
from pulse_ray.errors import ValidationError

from ..conftest import MakeKey, bearer


def test_caps_name_each_offending_field() -> None:
    check_caps({"items": [{"name": "ok"}] * 3}, max_items=3, max_string_length=5)
    with pytest.raises(ValidationError) as caught:
        check_caps(
            {"items": [{"name": "ok"}, {"name": "too long"}], "tags": [1, 2, 3, 4]},
            max_items=3, max_string_length=5,
        )
    fields = {d.field: d.message for d in caught.value.details}
    assert fields == {
        "items.1.name": "must be at most 5 characters",
        "tags": "must have at most 3 items",
    }


@pytest.mark.parametrize(("content_type", "expected"), [
    ("application/json", True), ("Application/JSON; charset=utf-8", True),
    ("application/merge-patch+json", True), ("text/json", False),
    ("application/x-www-form-urlencoded", False), ("", False), (None, False),
])
def test_json_is_what_fastapi_reads_as_json(content_type: str | None, expected: bool) -> None:
    assert is_json(content_type) is expected


def test_every_router_takes_the_parsed_body() -> None:
    modules = [importlib.import_module(f"{routers.__name__}.{m.name}")
               for m in pkgutil.iter_modules(routers.__path__)]
    assert len(modules) > 5
    for module in modules:
        assert module.router.route_class is JsonBodyRoute, module.__name__
        assert all(isinstance(r, JsonBodyRoute) for r in module.router.routes), module.__name__


def test_a_json_body_is_parsed_once_per_request(
    client: TestClient, make_key: MakeKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = b'{"name": "parsed-once", "plan": "pro"}'
    parses: list[Any] = []
    loads = json.loads

    def counting(text: Any, *args: Any, **kwargs: Any) -> Any:
        if text in (body, body.decode()):
            parses.append(text)
        return loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", counting)
    headers = {**bearer(make_key(Scope.ADMIN)), "content-type": "application/json",
               "Idempotency-Key": "once"}  # caps, idempotency and the route all read it
    created = client.post("/v1/keys", content=body, headers=headers)
    assert created.status_code == 201 and created.json()["name"] == "parsed-once"
    assert len(parses) == 1


def test_a_body_that_is_not_utf8_is_a_400(client: TestClient, make_key: MakeKey) -> None:
    response = client.post("/v1/keys", content=b'{"name": "\xff"}',
                           headers={**bearer(make_key(Scope.ADMIN)),
                                    "content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("depth", [33, 990, 100_000])
def test_a_body_nested_too_deeply_is_a_400(client: TestClient, make_key: MakeKey,
                                           depth: int) -> None:
    """The fuzz's 500s: deeper than the parser's stack (RecursionError), or parsed but
    deep enough to overflow the walk or validation after it."""
    response = client.post("/v1/infer/m", content="[" * depth + "]" * depth,
                           headers={**bearer(make_key(Scope.ADMIN)),
                                    "content-type": "application/json"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "nest" in error["details"][0]["message"], error

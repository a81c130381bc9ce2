"""Clients are generated from /openapi.json, so its error responses must be the truth."""

from __future__ import annotations

from fastapi.testclient import TestClient

from pulse_ray.errors import ERROR_CLASSES, InsufficientResourcesError, UnavailableError


def test_errors_are_documented_with_the_envelope_not_422(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert spec["components"]["schemas"]["ErrorEnvelope"]["required"] == ["error"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            if "422" in responses:  # only ours: a reused Idempotency-Key, never FastAPI's
                assert responses["422"]["description"].startswith("IDEMPOTENCY_KEY_REUSED")
            assert "500" in responses
            if path.startswith("/v1/"):
                assert {"401", "403", "429"} <= set(responses), (method, path)
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}
    create = spec["paths"]["/v1/keys"]["post"]["responses"]
    assert {"201", "400", "401", "403", "409", "413", "422", "429", "500"} <= set(create)
    assert "RateLimit-Policy" in create["201"]["headers"]
    assert {"Retry-After", "X-RateLimit-Reset"} <= set(create["429"]["headers"])
    params = spec["paths"]["/v1/keys"]["post"]["parameters"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in params)
    assert "404" in spec["paths"]["/v1/keys/{key_id}"]["delete"]["responses"]


def test_health_routes_need_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "checks": {"store": "ok"}}


def test_error_descriptions_are_the_error_classes_own(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    documented = {status: response["description"]
                  for item in spec["paths"].values() for operation in item.values()
                  for status, response in operation["responses"].items()}
    for cls in ERROR_CLASSES:
        assert cls.description and cls.description != cls.code
        if str(cls.http_status) in documented:
            assert f"{cls.code}: {cls.description}" in documented[str(cls.http_status)]
    # Two classes share 503: both are described, the one a bare 503 means first.
    assert documented["503"] == (
        f"UNAVAILABLE: {UnavailableError.description} "
        f"INSUFFICIENT_RESOURCES: {InsufficientResourcesError.description}")


def test_every_status_a_route_answers_is_documented(client: TestClient) -> None:
    """What the fuzz found undocumented: Idempotency-Key's 409 and 422 on POSTs without
    a body, 404 where a body or query names a resource."""
    spec = client.get("/openapi.json").json()
    for path, item in spec["paths"].items():
        if path.startswith("/v1/") and "post" in item:
            assert {"409", "422"} <= set(item["post"]["responses"]), path
    assert "404" in spec["paths"]["/v1/infer"]["post"]["responses"]
    assert "404" in spec["paths"]["/v1/snapshots"]["get"]["responses"]

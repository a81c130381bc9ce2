"""E-commerce on the real service: `pulse demo shop`, a persona model trained by Ray
Train and served by the ModelServer, the TextEncoder deployment tagging in the
background, and the webhooks the seed lists."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from pulse_ray.runtime.service import RunningService
from pulse_ray.shop.personas import PERSONA_NAMES
from tests.conftest import Receiver
from tests.seed_bodies import SEED_INFER

from .conftest import bearer

# Past the default per-test limit: the first test that asks for the session's demo
# shop sets it up and trains its persona model.
pytestmark = pytest.mark.timeout(900)

# The seed's body, viewing two products the demo catalog has.
SESSION = {**SEED_INFER, "behavior": {**SEED_INFER["behavior"],
                                      "viewed_products": ["prod_00001", "prod_00007"]}}


def _events(receiver: Receiver, secret: str, kind: str, count: int = 1,
            timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [event for event in (Webhook(secret).verify(body, headers)
                                     for headers, body in list(receiver.received))
                 if event["type"] == kind]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {kind} event in {timeout}s")


def test_the_seed_session_is_answered_by_the_trained_persona_model(shop: dict[str, Any]) -> None:
    http: httpx.Client = shop["http"]
    response = http.post("/v1/infer", json=SESSION)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["persona"]["primary"] in PERSONA_NAMES
    assert body["metadata"]["model_version"] == shop["run"]["version"]
    by_id = {p.id: p for p in shop["catalog"]}
    picked = body["recommendations"]["product_ids"]
    assert len(picked) == 10 and not set(picked) & {"prod_00001", "prod_00007"}
    assert all(by_id[p].price <= 100 and by_id[p].rating >= 4 for p in picked)
    lineage = http.get(f"/v1/lineage/{body['id']}").json()
    assert lineage["snapshot"]["hash"] == shop["snapshot"]["hash"]
    assert lineage["training"]["id"] == shop["run"]["id"]
    updated = _events(shop["receiver"], shop["secret"], "model.updated")
    assert updated[0]["data"]["model"] == "shopper-persona"


def test_a_conversion_fires_session_converted_with_its_lineage(shop: dict[str, Any]) -> None:
    http: httpx.Client = shop["http"]
    inferred = http.post("/v1/infer", json={**SESSION, "session_id": "sess_buyer"}).json()
    product = inferred["recommendations"]["product_ids"][2]
    time.sleep(0.5)  # the shopper looks before buying; the inference is in the store by now
    conversion = http.post("/v1/conversions", json={
        "session_id": "sess_buyer", "product_id": product, "value": 59.0, "currency": "EUR"})
    assert conversion.status_code == 201, conversion.text
    assert conversion.json()["inference_id"] == inferred["id"]
    (event,) = [e for e in _events(shop["receiver"], shop["secret"], "session.converted")
                if e["data"]["session_id"] == "sess_buyer"]
    data = event["data"]
    assert data["inference_id"] == inferred["id"] and data["product_id"] == product
    assert data["model"] == {"name": "shopper-persona", "version": shop["run"]["version"]}
    assert data["snapshot"]["hash"] == shop["snapshot"]["hash"]
    assert data["value"] == 59.0 and data["currency"] == "EUR"


def test_a_large_catalog_update_is_tagged_in_the_background(shop: dict[str, Any]) -> None:
    http: httpx.Client = shop["http"]
    products = [{"id": f"prod_new_{i}", "name": f"Trail Runner {i}", "price": 80 + i,
                 "category": "footwear/trail", "description": "Grippy and light."}
                for i in range(150)]
    accepted = http.post("/v1/products/tag", json={"products": products})
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()
    deadline = time.monotonic() + 120
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        job = http.get(f"/v1/products/tag/{job['id']}").json()
    assert job["status"] == "succeeded" and job["tagged"] == 150, job
    tagged = [e for e in _events(shop["receiver"], shop["secret"], "products.tagged")
              if e["data"]["job_id"] == job["id"]]
    assert tagged and tagged[0]["data"]["count"] == 150
    product = http.get("/v1/products/prod_new_149").json()
    assert product["tags"]["facets"]["category"] == ["footwear", "footwear/trail"]


def test_tagging_and_inference_have_separate_limits(service: RunningService, shop: dict[str, Any],
                                                    make_key_module: Any) -> None:
    starter = bearer(make_key_module("read", "write", plan="starter")["key"])
    with httpx.Client(base_url=service.url, headers=starter, timeout=30) as http:
        statuses = [http.post("/v1/products/tag", json={"products": []}).status_code
                    for _ in range(25)]
        assert 429 in statuses and statuses[0] == 400  # tagging: 10/s
        limited = next(r for r in (http.post("/v1/products/tag", json={"products": []})
                                   for _ in range(5)) if r.status_code == 429)
        assert limited.json()["error"]["code"] == "RATE_LIMITED"
        assert http.post("/v1/infer", json=SESSION).status_code == 200  # its own bucket


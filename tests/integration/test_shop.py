"""E-commerce on the real service: `pulse demo shop` (which trains and deploys the
persona model itself), the seed's requests right after it, a persona model trained by
Ray Train and served by the ModelServer, the TextEncoder deployment tagging in the
background, and the webhooks the seed lists."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from deployments.service import RunningService
from pulse_ray.shop.personas import PERSONA_NAMES
from pulse_ray.store import Database
from pulse_ray.store.tables import Product, TaggingJob, WebhookMessage
from tests.conftest import Receiver
from tests.seed_bodies import SEED_INFER, SEED_TAG

from .conftest import SHOP_DEMO, bearer, eventually, pulse_cli

# Past the default per-test limit: the first test that asks for the session's demo
# shop runs `pulse demo shop`, which trains its persona model.
pytestmark = pytest.mark.timeout(900)

# The seed's body, viewing two products the demo catalog has.
SESSION = {**SEED_INFER, "behavior": {**SEED_INFER["behavior"],
                                      "viewed_products": ["prod_00001", "prod_00007"]}}


def _events(receiver: Receiver, kind: str, timeout: float = 30,
            **data: Any) -> list[dict[str, Any]]:
    """The deliveries of ``kind`` whose data holds ``data``, verified as they arrived
    (the fixture gave the receiver its secret). Waits for the one a test caused, not
    just any of its kind: the session's shop shares one receiver between tests."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [event for event in list(receiver.events) if event["type"] == kind
                 and all(event["data"].get(k) == v for k, v in data.items())]
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {kind} event in {timeout}s")


AXES = {"price_sensitivity", "brand_loyalty", "social_proof_reliance", "purchase_intent"}


def test_right_after_the_demo_the_seed_requests_answer_in_the_seed_shapes(
        service: RunningService, shop: dict[str, Any]) -> None:
    """What a new user does next: the two requests `pulse demo shop` printed, with the
    key it made them, the bodies exactly as the seed shows them."""
    printed = shop["demo"].stdout
    assert re.search(r"made key_\w+ \(shop-demo, plan starter", " ".join(printed.split()))
    assert f"shopper-persona {shop['run']['version']} is deployed" in printed
    bodies = dict(re.findall(r"curl -s -X POST \S+(/v1/\S+) .* -d @(\S+)", printed))
    assert json.loads(Path(bodies["/v1/infer"]).read_text()) == SEED_INFER
    assert json.loads(Path(bodies["/v1/products/tag"]).read_text()) == SEED_TAG
    with httpx.Client(base_url=service.url, headers=bearer(shop["demo_key"]),
                      timeout=30) as user:
        inferred = user.post("/v1/infer", json=SEED_INFER)
        tagged = user.post("/v1/products/tag", json=SEED_TAG)
    assert inferred.status_code == 200, inferred.text
    body = inferred.json()
    persona, picked = body["persona"], body["recommendations"]
    assert persona["primary"] in PERSONA_NAMES and 0 < persona["confidence"] <= 1
    assert set(persona["attributes"]) == AXES
    assert len(picked["product_ids"]) == len(picked["rerank_scores"]) == 10
    assert picked["rerank_scores"] == sorted(picked["rerank_scores"], reverse=True)
    assert body["metadata"]["model_version"] == shop["run"]["version"]
    assert body["metadata"]["inference_time_ms"] > 0
    assert tagged.status_code == 200, tagged.text
    (product,) = tagged.json()["data"]
    assert (product["id"], product["name"], product["price"]) == (
        "prod_123", "Performance Running Shoe", 129.99)
    assert set(product["tags"]["attributes"]) == AXES
    assert {p["persona"] for p in product["tags"]["personas"]} == set(PERSONA_NAMES)
    assert product["tags"]["facets"]["category"] == ["footwear", "footwear/running"]


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
    updated = _events(shop["receiver"], "model.updated")
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
    (event,) = _events(shop["receiver"], "session.converted", session_id="sess_buyer")
    data = event["data"]
    assert data["inference_id"] == inferred["id"] and data["product_id"] == product
    assert data["model"] == {"name": "shopper-persona", "version": shop["run"]["version"]}
    assert data["snapshot"]["hash"] == shop["snapshot"]["hash"]
    assert data["value"] == 59.0 and data["currency"] == "EUR"
    # The purchase is the persona inference's outcome too: the product's persona, traced.
    persona = http.get(f"/v1/products/{product}").json()["tags"]["personas"][0]["persona"]
    assert conversion.json()["feedback"]["label"] == persona
    lineage = http.get(f"/v1/lineage/{inferred['id']}").json()
    assert lineage["inference"]["feedback"]["label"] == persona


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
    (tagged,) = _events(shop["receiver"], "products.tagged", job_id=job["id"])
    assert tagged["data"]["count"] == 150
    product = http.get("/v1/products/prod_new_149").json()
    assert product["tags"]["facets"]["category"] == ["footwear", "footwear/trail"]


def test_a_tagging_job_survives_the_sigkill_of_the_replica_running_it(
        service: RunningService, make_key: Any, receiver: Receiver) -> None:
    """Issue 21: the replica tagging 1,000 products is killed after its first checkpoint;
    another takes the job over when the lease runs out, and it completes: every product
    stored, the checkpoint at exactly 1,000, one products.tagged naming each once."""
    headers = bearer(make_key("read", "write", plan="enterprise")["key"])
    products = [{"id": f"prod_kill_{i:04d}", "name": f"Wool Sock {i}", "price": 5 + i % 20,
                 "category": "apparel/socks", "description": "Warm."} for i in range(1000)]
    database = Database.from_settings(service.settings)
    with httpx.Client(base_url=service.url, headers=headers, timeout=60) as http:
        assert http.post("/v1/webhooks", json={"url": receiver.url,
                                               "events": ["products.tagged"]}).status_code == 201
        accepted = http.post("/v1/products/tag", json={"products": products})
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["id"]

        def job() -> TaggingJob:
            with database.session() as session:
                found = session.get(TaggingJob, job_id)
                assert found is not None
                return found

        eventually(lambda: job().tagged > 0, timeout=60, what="the first checkpoint")
        held = job()
        assert held.lease_owner is not None and held.tagged < 1000
        os.kill(int(held.lease_owner.split(":")[1]), signal.SIGKILL)  # the replica's process
        owners = set()  # who held the job until its end

        def ended() -> bool:
            now = job()
            owners.add(now.lease_owner)
            return now.status != "running"

        eventually(ended, timeout=60, what="the job's end")
        assert owners - {None, held.lease_owner}, "no other worker took the job over"
        # From the replica left: the killed one's may still be in rotation a moment.
        replies: list[httpx.Response] = []
        eventually(lambda: replies.append(http.get(f"/v1/products/tag/{job_id}"))
                   or replies[-1].status_code == 200, timeout=30, what="an answer")
    ended = replies[-1].json()
    assert (ended["status"], ended["tagged"]) == ("succeeded", 1000), ended
    assert job().lease_owner is None
    with database.session() as session:
        stored = session.exec(select(Product.id).where(
            col(Product.id).startswith("prod_kill_"))).all()
        messages = [m for m in session.exec(select(WebhookMessage).where(
            WebhookMessage.type == "products.tagged")) if m.payload["data"]["job_id"] == job_id]
    database.dispose()
    assert len(stored) == 1000
    (message,) = messages
    ids = message.payload["data"]["product_ids"]
    assert message.payload["data"]["count"] == 1000 and sorted(ids) == sorted(set(ids))
    assert len(ids) == 1000


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



def test_running_the_demo_again_reuses_its_key_snapshot_and_model(
        service: RunningService, shop: dict[str, Any]) -> None:
    again = pulse_cli(service, *SHOP_DEMO, env=shop["demo_env"], timeout=900)
    assert again.returncode == 0, again.stdout + again.stderr
    printed = " ".join(again.stdout.split())
    assert f"Unchanged since {shop['snapshot']['id']}" in printed
    assert f"shopper-persona {shop['run']['version']} (trained on" in printed
    assert "is deployed already" in printed and "made key_" not in printed
    model = shop["http"].get("/v1/models/shopper-persona").json()
    assert model["deployed_version"] == shop["run"]["version"]

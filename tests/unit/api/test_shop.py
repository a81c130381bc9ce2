"""E-commerce over the API in-process: the real text model tags, an untrained persona
model answers (its quality is measured by loadtests/bench_shop.py and the Serve path runs
in tests/integration/test_shop.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from pulse_ray.api import AppState
from pulse_ray.demo import shop as demo
from pulse_ray.services import shop_demo as loader
from pulse_ray.shop.catalog import Catalog
from pulse_ray.shop.features import FEATURES
from pulse_ray.shop.filters import parse_filters
from pulse_ray.shop.personas import AXES, PERSONA_NAMES
from pulse_ray.store.models import get_model
from pulse_ray.store.retrain import labelled_inputs
from pulse_ray.store.shop import catalog_items
from pulse_ray.store.tables import Conversion, Product
from tests.seed_bodies import SEED_INFER, SEED_TAG

from .conftest import register_untrained


def _product_body(p: demo.DemoProduct) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "description": p.description, "price": p.price,
            "category": p.category, "rating": p.rating, "image_url": p.image_url}


@pytest.fixture
def catalog(client: TestClient, headers: dict[str, str]) -> list[demo.DemoProduct]:
    """90 demo products, tagged through the API."""
    products = demo.catalog(90, seed=2)
    response = client.post("/v1/products/tag", headers=headers,
                           json={"products": [_product_body(p) for p in products]})
    assert response.status_code == 200, response.text
    return products


@pytest.fixture
def persona_model(client: TestClient, headers: dict[str, str], state: AppState,
                  catalog: list[demo.DemoProduct], tmp_path: Path) -> str:
    """shopper-persona deployed: sessions over the catalog in a SQLite datasource, its
    snapshot, the model, and an (untrained) version of it; the version."""
    with state.database.session() as session:
        tagged = Catalog(catalog_items(session=session, account="default"))
    table = asyncio.run(loader.session_table(
        demo.sessions(catalog, 300, seed=3), catalog=tagged, tagger=state.tagging.tagger,
        encoder=state.tagging.tagger.encoder))
    loader.write_sessions(table, str(tmp_path / "shop.db"))
    client.post("/v1/datasources", headers=headers, json={
        "name": "shop", "type": "sqlite", "path": str(tmp_path / "shop.db"),
        "table": loader.SESSIONS_TABLE})
    client.post("/v1/models", headers=headers, json={
        "name": "shopper-persona", "label_column": "persona", "feature_columns": list(FEATURES)})
    snapshot = client.post("/v1/snapshot/shop", headers=headers).json()["id"]
    version = register_untrained(client, headers, state, model="shopper-persona",
                                 snapshot_id=snapshot, table=table, version="1.0.0-000001")
    client.post(f"/v1/models/shopper-persona/versions/{version}/deploy", headers=headers)
    return version


def _fields(response: Any) -> set[str]:
    assert response.status_code == 400, response.text
    body = response.json()["error"]
    assert body["code"] == "VALIDATION_ERROR"
    return {d["field"] for d in body["details"]}


def test_the_seed_tagging_body_tags_and_stores_the_product(client: TestClient,
                                                           headers: dict[str, str]) -> None:
    response = client.post("/v1/products/tag", headers=headers, json=SEED_TAG)
    assert response.status_code == 200, response.text
    (product,) = response.json()["data"]
    tags = product["tags"]
    assert set(tags["attributes"]) == set(AXES)
    assert [p["persona"] for p in tags["personas"]][0] in PERSONA_NAMES
    assert len(tags["personas"]) == len(PERSONA_NAMES)
    assert tags["price_tier"] == "premium"
    assert tags["facets"]["category"] == ["footwear", "footwear/running"]
    stored = client.get("/v1/products/prod_123", headers=headers)
    assert stored.status_code == 200 and stored.json()["tags"] == tags
    assert client.get("/v1/products/prod_999", headers=headers).status_code == 404


def test_malformed_products_get_field_errors_and_nothing_is_stored(
        client: TestClient, headers: dict[str, str], state: AppState) -> None:
    good = SEED_TAG["products"][0]
    response = client.post("/v1/products/tag", headers=headers, json={"products": [
        good, {**good, "id": "prod_2", "price": -1}, {**good, "id": "prod_3", "name": ""},
        {**good, "id": "123"}, {**good, "id": "prod_5", "image_url": "ftp://x"},
        {**good, "id": "prod_6", "colour": "red"}]})
    assert _fields(response) == {"products.1.price", "products.2.name", "products.3.id",
                                 "products.4.image_url", "products.5.colour"}
    assert _fields(client.post("/v1/products/tag", headers=headers,
                               json={"products": [good, good]})) == {"products"}
    assert _fields(client.post("/v1/products/tag", headers=headers,
                               json={"products": []})) == {"products"}
    with state.database.session() as session:
        assert session.get(Product, ("default", "prod_123")) is None


def test_a_large_request_is_tagged_in_the_background(client: TestClient,
                                                     headers: dict[str, str],
                                                     state: AppState) -> None:
    state.settings.shop_tag_sync_max = 5
    products = demo.catalog(12, seed=4)
    response = client.post("/v1/products/tag", headers=headers,
                           json={"products": [_product_body(p) for p in products]})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["id"].startswith("tagjob_") and job["total"] == 12
    deadline = time.monotonic() + 60
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.2)
        job = client.get(f"/v1/products/tag/{job['id']}", headers=headers).json()
    assert job["status"] == "succeeded" and job["tagged"] == 12, job
    assert client.get(f"/v1/products/{products[-1].id}", headers=headers).status_code == 200
    assert client.get("/v1/products/tag/tagjob_nope", headers=headers).status_code == 404


def test_the_seed_session_gets_a_persona_and_filtered_recommendations(
        client: TestClient, headers: dict[str, str], persona_model: str,
        catalog: list[demo.DemoProduct], state: AppState) -> None:
    response = client.post("/v1/infer", headers=headers, json=SEED_INFER)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"].startswith("inf_") and body["session_id"] == "sess_abc123"
    assert body["persona"]["primary"] in PERSONA_NAMES
    assert set(body["persona"]["attributes"]) == set(AXES)
    assert 0 < body["persona"]["confidence"] <= 1
    assert body["metadata"]["model_version"] == persona_model
    assert body["metadata"]["inference_time_ms"] > 0
    ids, scores = body["recommendations"]["product_ids"], body["recommendations"]["rerank_scores"]
    assert 0 < len(ids) <= 10 and len(scores) == len(ids)
    by_id = {p.id: p for p in catalog}
    filters = parse_filters(SEED_INFER["behavior"]["filters"])  # type: ignore[index]
    assert all(filters.admits(by_id[i].price, by_id[i].rating, by_id[i].category) for i in ids)
    lineage = client.get(f"/v1/lineage/{body['id']}", headers=headers)
    assert lineage.status_code == 200, lineage.text
    assert lineage.json()["model"]["version"] == persona_model


def test_recommendations_honour_every_filter_and_skip_viewed_products(
        client: TestClient, headers: dict[str, str], persona_model: str,
        catalog: list[demo.DemoProduct], state: AppState) -> None:
    by_id = {p.id: p for p in catalog}
    shoes = [p.id for p in catalog if p.category.startswith("footwear")]
    for filters in (["category:footwear"], ["price:-60", "rating:4.5+"], ["price:100+"]):
        body = {**SEED_INFER, "behavior": {"filters": filters, "viewed_products": shoes[:5]},
                "options": {"limit": 25}}
        response = client.post("/v1/infer", headers=headers, json=body)
        assert response.status_code == 200, response.text
        ids = response.json()["recommendations"]["product_ids"]
        parsed = parse_filters(filters)
        assert ids and not set(ids) & set(shoes[:5])
        assert all(parsed.admits(by_id[i].price, by_id[i].rating, by_id[i].category)
                   for i in ids)


def test_malformed_sessions_get_field_errors(client: TestClient, headers: dict[str, str],
                                             persona_model: str) -> None:
    def infer(**changes: Any) -> Any:
        body = {**SEED_INFER, **changes}
        return client.post("/v1/infer", headers=headers, json=body)

    behavior: dict[str, Any] = SEED_INFER["behavior"]  # type: ignore[assignment]
    context: dict[str, Any] = SEED_INFER["context"]  # type: ignore[assignment]
    response = infer(behavior={**behavior, "filters": ["colour:red", "rating:4+"]})
    assert _fields(response) == {"behavior.filters.0"}
    assert "colour:red" in response.json()["error"]["details"][0]["message"]
    assert _fields(infer(behavior={**behavior, "filters": ["price:100+", "price:0-50"]})) == {
        "behavior.filters"}
    assert _fields(infer(behavior={**behavior, "dwell_time_ms": -5,
                                   "viewed_products": ["123"]})) == {
        "behavior.dwell_time_ms", "behavior.viewed_products.0"}
    assert _fields(infer(context={**context, "time": "2025-01-14T23:30:00"})) == {"context.time"}
    assert _fields(infer(session_id="abc")) == {"session_id"}
    assert _fields(infer(extra=1)) == {"extra"}


def test_without_a_persona_model_infer_says_what_is_missing(client: TestClient,
                                                            headers: dict[str, str]) -> None:
    response = client.post("/v1/infer", headers=headers, json=SEED_INFER)
    assert response.status_code == 404
    assert "shopper-persona" in response.json()["error"]["message"]


def test_a_persona_model_that_does_not_read_sessions_is_a_conflict_naming_the_features(
        client: TestClient, headers: dict[str, str], state: AppState, snapshot_id: str,
        demo_table: pa.Table) -> None:
    """The model's inputs come from the session, not from the body: the details name
    them as features, apart from the body's own fields."""
    client.post("/v1/models", headers=headers, json={
        "name": "shopper-persona", "label_column": "is_fraud"})
    version = register_untrained(client, headers, state, model="shopper-persona",
                                 snapshot_id=snapshot_id, table=demo_table,
                                 version="1.0.0-000001")
    client.post(f"/v1/models/shopper-persona/versions/{version}/deploy", headers=headers)
    response = client.post("/v1/infer", headers=headers, json=SEED_INFER)
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert "does not read shopper sessions" in error["message"]
    assert {"features.browser", "features.dwell_s"} <= {d["field"] for d in error["details"]}
    assert all(d["field"].startswith("features.") for d in error["details"])


def test_conversions_are_attributed_to_the_recommendation_behind_them(
        client: TestClient, headers: dict[str, str], persona_model: str,
        state: AppState) -> None:
    inferred = client.post("/v1/infer", headers=headers, json=SEED_INFER).json()
    shown = inferred["recommendations"]["product_ids"]
    named = client.post("/v1/conversions", headers=headers, json={
        "session_id": "sess_abc123", "product_id": shown[0], "value": 89.99, "currency": "USD",
        "inference_id": inferred["id"]})
    assert named.status_code == 201, named.text
    assert named.json()["attributed"] is True and named.json()["id"].startswith("conv_")
    assert named.json()["model"] == {"name": "shopper-persona", "version": persona_model}
    time.sleep(0.3)  # the inference log's flush interval: the record is in the store
    found = client.post("/v1/conversions", headers=headers, json={
        "session_id": "sess_abc123", "product_id": shown[1], "value": 10, "currency": "USD"})
    assert found.json()["attributed"] is True
    assert found.json()["inference_id"] == inferred["id"]
    not_shown = client.post("/v1/conversions", headers=headers, json={
        "session_id": "sess_abc123", "product_id": "prod_00090", "value": 10,
        "currency": "USD"})
    assert not_shown.status_code == 201 and not_shown.json()["attributed"] is False
    # The credited purchases are the recommendation's outcomes, in its lineage.
    outcomes = client.get(f"/v1/lineage/{inferred['id']}", headers=headers).json()
    assert [c["id"] for c in outcomes["inference"]["conversions"]] == [
        named.json()["id"], found.json()["id"]]
    # The first purchase is also the persona inference's outcome: the product's persona.
    bought = client.get(f"/v1/products/{shown[0]}", headers=headers).json()
    label = bought["tags"]["personas"][0]["persona"]
    assert named.json()["feedback"]["inference_id"] == inferred["id"]
    assert (named.json()["feedback"]["label"], named.json()["feedback"]["model"]) == (
        label, "shopper-persona")
    assert found.json()["feedback"] is None and not_shown.json()["feedback"] is None
    assert outcomes["inference"]["feedback"]["label"] == label


def test_a_purchase_no_recommendation_showed_labels_the_sessions_latest_persona(
        client: TestClient, headers: dict[str, str], persona_model: str,
        catalog: list[demo.DemoProduct], state: AppState) -> None:
    client.post("/v1/infer", headers=headers, json=SEED_INFER)
    time.sleep(0.3)  # the inference log's flush interval: the records are in the store
    latest = client.post("/v1/infer", headers=headers, json=SEED_INFER).json()
    time.sleep(0.3)
    unshown = next(p.id for p in catalog
                   if p.id not in latest["recommendations"]["product_ids"])
    product = client.get(f"/v1/products/{unshown}", headers=headers).json()
    bought = client.post("/v1/conversions", headers=headers, json={
        "session_id": "sess_abc123", "product_id": product["id"], "value": 10,
        "currency": "USD"}).json()
    assert bought["attributed"] is False
    assert bought["feedback"]["inference_id"] == latest["id"]
    assert bought["feedback"]["label"] == product["tags"]["personas"][0]["persona"]
    # ...which the persona model's retrain learns from: the session's features, labelled.
    with state.database.session() as session:
        model = get_model(session=session, name="shopper-persona", account="default")
        [labelled] = labelled_inputs(session=session, model=model)
    assert (set(labelled.inputs), labelled.label) == (set(FEATURES), bought["feedback"]["label"])
    # A client's own outcome for an inference is not overwritten by a later purchase.
    feedback = client.post("/v1/feedback", headers=headers,
                           json={"inference_id": latest["id"], "label": "deal_hunter"})
    assert feedback.status_code == 409, feedback.text


def test_malformed_conversions_get_field_errors_and_store_nothing(
        client: TestClient, headers: dict[str, str], persona_model: str,
        state: AppState) -> None:
    inferred = client.post("/v1/infer", headers=headers, json=SEED_INFER).json()
    good = {"session_id": "sess_abc123", "product_id": "prod_00001", "value": 5.0,
            "currency": "USD"}
    assert _fields(client.post("/v1/conversions", headers=headers, json={
        **good, "value": -1, "currency": "usd", "session_id": "x"})) == {
        "value", "currency", "session_id"}
    assert _fields(client.post("/v1/conversions", headers=headers,
                               json={**good, "product_id": "prod_nope"})) == {"product_id"}
    assert _fields(client.post("/v1/conversions", headers=headers, json={
        **good, "session_id": "sess_other", "inference_id": inferred["id"]})) == {"inference_id"}
    assert _fields(client.post("/v1/conversions", headers=headers, json={
        **good, "inference_id": "inf_0000000000000000000000"})) == {"inference_id"}
    # The fuzz's 500: an id of the right shape whose time part is past year 9999.
    assert _fields(client.post("/v1/conversions", headers=headers, json={
        **good, "value": 1.3e16, "currency": "MLW",
        "inference_id": "inf_zzzzzzzzzzzzzzzzzzzzzz"})) == {"inference_id"}
    with state.database.session() as session:
        assert session.exec(select(Conversion)).all() == []

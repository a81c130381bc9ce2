"""A purchase as an outcome, the rules the API tests do not reach: only the persona
model's inferences take a persona label, and a label the model cannot hold leaves the
purchase recorded without one (the API's tests/unit/api/test_shop.py shows the label
recorded and traced)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlmodel import select

from pulse_ray.auth import Principal, Scope
from pulse_ray.config import Settings
from pulse_ray.plans import Plan
from pulse_ray.predictions import LocalPredictor
from pulse_ray.schemas.shop import ConversionCreate, ConversionPublic
from pulse_ray.services.feedback import FeedbackService
from pulse_ray.services.inference import InferenceService
from pulse_ray.services.shop import ShopService
from pulse_ray.services.tagging import Tagger
from pulse_ray.shop.encoder import LocalEncoder
from pulse_ray.store import Database
from pulse_ray.store.tables import Conversion, Feedback, InferenceRecord, Product

from .conftest import T0, model_and_snapshot, register_version

PRINCIPAL = Principal(key_id="key_1", name="k", plan=Plan.PRO,
                      scopes=frozenset({Scope.READ, Scope.WRITE}), account="acme", key_hash="h")
SCHEMA = {"fields": {"transaction_amount": {"type": "number", "nullable": True}}}


def _shop(settings: Settings, database: Database) -> ShopService:
    inference = InferenceService(settings=settings, database=database,
                                 predictor=LocalPredictor(), clock=lambda: T0)
    encoder = LocalEncoder()  # loads its model on first use: a conversion never does
    return ShopService(settings=settings, database=database, encoder=encoder,
                       tagger=Tagger(encoder), inference=inference,
                       feedback=FeedbackService(database=database, inference=inference))


def _session_inferred_by(database: Database, tmp_path: Path, model_name: str) -> None:
    """A session (sess_1) whose one inference, by ``model_name``, recommended prod_1."""
    with database.session() as session:
        model, snapshot = model_and_snapshot(session, name=model_name, account="acme")
        version = register_version(session, model, snapshot, tmp_path, input_schema=SCHEMA)
        session.add(Product(account="acme", id="prod_1", name="Gift Box", price=30,
                            category="gifts/sets", embedding=b"", tagged_at=T0, tags={
                                "personas": [{"persona": "gift_shopper", "score": 0.9}]}))
        session.add(InferenceRecord(id="inf_1", account="acme", model_id=model.id,
                                    version=version, latency_ms=1, cached=False,
                                    created_at=T0, session_id="sess_1",
                                    recommended=["prod_1"], inputs={}))


def _buy(settings: Settings, database: Database) -> ConversionPublic:
    return asyncio.run(_shop(settings, database).convert(PRINCIPAL, ConversionCreate(
        session_id="sess_1", product_id="prod_1", value=30, currency="USD")))


@pytest.mark.parametrize("model_name", [
    "fraud-detector",  # another model's inference in a shopper session
    "shopper-persona",  # the persona model, but trained to a true/false label
])
def test_a_purchase_is_recorded_but_labels_no_inference_that_cannot_take_a_persona(
        settings: Settings, database: Database, tmp_path: Path, model_name: str) -> None:
    _session_inferred_by(database, tmp_path, model_name)
    bought = _buy(settings, database)
    assert bought.attributed is True and bought.inference_id == "inf_1"
    assert bought.feedback is None
    with database.session() as session:
        assert len(session.exec(select(Conversion)).all()) == 1
        assert session.exec(select(Feedback)).all() == []

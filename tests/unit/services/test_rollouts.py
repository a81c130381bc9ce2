"""A canary end to end without Ray: the inference service takes each request's arm and
answers a failing candidate with the stable version, the records and error rows carry
the arms, and the controller, on a fake clock, steps, promotes or rolls back from the
store alone (a new controller each tick: it holds nothing between them)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from pulse_ray.auth import Principal, Scope
from pulse_ray.config import Settings
from pulse_ray.errors import RolloutInProgressError
from pulse_ray.models.inputs import InputSchema
from pulse_ray.plans import Plan
from pulse_ray.predictions import ServedModel
from pulse_ray.rollouts import Policy
from pulse_ray.schemas.training import TrainOptions
from pulse_ray.services.inference import InferenceService
from pulse_ray.services.rollouts import RolloutController
from pulse_ray.services.training import RunStates
from pulse_ray.store import Database
from pulse_ray.store import models as model_repo
from pulse_ray.store import rollouts as repo
from pulse_ray.store import traffic as traffic_repo
from pulse_ray.store.tables import (
    InferenceRecord,
    Model,
    Rollout,
    WebhookEndpoint,
    WebhookMessage,
)

from .conftest import PLAN, model_and_snapshot

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PRINCIPAL = Principal(key_id="key_1", name="k", plan=Plan.PRO, scopes=frozenset({Scope.READ}),
                      account="acme", key_hash="h")
POLICY = Policy(steps=(50, 100), interval_s=10, max_error_rate_delta=0.01, max_p99_ratio=1e6,
                min_requests=20)
SCHEMA = InputSchema.model_validate({"fields": {
    "amount": {"type": "number", "nullable": True}}}).model_dump()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Predictor:
    """The candidate (``1.1.0-…``) raises on amounts over 80: 20 % of 1..100."""

    def __init__(self, *, failing: bool) -> None:
        self.failing = failing

    async def predict(self, model: ServedModel, inputs: dict[str, Any]) -> dict[str, Any]:
        if self.failing and model.version.startswith("1.1.0") and inputs["amount"] > 80:
            raise RuntimeError("the candidate is broken")
        return {"version": model.version}


def _versions(database: Database, tmp_path: Path, clock: Clock, deploys: list[str], *,
              auto_rollout: Policy | None = None,
              schemas: list[dict[str, Any]] | None = None) -> None:
    """Model ``m`` of acme with a version per entry of ``deploys`` (each run's option),
    a millisecond apart (so the ids, and with them the version numbers, are in order)."""
    states = RunStates(clock=clock, artifact_uri=str(tmp_path / "a"), auto_rollout=auto_rollout)
    for name in ("model.pt", "model.json"):
        (tmp_path / name).write_bytes(b"")
    with database.session() as session:
        model, snapshot = model_and_snapshot(session, name="m", account="acme")
    for i, deploy in enumerate(deploys):
        clock.now += timedelta(milliseconds=1)
        with database.session() as session:
            model = model_repo.get_model(session=session, name="m", account="acme")
            run = states.create(session=session, model=model, snapshot=snapshot,
                                options=TrainOptions(deploy=deploy),  # type: ignore[arg-type]
                                key_id=None, plan=PLAN)
            states.register(session=session, spec=states.started(session=session,
                                                                 run_id=run.id),
                            saved=tmp_path, digest=f"{i:06d}", metrics={"f1_score": i / 10},
                            input_schema=schemas[i] if schemas else SCHEMA)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def canary(database: Database, tmp_path: Path, clock: Clock) -> str:
    """1.0.0 deployed, a canary of 1.1.0 at its first step; the rollout's id."""
    _versions(database, tmp_path, clock, ["always", "never"])
    with database.session() as session:
        model = model_repo.get_model(session=session, name="m", account="acme")
        session.add(WebhookEndpoint(id="wh_1", account="acme", url="http://h", secret="s",
                                    events=["model.rollout"], created_at=T0))
        return repo.start_rollout(session=session, model=model, version="1.1.0-000001",
                                  policy=POLICY, by_key="key_1", by_run=None, now=T0).id


def _traffic(service: InferenceService, requests: int) -> list[dict[str, Any]]:
    """``requests`` calls, each its own session, amounts 1..100 round and round, through
    a fresh service (its log belongs to one event loop)."""
    async def scenario() -> list[dict[str, Any]]:
        answers = []
        for n in range(requests):
            call = await service.call(PRINCIPAL, "m", session_id=f"sess_{n}")
            answer = await call.run({"amount": float(n % 100 + 1)})
            answers.append({"version": call.served.version, "arm": answer.event.arm,
                            "output": answer.output})
        await service.stop()
        return answers

    return asyncio.run(scenario())


def _service(settings: Settings, database: Database, clock: Clock, *,
             failing: bool) -> InferenceService:
    return InferenceService(settings=settings.model_copy(update={"model_cache_ttl_s": 0.001}),
                            database=database, predictor=Predictor(failing=failing),
                            clock=clock)


def _tick(database: Database, clock: Clock, after_s: float) -> str:
    clock.now += timedelta(seconds=after_s)
    decisions = RolloutController(database=database, clock=clock, tick_s=1).tick()
    return decisions[0].action if decisions else "none"


def test_a_failing_candidate_costs_no_client_and_is_rolled_back(
        settings: Settings, database: Database, clock: Clock, canary: str) -> None:
    answers = _traffic(_service(settings, database, clock, failing=True), 200)
    # Every request answered; the candidate's failures by the stable version.
    arms = {a["arm"] for a in answers}
    assert arms == {"stable", "candidate", "fallback"}
    for a in answers:
        expected = "1.1.0-000001" if a["arm"] == "candidate" else "1.0.0-000000"
        assert a["version"] == a["output"]["version"] == expected
    with database.session() as session:
        rollout = session.get(Rollout, canary)
        assert rollout is not None
        stats = repo.window_stats(session=session, rollout=rollout)
        stored = session.exec(select(InferenceRecord.arm)).all()
    assert sorted(stored) == sorted(a["arm"] for a in answers)
    fallbacks = sum(a["arm"] == "fallback" for a in answers)
    assert stats["candidate"].errors == fallbacks > 0
    assert stats["candidate"].requests == fallbacks + sum(a["arm"] == "candidate"
                                                          for a in answers)
    assert stats["stable"].errors == 0
    # The overview's figures: the candidate's failures in its error rate, though every
    # client was answered (by the stable version: its answers, no failures).
    with database.session() as session:
        figures = {t.version: t for t in traffic_repo.traffic(session=session,
                                                               account="acme", since=T0)}
    candidate, stable = figures["1.1.0-000001"], figures["1.0.0-000000"]
    assert (candidate.failed, candidate.answered) == (
        fallbacks, sum(a["arm"] == "candidate" for a in answers))
    assert (stable.failed, stable.answered) == (0, len(answers) - candidate.answered)

    assert _tick(database, clock, 5) == "wait"  # the interval is not over
    assert _tick(database, clock, 6) == "rollback"
    with database.session() as session:
        rollout = session.get(Rollout, canary)
        model = session.exec(select(Model)).one()
        last = model_repo.history(session=session, model_id=model.id)[0]
        deployed = model_repo.deployed_version(session=session, model_id=model.id)
    assert rollout is not None and rollout.status == "rolled_back"
    assert rollout.active_model_id is None
    assert (last.action, last.from_version, last.to_version) == (
        "rollout_rollback", "1.1.0-000001", "1.0.0-000000")
    assert last.reason is not None and "error rate" in last.reason
    assert last.figures is not None and last.figures["candidate"]["errors"] == fallbacks
    assert deployed is not None and deployed.version == "1.0.0-000000"
    after = _traffic(_service(settings, database, clock, failing=True), 20)
    assert {a["arm"] for a in after} == {None}  # no rollout: no arm


def test_a_healthy_candidate_steps_through_and_is_promoted(
        settings: Settings, database: Database, clock: Clock, canary: str) -> None:
    assert _tick(database, clock, 11) == "wait"  # no requests yet
    _traffic(_service(settings, database, clock, failing=False), 100)
    assert _tick(database, clock, 0) == "advance"
    with database.session() as session:
        rollout = session.get(Rollout, canary)
        assert rollout is not None and rollout.steps[rollout.step_index] == 100
        assert rollout.baseline is not None and rollout.baseline["requests"] >= 20
    answers = _traffic(_service(settings, database, clock, failing=False), 40)
    assert {a["arm"] for a in answers} == {"candidate"}  # 100 %: every session
    assert _tick(database, clock, 11) == "promote"
    with database.session() as session:
        model = session.exec(select(Model)).one()
        deployed = model_repo.deployed_version(session=session, model_id=model.id)
        last = model_repo.history(session=session, model_id=model.id)[0]
        events = [m.payload["data"]["event"] for m in session.exec(
            select(WebhookMessage).order_by(WebhookMessage.id))]  # type: ignore[arg-type]
    assert deployed is not None and deployed.version == "1.1.0-000001"
    assert (last.action, last.key_id) == ("deploy", "key_1")
    assert last.reason is not None and "within bounds" in last.reason
    assert events == ["started", "step", "promoted"]


def test_deploy_auto_goes_through_a_canary_and_one_runs_at_a_time(
        database: Database, tmp_path: Path, clock: Clock) -> None:
    # The first version deploys at once (nothing to compare with); the second, better,
    # starts a canary; the third waits as a candidate while it runs.
    _versions(database, tmp_path, clock, ["auto", "auto", "auto"], auto_rollout=POLICY)
    with database.session() as session:
        model = session.exec(select(Model)).one()
        deployed = model_repo.deployed_version(session=session, model_id=model.id)
        rollouts = session.exec(select(Rollout)).all()
        assert deployed is not None and deployed.version == "1.0.0-000000"
        assert [(r.candidate_version, r.status, r.run_id is not None) for r in rollouts] == [
            ("1.1.0-000001", "running", True)]
        with pytest.raises(RolloutInProgressError):
            repo.start_rollout(session=session, model=model, version="1.2.0-000002",
                               policy=POLICY, by_key=None, by_run=None, now=T0)


def test_a_candidate_refusing_what_the_stable_version_reads_counts_against_it(
        settings: Settings, database: Database, tmp_path: Path, clock: Clock) -> None:
    """A candidate whose schema requires an input the clients do not send: the stable
    version answers them, and the refusals are the candidate's errors."""
    requires_country = InputSchema.model_validate({"fields": {
        "amount": {"type": "number", "nullable": True},
        "country": {"type": "string", "nullable": False}}}).model_dump()
    _versions(database, tmp_path, clock, ["always", "never"],
              schemas=[SCHEMA, requires_country])
    with database.session() as session:
        model = model_repo.get_model(session=session, name="m", account="acme")
        rollout = repo.start_rollout(session=session, model=model, version="2.0.0-000001",
                                     policy=POLICY, by_key=None, by_run=None, now=clock.now)
    answers = _traffic(_service(settings, database, clock, failing=False), 40)
    assert {a["arm"] for a in answers} == {"stable", "fallback"}
    assert {a["version"] for a in answers} == {"1.0.0-000000"}
    with database.session() as session:
        stats = repo.window_stats(session=session, rollout=rollout)
    assert stats["candidate"].errors == stats["candidate"].requests == sum(
        a["arm"] == "fallback" for a in answers)


class Judging:
    """The stable version says fraud over 50, the candidate over 60, 0.1 more sure."""

    async def predict(self, model: ServedModel, inputs: dict[str, Any]) -> dict[str, Any]:
        candidate = model.version.startswith("1.1.0")
        amount = inputs["amount"]
        return {"is_fraud": amount > (60 if candidate else 50),
                "confidence": round(amount / 200 + (0.1 if candidate else 0), 6)}


def test_a_shadow_compares_copies_off_the_response_path_then_becomes_a_canary(
        settings: Settings, database: Database, tmp_path: Path, clock: Clock) -> None:
    _versions(database, tmp_path, clock, ["always", "never"])
    with database.session() as session:
        model = model_repo.get_model(session=session, name="m", account="acme")
        rollout = repo.start_rollout(session=session, model=model, version="1.1.0-000001",
                                     policy=POLICY, by_key=None, by_run=None, now=clock.now,
                                     strategy="shadow")
    service = InferenceService(settings=settings, database=database, predictor=Judging(),
                               clock=clock)

    async def scenario() -> list[str | None]:
        arms = []
        for n in range(100):
            call = await service.call(PRINCIPAL, "m", session_id=f"sess_{n}")
            answer = await call.run({"amount": float(n + 1)})
            assert call.served.version == "1.0.0-000000"  # the stable version answers all
            arms.append(answer.event.arm)
        while service.shadows.pending:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # the last copy in flight
        await service.stop()
        return arms

    assert set(asyncio.run(scenario())) == {"stable"}
    with database.session() as session:
        stats = repo.shadow_stats(session=session, rollout=rollout)
    assert (stats.compared, stats.errors, stats.agreement_rate) == (100, 0, 0.9)
    assert stats.mean_abs_confidence_diff == pytest.approx(0.1)
    assert _tick(database, clock, 60) == "none"  # a shadow waits for a person
    with database.session() as session:
        shadow = session.get(Rollout, rollout.id)
        assert shadow is not None
        repo.to_canary(session=session, rollout=shadow, by_key="key_1", now=clock.now)
    assert _tick(database, clock, 11) == "wait"  # a canary now: waiting for requests

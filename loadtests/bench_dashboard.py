"""Dashboard pages with real volumes: server-side time of every page, slowest first.

Seeds a store with 10 models of 100 versions each (1,000 versions, each with its
training run), a deploy history, and 100,000 inference records spread over the last
hour (a tenth of them shop inferences with a session and persona; 1% more predictions
failed and 1% were refused, which have no record), written as the ingress writes them
(:func:`~pulse_ray.store.inference.insert_events`, so with their traffic minutes), then
renders every page in-process (the app the Serve ingress wraps, no Ray) and
prints the median of several renders per page against a baseline measured in the same
run: ``GET /v1/auth/whoami``, the cheapest authenticated request. The target is
300 ms per page.

    python loadtests/bench_dashboard.py [--store-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from _store import own_database
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text

from pulse_ray.api import build_state, create_app
from pulse_ray.auth import Scope
from pulse_ray.config import Settings
from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.predictions import FailedInference, InferenceEvent
from pulse_ray.schemas.keys import ApiKeyCreate
from pulse_ray.schemas.models import ModelCreate
from pulse_ray.services.training import JobState
from pulse_ray.shop.personas import PERSONA_NAMES
from pulse_ray.store import inference as inference_repo
from pulse_ray.store import keys as key_repo
from pulse_ray.store import models as model_repo
from pulse_ray.store import upgrade
from pulse_ray.store.tables import Datasource, Snapshot, TrainingRun
from pulse_ray.timeutil import utcnow

MODELS, VERSIONS, INFERENCES, TARGET_MS = 10, 100, 100_000, 300.0


class FinishedJobs:
    """Ray Jobs as the run pages meet them once every run has ended: a log to show."""

    def submit(self, run_id: str) -> str:
        raise NotImplementedError("the benchmark starts no training")

    def state(self, job_id: str) -> JobState:
        return JobState(phase="succeeded")

    def logs(self, job_id: str, lines: int = 40) -> str:
        return "\n".join(f"epoch {i}: loss 0.1" for i in range(lines))

    def stop(self, job_id: str) -> None:
        pass


def seed(settings: Settings) -> tuple[str, str, str]:
    """The store's data; an admin key, a model name and an inference id."""
    state = build_state(settings)
    upgrade(state.database)
    now = utcnow()
    account = "default"
    with state.database.session() as session:
        _, secret = key_repo.create_key(session=session, account=account, now=now,
                                        key_create=ApiKeyCreate(name="bench", plan="enterprise",
                                                                scopes=[Scope.ADMIN]))
        source = Datasource(id=new_id(IdPrefix.DATASOURCE, now=now), account=account,
                            name="transactions-db", type="sqlite", path="/tmp/none.db",
                            table="transactions", created_at=now)
        snapshot = Snapshot(id=new_id(IdPrefix.SNAPSHOT, now=now), account=account,
                            datasource_id=source.id, rows=1_000_000, size_bytes=50_000_000,
                            hash="sha256:" + "0" * 64, compression="zstd", uri="/tmp/none",
                            columns=[], files=[], created_at=now)
        session.add_all([source, snapshot])
        session.flush()
        deployed = []
        for m in range(MODELS):
            model = model_repo.create_model(session=session, account=account, now=now,
                                            model_create=ModelCreate(name=f"model-{m}",
                                                                     label_column="y"))
            for v in range(VERSIONS):
                run = TrainingRun(id=new_id(IdPrefix.RUN, now=now), account=account,
                                  model_id=model.id, snapshot_id=snapshot.id,
                                  status="succeeded", options={},
                                  epochs=[{"epoch": e, "loss": 1 / (e + 1)} for e in range(20)],
                                  metrics={"f1_score": 0.8}, version=f"1.{v}.0-{v:06x}",
                                  ray_job_id=f"pulse-{m}-{v}", started_at=now,
                                  completed_at=now)
                session.add(run)
                session.flush()
                model_repo.register_version(session=session, model=model, version=run.version,
                                            run_id=run.id, metrics={"f1_score": 0.8,
                                                                    "accuracy": 0.9},
                                            input_schema={"fields": {}}, artifact_uri="/tmp",
                                            now=now)
                if v % 10 == 9:
                    model_repo.deploy_version(session=session, model=model, version=run.version,
                                              by_key=None, now=now)
            deployed.append((model.id, run.version))
    rng = random.Random(0)
    last = ""
    for _ in range(INFERENCES // 10_000):
        events: list[InferenceEvent | FailedInference] = []
        for _event in range(10_000):
            model_id, version = rng.choice(deployed)
            at = now - timedelta(seconds=rng.uniform(0, 3600))
            last = new_id(IdPrefix.INFERENCE, now=at)
            shop = rng.random() < 0.1
            events.append(InferenceEvent(id=last, account=account, key_id=None,
                                         model_row_id=model_id, version=version,
                                         latency_ms=rng.lognormvariate(1, 0.5),
                                         cached=rng.random() < 0.1, created_at=at,
                                         session_id=f"sess_{rng.randrange(2000)}"
                                         if shop else None,
                                         prediction=rng.choice(PERSONA_NAMES) if shop else None))
            if rng.random() < 0.02:
                events.append(FailedInference(account=account, model_row_id=model_id,
                                              version=version, latency_ms=5.0,
                                              server_side=rng.random() < 0.5, created_at=at))
        with state.database.session() as session:
            inference_repo.insert_events(session=session, events=events)
    if state.database.engine.dialect.name == "postgresql":
        # What autovacuum does after a bulk load: without statistics the planner takes
        # the hour's 100,000 records for a handful and sorts where it would hash.
        with state.database.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
    state.database.dispose()
    return secret, "model-0", last


def median_ms(client: TestClient, path: str, repeat: int,
              **kwargs: object) -> tuple[float, float]:
    """Median wall and CPU milliseconds of GET ``path``. The CPU time is this process's
    (the app, and SQLite, run here): on a busy machine it is what the page costs, where
    wall time also counts waiting for a core."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        answer = client.get(path, **kwargs)  # type: ignore[arg-type]
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store-url", default="", help="a PostgreSQL server, where the "
                        "benchmark makes a database of its own (default: SQLite)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory, own_database(args.store_url) as url:
        settings = Settings(data_dir=Path(directory), store_url=url,
                            secret_keys=SecretStr(Fernet.generate_key().decode()),
                            rate_limits=False)
        started = time.perf_counter()
        secret, model, inference = seed(settings)
        print(f"seeded {MODELS * VERSIONS} versions, {INFERENCES} inference records in "
              f"{time.perf_counter() - started:.1f}s ({settings.store_url.split(':')[0]})")
        state = build_state(settings, training_backend=FinishedJobs())
        with TestClient(create_app(state)) as client:
            login = client.get("/dashboard/login").text
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', login)
            assert csrf
            client.post("/dashboard/login", data={"csrf_token": csrf.group(1),
                                                  "api_key": secret})
            run_id = re.search(r"/dashboard/runs/(run_\w+)", client.get("/dashboard").text)
            assert run_id
            baseline = median_ms(client, "/v1/auth/whoami", args.repeat * 4,
                                 headers={"Authorization": f"Bearer {secret}"})
            pages = ["/dashboard", "/dashboard/models", f"/dashboard/models/{model}",
                     "/dashboard/runs", f"/dashboard/runs/{run_id.group(1)}",
                     f"/dashboard/lineage?id={inference}", "/dashboard/keys",
                     "/dashboard/datasources", "/dashboard/webhooks", "/dashboard/shop",
                     "/dashboard/device"]
            results = sorted(((*median_ms(client, p, args.repeat), p) for p in pages),
                             reverse=True)
        state.database.dispose()
    print(f"baseline GET /v1/auth/whoami: {baseline[0]:.1f} ms wall, {baseline[1]:.1f} ms CPU")
    print("    wall     CPU  wall/baseline  page")
    for wall, cpu, page in results:
        flag = "" if wall < TARGET_MS else f"  OVER {TARGET_MS:.0f} ms"
        print(f"{wall:8.1f} {cpu:7.1f} {wall / baseline[0]:10.1f}x     {page}{flag}")
    wall, cpu, page = results[0]
    print(f"slowest: {page} {wall:.1f} ms wall, {cpu:.1f} ms CPU "
          f"(target < {TARGET_MS:.0f} ms; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores)")


if __name__ == "__main__":
    main()

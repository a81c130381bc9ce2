"""Ray and Serve start once per test session; tests talk to Pulse over real HTTP."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import ray

from deployments.service import RunningService, start_service
from pulse_ray.config import Settings
from pulse_ray.demo import shop as demo
from pulse_ray.demo.transactions import load, transactions
from pulse_ray.runtime.rollouts import start_rollout_controller
from tests.conftest import running_receiver
from tests.seed_bodies import FRAUD_CONSTRAINTS

MakeKey = Callable[..., dict]  # type: ignore[type-arg]


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """An HTTP port whose HAProxy-mode companions (see ray_env) are free too."""
    for _ in range(200):
        port = random.randint(20000, 28000)
        # +2000: the test cluster's dashboard (Ray Jobs)
        if all(_is_free(port + offset) for offset in (0, 404, 500, 1101, 1500, 2000)):
            return port
    raise RuntimeError("no free port range for the test service")


def eventually(condition: Callable[[], bool], *, timeout: float = 30, every: float = 0.1,
               what: str = "the condition") -> None:
    """Polls ``condition`` until it holds; fails the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(every)


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 now (no answer at all counts as no)."""
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """Pulse as `pulse serve` runs it: local Ray with its dashboard (Ray Jobs), 8
    logical CPUs so fractional replicas never wait on 2 real cores, 2 ingress replicas,
    a SQLite store, webhooks allowed to 127.0.0.1."""
    http_port = free_port()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path_factory.mktemp("pulse"),
        http_port=http_port,
        ray_num_cpus=8,
        ray_dashboard=True,
        ray_dashboard_port=http_port + 2000,
        ingress_replicas=2,
        ingress_num_cpus=0.25,
        # A run waits this long for its workers' CPUs (a test takes them away).
        train_start_timeout_s=10,
        # Webhooks: local receivers, retries in fractions of a second.
        webhook_allow_hosts=["127.0.0.1"],
        webhook_retry_schedule_s=[0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
        webhook_poll_interval_s=0.2,
        webhook_timeout_s=2,
        # A tagging job whose replica is killed is taken over 3 s after its checkpoint.
        tag_lease_s=3,
        tag_poll_interval_s=0.5,
        # Drift: windows of 200 inferences (the fewest judged), looked at every second.
        drift_window_requests=200,
        drift_interval_s=1,
        # Retraining: due policies looked for every second; holdouts of 20 rows decide.
        retrain_interval_s=1,
        retrain_min_holdout_rows=20,
    )
    service = start_service(settings)
    try:
        yield service
    finally:
        service.stop()


@contextmanager
def stopped(service: RunningService) -> Iterator[None]:
    """The session's Pulse stopped as `pulse serve` stops on Ctrl-C, and started again
    against the same store on the way out (back when its /readyz answers).

    The stop is ``RunningService.stop`` with the session's Ray left up (as a `pulse serve`
    joined to a cluster leaves it): the application deleted gracefully. The rollout
    controller, a detached actor that a local Ray's shutdown takes with it, is killed
    too, so the restarted ingress starts a new one that knows only the store.
    """
    RunningService(settings=service.settings, started_ray=False).stop()
    ray.kill(start_rollout_controller(service.settings), no_restart=True)
    try:
        yield
    finally:
        start_service(service.settings)
        eventually(lambda: answers(f"{service.url}/readyz"), timeout=120, every=0.2,
                   what="Pulse started again")


@pytest.fixture
def http(service: RunningService) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=30) as client:
        yield client


def pulse_cli(service: RunningService, *args: str, env: dict[str, str] | None = None,
              timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Runs the installed `pulse` command against the service's store, with none of
    the developer's PULSE_* settings (their key, URL or login), plus ``env``."""
    own = {k: v for k, v in os.environ.items() if not k.startswith("PULSE_")}
    return subprocess.run(
        [str(Path(sys.executable).with_name("pulse")), *args],
        env={**own, "PULSE_DATA_DIR": str(service.settings.data_dir), **(env or {})},
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def key_maker(service: RunningService) -> MakeKey:
    def make(*scopes: str, name: str = "it", plan: str = "free") -> dict:  # type: ignore[type-arg]
        args = ["keys", "create", "--name", name, "--plan", plan, "--json"]
        for scope in scopes:
            args += ["--scope", scope]
        result = pulse_cli(service, *args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    return make


@pytest.fixture
def make_key(service: RunningService) -> MakeKey:
    """Issues a key with `pulse keys create`, as a user would."""
    return key_maker(service)


@pytest.fixture(scope="module")
def make_key_module(service: RunningService) -> MakeKey:
    return key_maker(service)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def train(http: httpx.Client, model: str, snapshot: str, **options: Any) -> str:
    """Starts a training run over the API; its id."""
    response = http.post(f"/v1/train/{model}", json={"snapshot": snapshot, "options": options})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def wait_for_run(http: httpx.Client, run_id: str, timeout: float = 240) -> dict[str, Any]:
    """Polls a run until it ends; the run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = http.get(f"/v1/train/{run_id}").json()
        if run["status"] in ("succeeded", "failed", "cancelled"):
            return run  # type: ignore[no-any-return]
        time.sleep(1)
    raise AssertionError(f"{run_id} still {run['status']} after {timeout}s")


def demo_snapshot(service: RunningService, headers: dict[str, str], directory: Path, *,
                  datasource: str, model: str, rows: int, seed: int) -> str:
    """Demo transactions in a SQLite datasource, its snapshot, and a model to train on it
    (is_fraud, with the README's data contract); the snapshot id."""
    path = directory / f"{datasource}.db"
    load(transactions(rows, seed=seed), str(path))
    with httpx.Client(base_url=service.url, headers=headers, timeout=60) as http:
        http.post("/v1/datasources", json={"name": datasource, "type": "sqlite",
                                           "path": str(path), "table": "transactions"})
        snapshot = str(http.post(f"/v1/snapshot/{datasource}").json()["id"])
        http.post("/v1/models", json={"name": model, "label_column": "is_fraud",
                                      "constraints": FRAUD_CONSTRAINTS})
    return snapshot


SHOP_PRODUCTS = 300
SHOP_DEMO = ("demo", "shop", "--products", str(SHOP_PRODUCTS), "--sessions", "3000",
             "--epochs", "4")


@pytest.fixture(scope="session")
def shop(service: RunningService,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`pulse demo shop` as a new user runs it, with no key of their own (so it makes
    one and saves it as the CLI's login): its own training run deploys shopper-persona.
    Also a receiver subscribed to the seed's events, and the run and snapshot behind
    the deployed version."""
    headers = bearer(key_maker(service)("read", "write", name="shop", plan="enterprise")["key"])
    demo_env = {"PULSE_BASE_URL": service.url,
                "PULSE_CONFIG_DIR": str(tmp_path_factory.mktemp("shop-login"))}
    with running_receiver() as receiver, \
            httpx.Client(base_url=service.url, headers=headers, timeout=120) as http:
        secret = http.post("/v1/webhooks", json={"url": receiver.url, "events": [
            "products.tagged", "session.converted", "model.updated"]}).json()["secret"]
        receiver.secret = secret  # deliveries are verified as they arrive
        made = pulse_cli(service, *SHOP_DEMO, env=demo_env, timeout=900)
        assert made.returncode == 0, made.stdout + made.stderr
        login = json.loads((Path(demo_env["PULSE_CONFIG_DIR"]) / "credentials.json")
                           .read_text())
        deployed = http.get("/v1/models/shopper-persona").json()["deployed_version"]
        trained = http.get(f"/v1/lineage/shopper-persona:{deployed}").json()["training"]
        run = http.get(f"/v1/train/{trained['id']}").json()
        snapshot = http.get(f"/v1/snapshots/{run['snapshot']}").json()
        yield {"http": http, "receiver": receiver, "secret": secret, "run": run,
               "snapshot": snapshot, "headers": headers, "demo": made, "demo_env": demo_env,
               "demo_key": login["api_key"], "catalog": demo.catalog(SHOP_PRODUCTS, seed=11)}

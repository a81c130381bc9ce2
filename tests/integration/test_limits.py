"""Rate limits hold for the whole service (2 ingress replicas) and, on a free key, for
all its routes together; idempotent POSTs replay through Serve."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from deployments.service import RunningService

from .conftest import MakeKey, bearer

# One request of each kind a free key's single budget covers: inference (both
# routes), tagging and everything else. The limiter runs before routing and validation,
# so they need no model or catalog: each spends the budget whatever it is answered.
MIX: list[tuple[str, str, Any]] = [
    ("GET", "/v1/auth/whoami", None),
    ("POST", "/v1/infer/fraud-detector", {"input": {"transaction_amount": 1500.0}}),
    ("POST", "/v1/products/tag", {"products": []}),
    ("POST", "/v1/infer", {"session_id": "sess_1"}),
    ("GET", "/v1/models", None),
]


def _simultaneous(
    base_url: str, headers: dict[str, str], requests: list[tuple[str, str, Any]]
) -> list[httpx.Response]:
    barrier = threading.Barrier(len(requests))
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def call(method: str, path: str, body: Any) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as client:  # own connection
            barrier.wait()
            response = client.request(method, path, headers=headers, json=body)
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=call, args=request) for request in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return responses


def test_fifteen_at_once_on_a_free_key_is_exactly_ten_and_five_whatever_the_routes(
    service: RunningService, make_key: MakeKey
) -> None:
    assert service.settings.ingress_replicas == 2
    requests = [MIX[i % len(MIX)] for i in range(15)]
    responses = _simultaneous(service.url, bearer(make_key("read", "write")["key"]), requests)
    statuses = [r.status_code for r in responses]
    assert statuses.count(429) == 5, statuses
    for r in responses:
        assert r.headers["ratelimit-policy"] == '"free";q=60;w=60'
        if r.status_code == 429:
            assert r.json()["error"]["code"] == "RATE_LIMITED"
            assert int(r.headers["retry-after"]) >= 1


def test_sustained_two_per_second_gets_one_per_second(
    service: RunningService, make_key: MakeKey
) -> None:
    headers = bearer(make_key(plan="free")["key"])
    url = f"{service.url}/v1/auth/whoami"
    with httpx.Client(timeout=30) as client:
        assert [client.get(url, headers=headers).status_code for _ in range(10)] == [200] * 10
        allowed = 0
        start = time.monotonic()
        for i in range(16):  # 2 req/s for 8 s
            time.sleep(max(0.0, start + i * 0.5 - time.monotonic()))
            allowed += client.get(url, headers=headers).status_code == 200
    assert 7 <= allowed <= 9  # 60/min = 1/s, however fast the client asks


def test_idempotent_post_replays_through_serve(http: httpx.Client, make_key: MakeKey) -> None:
    admin = bearer(make_key("admin")["key"])
    headers = {**admin, "Idempotency-Key": "it-once"}
    first = http.post("/v1/keys", json={"name": "once"}, headers=headers)
    second = http.post("/v1/keys", json={"name": "once"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second.headers["idempotent-replayed"] == "true"
    other = http.post("/v1/keys", json={"name": "twice"}, headers=headers)
    assert other.status_code == 422

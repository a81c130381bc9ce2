"""Deadlines and load shedding answer with the envelope under real Ray Serve, where the
proxy would otherwise queue forever or send its own plain-text 408/503."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from ray import serve

from deployments.service import RunningService
from pulse_ray.api import build_state, create_app
from pulse_ray.config import Settings


@pytest.fixture(scope="module")
def guarded(service: RunningService) -> Iterator[str]:
    """The Pulse app plus a slow route, at /guard, with a 1 s deadline and room for
    two requests at once."""
    settings = Settings(
        **{
            **service.settings.model_dump(),
            "request_timeout_s": 1.0,
            "max_concurrent_requests": 2,
            "serve_app_name": "pulse-guard",
        }
    )

    @serve.deployment(max_ongoing_requests=50, ray_actor_options={"num_cpus": 0.1})
    @serve.ingress()
    class SlowIngress:
        def __init__(self, settings: Settings) -> None:
            self.state = build_state(settings)

        def __serve_build_asgi_app__(self) -> FastAPI:
            router = APIRouter()

            @router.get("/sleep/{seconds}")
            async def sleep(seconds: float) -> dict[str, float]:
                await asyncio.sleep(seconds)
                return {"slept": seconds}

            app = create_app(self.state, emit_request_id_header=False)
            app.include_router(router)
            return app

    serve.run(SlowIngress.bind(settings), name="pulse-guard", route_prefix="/guard",
              blocking=False)
    try:
        yield f"{service.url}/guard"
    finally:
        serve.delete("pulse-guard", _blocking=False)


def test_past_the_deadline_is_504_timeout(guarded: str) -> None:
    started = time.monotonic()
    response = httpx.get(f"{guarded}/sleep/5", timeout=30)
    assert time.monotonic() - started < 4
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "TIMEOUT"


def test_saturated_replica_sheds_with_503_and_retry_after(guarded: str) -> None:
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def call() -> None:
        r = httpx.get(f"{guarded}/sleep/0.8", timeout=30)
        with lock:
            responses.append(r)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= 2 and 503 in statuses, statuses
    for r in responses:
        if r.status_code == 503:
            assert r.json()["error"]["code"] == "UNAVAILABLE"
            assert r.headers["retry-after"] == "1"
    assert set(statuses) <= {200, 503}

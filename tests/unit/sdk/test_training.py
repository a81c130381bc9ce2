"""Following a run until it ends: ``wait_for_run`` polls, reports every poll, and gives
up after its timeout."""

from __future__ import annotations

import pytest

from pulse_ray.sdk import Pulse, RequestTimeoutError
from tests.unit.fake_pulse import FakeApi, run_detail


def test_wait_for_run_polls_until_the_run_ends() -> None:
    api = FakeApi()
    api.on("GET /v1/train/run_1", run_detail("queued"), run_detail("running", 1),
           run_detail("succeeded", 3, version="1.0.0-abc"))
    seen: list[str] = []
    sleeps: list[float] = []
    with Pulse("k", base_url="http://p", transport=api.transport, sleep=sleeps.append) as client:
        run = client.wait_for_run("run_1", poll_s=0.5, on_update=lambda r: seen.append(r.status))
    assert (run.status, run.version, seen, sleeps) == (
        "succeeded", "1.0.0-abc", ["queued", "running", "succeeded"], [0.5, 0.5])
    api.on("GET /v1/train/run_1", run_detail("running"))
    with api.client() as client, pytest.raises(RequestTimeoutError, match="still running"):
        client.wait_for_run("run_1", timeout_s=0)

"""Request metrics as Prometheus scrapes them: from the Ray node's metrics agent, the
endpoint a Prometheus (or KubeRay's PodMonitor) is pointed at."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import ray
from prometheus_client.parser import text_string_to_metric_families

from tests.seed_bodies import SEED_INFER

REQUESTS = "ray_pulse_http_requests"
LATENCY = "ray_pulse_http_request_duration_seconds"


def _scrape() -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample of every node's /metrics, by sample name."""
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for node in ray.nodes():
        if not node["Alive"]:
            continue
        url = f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics"
        for family in text_string_to_metric_families(httpx.get(url, timeout=10).text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def _total(samples: dict[str, list[tuple[dict[str, str], float]]], name: str,
           **labels: str) -> float:
    """The sum over replicas (and buckets' absence) of the series matching ``labels``."""
    return sum(value for found, value in samples.get(name, [])
               if all(found.get(k) == v for k, v in labels.items()))


def _eventually(check: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
    """Scrapes until ``check`` holds: Ray exports what replicas record every few seconds."""
    deadline = time.monotonic() + timeout
    while True:
        samples = _scrape()
        if check(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(2)


def test_requests_are_counted_and_timed_by_route_model_version_and_status(
        shop: dict[str, Any]) -> None:
    http: httpx.Client = shop["http"]
    persona = {"route": "/v1/infer", "method": "POST", "status": "200",
               "model": "shopper-persona", "version": shop["run"]["version"]}
    refused = {"route": "/v1/auth/whoami", "method": "GET", "status": "401", "model": "",
               "version": ""}
    before = _scrape()
    for _ in range(3):
        assert http.post("/v1/infer", json=SEED_INFER).status_code == 200
    assert httpx.get(http.base_url.join("/v1/auth/whoami")).status_code == 401

    def counted(samples: dict[str, Any]) -> bool:
        return (_total(samples, f"{REQUESTS}_total", **persona)
                >= _total(before, f"{REQUESTS}_total", **persona) + 3
                and _total(samples, f"{REQUESTS}_total", **refused)
                >= _total(before, f"{REQUESTS}_total", **refused) + 1)

    after = _eventually(counted)
    assert counted(after), "the requests never reached Ray's Prometheus endpoint"
    # The histogram counts the same requests, each within the request deadline.
    assert (_total(after, f"{LATENCY}_count", **persona)
            >= _total(before, f"{LATENCY}_count", **persona) + 3)
    assert (_total(after, f"{LATENCY}_bucket", le="60.0", **persona)
            == _total(after, f"{LATENCY}_count", **persona))
    # Serve's own labels tell replicas apart.
    labels = next(found for found, _ in after[f"{REQUESTS}_total"]
                  if all(found.get(k) == v for k, v in persona.items()))
    assert labels["application"] == "pulse" and labels["deployment"] == "PulseIngress"

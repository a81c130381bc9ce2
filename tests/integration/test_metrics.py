"""Request metrics as Prometheus scrapes them: from the Ray node's metrics agent, the
endpoint a Prometheus (or KubeRay's PodMonitor) is pointed at."""

from __future__ import annotations

from typing import Any

import httpx
import ray
from prometheus_client.parser import text_string_to_metric_families

from tests.seed_bodies import SEED_INFER

from .conftest import eventually

REQUESTS = "ray_pulse_http_requests"
LATENCY = "ray_pulse_http_request_duration_seconds"


Samples = dict[str, list[tuple[dict[str, str], float]]]  # by sample name: (labels, value)


def _scrape() -> Samples:
    """Every sample of every node's /metrics."""
    samples: Samples = {}
    for node in ray.nodes():
        if not node["Alive"]:
            continue
        url = f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics"
        for family in text_string_to_metric_families(httpx.get(url, timeout=10).text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def _series(samples: Samples, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    """The series of ``name`` that carry ``labels`` (one per replica)."""
    return [(found, value) for found, value in samples.get(name, [])
            if all(found.get(k) == v for k, v in labels.items())]


def _total(samples: Samples, name: str, **labels: str) -> float:
    return sum(value for _, value in _series(samples, name, **labels))


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

    def counted(samples: Samples) -> bool:
        return (_total(samples, f"{REQUESTS}_total", **persona)
                >= _total(before, f"{REQUESTS}_total", **persona) + 3
                and _total(samples, f"{REQUESTS}_total", **refused)
                >= _total(before, f"{REQUESTS}_total", **refused) + 1)

    scrapes: list[Samples] = []

    def scraped() -> bool:  # Ray exports what replicas record every few seconds
        scrapes.append(_scrape())
        return counted(scrapes[-1])

    eventually(scraped, timeout=60, every=2, what="the requests on Ray's Prometheus endpoint")
    after = scrapes[-1]
    # The histogram counts the same requests, each within the request deadline.
    assert (_total(after, f"{LATENCY}_count", **persona)
            >= _total(before, f"{LATENCY}_count", **persona) + 3)
    assert (_total(after, f"{LATENCY}_bucket", le="60.0", **persona)
            == _total(after, f"{LATENCY}_count", **persona))
    # Serve's own labels tell replicas apart.
    labels, _ = _series(after, f"{REQUESTS}_total", **persona)[0]
    assert labels["application"] == "pulse" and labels["deployment"] == "PulseIngress"

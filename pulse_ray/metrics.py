"""Request metrics' vocabulary: one :class:`RequestSample` per answered HTTP request and
the :class:`RequestRecorder` it goes to.

A base module (no FastAPI, no Ray) so that both sides meet here without importing each
other: the API's metrics middleware (``pulse_ray/api/middleware/metrics.py``) makes
samples, and the Serve ingress's recorder (``pulse_ray/runtime/metrics.py``) turns them
into Ray's Prometheus metrics. (A model's quality metrics, accuracy and F1, are
``pulse_ray/models/metrics.py``.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["MemoryRecorder", "RequestRecorder", "RequestSample"]


@dataclass(frozen=True, slots=True)
class RequestSample:
    """One answered request. ``route`` is a route template, never a raw path; ``model``
    and ``version`` are empty where the request served no model."""

    route: str
    method: str
    status: int
    model: str
    version: str
    duration_s: float


class RequestRecorder(Protocol):
    """Where request samples go. Called on the event loop once per request: it must
    not block (Ray's metrics record in-process; export happens elsewhere)."""

    def record(self, sample: RequestSample) -> None: ...


class MemoryRecorder:
    """Keeps every sample; for tests."""

    def __init__(self) -> None:
        self.samples: list[RequestSample] = []

    def record(self, sample: RequestSample) -> None:
        self.samples.append(sample)

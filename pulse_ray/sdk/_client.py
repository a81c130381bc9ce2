"""The two clients: every resource's endpoints, over the blocking or the awaiting loop.

Each endpoint is written once, in its resource's module, and serves both clients
(see :mod:`pulse_ray.sdk._core`); only ``wait_for_run``, a loop of calls with sleeps
between them, is written for each.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pulse_ray.schemas.training import RunDetail
from pulse_ray.sdk._audit import AuditEndpoints
from pulse_ray.sdk._core import AsyncClientBase, SyncClientBase
from pulse_ray.sdk._datasources import DatasourceEndpoints
from pulse_ray.sdk._inference import InferenceEndpoints
from pulse_ray.sdk._keys import KeyEndpoints
from pulse_ray.sdk._models import ModelEndpoints
from pulse_ray.sdk._shop import ShopEndpoints
from pulse_ray.sdk._snapshots import SnapshotEndpoints
from pulse_ray.sdk._training import RunWatch, TrainingEndpoints
from pulse_ray.sdk._webhooks import WebhookEndpoints

__all__ = ["AsyncPulse", "Pulse"]


class _Endpoints(
    KeyEndpoints, DatasourceEndpoints, SnapshotEndpoints, ModelEndpoints, TrainingEndpoints,
    InferenceEndpoints, WebhookEndpoints, ShopEndpoints, AuditEndpoints,
):
    """One method per route, each returning the :class:`Call` that both clients run.

    Lists take ``limit`` (1-100, server default 20) and ``starting_after`` (the last id
    of the previous page); POSTs take ``idempotency_key`` (default: a fresh uuid4 per
    call, reused by its retries).
    """


class Pulse(_Endpoints, SyncClientBase):
    """Synchronous client.

    Args:
        api_key: the key; else ``PULSE_API_KEY``; else what ``pulse auth login`` saved.
        base_url: the service; else ``PULSE_BASE_URL``; else the saved one; else
            http://127.0.0.1:8000.
        timeout: seconds per attempt; long, as a snapshot answers when it is written.
        max_retries: retries after a 429, a 503 or a lost connection (0: none).
        transport: an httpx transport (tests pass ``httpx.MockTransport``).
        sleep, rand: the wait between retries and its jitter, injectable for tests.
    """

    def wait_for_run(
        self, run_id: str, *, poll_s: float = 1.0, timeout_s: float | None = None,
        on_update: Callable[[RunDetail], None] | None = None,
    ) -> RunDetail:
        """Polls a run until it succeeds, fails or is cancelled; the run as it ended.

        ``on_update`` sees every poll's run (the CLI draws its progress from it).
        Raises :class:`~pulse_ray.errors.RequestTimeoutError` after ``timeout_s``.
        """
        watch = RunWatch(poll_s, timeout_s, time.monotonic)
        while True:
            run = self.get_run(run_id)
            if on_update is not None:
                on_update(run)
            delay = watch.next_poll_s(run)
            if delay is None:
                return run
            self._sleep(delay)


class AsyncPulse(_Endpoints, AsyncClientBase):
    """Asynchronous client: the same methods as :class:`Pulse`, awaited.

    Takes the same arguments; ``transport`` is an ``httpx.AsyncBaseTransport`` and
    ``sleep`` a coroutine function. Use ``async with AsyncPulse() as pulse:``.
    """

    async def wait_for_run(
        self, run_id: str, *, poll_s: float = 1.0, timeout_s: float | None = None,
        on_update: Callable[[RunDetail], None] | None = None,
    ) -> RunDetail:
        """See :meth:`Pulse.wait_for_run`."""
        watch = RunWatch(poll_s, timeout_s, time.monotonic)
        while True:
            run = await self.get_run(run_id)
            if on_update is not None:
                on_update(run)
            delay = watch.next_poll_s(run)
            if delay is None:
                return run
            await self._sleep(delay)

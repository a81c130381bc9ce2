"""Inference on the request path: which version answers, the prediction cache, and the
inference log that lineage reads — all without a database write per request.

* :class:`ModelDirectory` resolves a model name (and optional pinned version) to the
  version that serves it, cached for ``ttl_s`` per replica: a deploy or rollback moves
  traffic within that time, with old and new versions both able to answer meanwhile.
* :class:`PredictionCache` answers identical inputs to the same version from memory.
* :class:`InferenceLog` buffers inference records and writes them in batches every
  ``interval_s``; ``stop()`` flushes what is left, so a clean shutdown loses none.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from anyio import to_thread

from pulse_ray.auth import Principal
from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.models.inputs import InputSchema

__all__ = [
    "InferenceEvent",
    "InferenceLog",
    "LocalPredictor",
    "LruCache",
    "ModelDirectory",
    "PredictionCache",
    "Predictor",
    "ServedModel",
    "TtlDirectory",
    "await_young",
    "predict_cached",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")
# An inference is written within the log's flush interval by whichever replica served
# it: a look-up of a young inference id waits this long before taking "not found".
_RECENT = timedelta(seconds=5)
_WAIT_S = 1.0


@dataclass(frozen=True, slots=True)
class ServedModel:
    """One version of one account's model, as a replica sees it."""

    account: str
    name: str
    model_row_id: str
    version: str
    artifact_uri: str
    input_schema: InputSchema

    @property
    def model_id(self) -> str:
        """The multiplexed model id: ``account/name:version``."""
        return f"{self.account}/{self.name}:{self.version}"


class Predictor(Protocol):
    """What turns validated inputs into an output (a Serve handle, or in-process)."""

    async def predict(self, model: ServedModel, inputs: dict[str, Any]) -> dict[str, Any]: ...


DirectoryKey = tuple[str, str, str | None]  # account, model name, pinned version
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlDirectory(Generic[K, V]):
    """What the store says for a key, cached for ``ttl_s`` per replica: a change in
    the store (a deploy, a newly tagged product) is seen within that time, and the
    request path reads the store at most once per key per ``ttl_s``.

    With ``serve_stale``, a request that finds its entry expired gets the old value at
    once while one lookup refreshes it in the background (stale-while-revalidate): for
    values that are slow to rebuild and fine a few seconds old (a shop's catalog), not
    for those that must follow the store within ``ttl_s`` (which version serves). A
    failed refresh is logged and the old value served until one succeeds.
    """

    def __init__(self, lookup: Callable[[K], V], *, ttl_s: float,
                 clock: Callable[[], float] = time.monotonic,
                 serve_stale: bool = False) -> None:
        self._lookup = lookup
        self._ttl_s = ttl_s
        self._clock = clock
        self._serve_stale = serve_stale
        self._entries: dict[K, tuple[V, float]] = {}
        self._refreshing: dict[K, asyncio.Future[V]] = {}

    def cached(self, key: K) -> V | None:
        entry = self._entries.get(key)
        return entry[0] if entry and entry[1] > self._clock() else None

    def load(self, key: K) -> V:
        """Looks the key up in the store (blocking); raises what the lookup raises."""
        value = self._lookup(key)
        self._entries[key] = (value, self._clock() + self._ttl_s)
        return value

    async def resolve(self, key: K) -> V:
        value = self.cached(key)
        if value is not None:
            return value
        stale = self._entries.get(key)
        if stale is None or not self._serve_stale:
            return await to_thread.run_sync(self.load, key)
        if key not in self._refreshing:  # the task is kept here until done (asyncio's rule)
            refresh = asyncio.ensure_future(to_thread.run_sync(self.load, key))
            self._refreshing[key] = refresh
            refresh.add_done_callback(lambda done: self._refreshed(key, done))
        return stale[0]

    def _refreshed(self, key: K, done: asyncio.Future[V]) -> None:
        self._refreshing.pop(key, None)
        if not done.cancelled() and (error := done.exception()) is not None:
            logger.warning("refreshing %r failed; serving the previous value: %s", key, error)


ModelDirectory = TtlDirectory[DirectoryKey, ServedModel]


class LruCache(Generic[K, V]):
    """A bounded least-recently-used map (``max_entries`` 0 keeps nothing)."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        if self._max <= 0:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


class PredictionCache(LruCache[tuple[str, str], dict[str, Any]]):
    """Outputs by (model version, canonical input)."""

    @staticmethod
    def key(model: ServedModel, inputs: dict[str, Any]) -> tuple[str, str]:
        return model.model_id, json.dumps(inputs, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class InferenceEvent:
    id: str
    account: str
    key_id: str | None
    model_row_id: str
    version: str
    latency_ms: float
    cached: bool
    created_at: datetime
    session_id: str | None = None  # e-commerce inferences: the shopper session
    recommended: list[str] | None = None  # ... and the products recommended to it

    @classmethod
    def of(cls, principal: Principal, served: ServedModel, *, started: float,
           cached: bool, now: datetime, session_id: str | None = None,
           recommended: list[str] | None = None) -> InferenceEvent:
        """The record of one answered inference: a new id, and the latency since
        ``started`` (``time.perf_counter()`` when the request began)."""
        return cls(id=new_id(IdPrefix.INFERENCE, now=now), account=principal.account,
                   key_id=principal.key_id, model_row_id=served.model_row_id,
                   version=served.version, cached=cached, created_at=now,
                   latency_ms=round((time.perf_counter() - started) * 1000, 3),
                   session_id=session_id, recommended=recommended)


Writer = Callable[[list[InferenceEvent]], None]


class InferenceLog:
    """Inference records, batched: ``record`` costs an append; a background task writes
    every ``interval_s`` (or sooner when ``max_batch`` are waiting)."""

    def __init__(self, write: Writer, *, interval_s: float = 0.05,
                 max_batch: int = 1000) -> None:
        self._write = write
        self._interval_s = interval_s
        self._max_batch = max_batch
        self._pending: list[InferenceEvent] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def record(self, event: InferenceEvent) -> None:
        self._pending.append(event)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        if len(self._pending) >= self._max_batch:
            self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval_s)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Writes what is waiting; on a store error the records stay for the next try."""
        async with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                await to_thread.run_sync(self._write, batch)
            except Exception:
                logger.exception("could not write %d inference records; retrying", len(batch))
                self._pending = batch + self._pending

    async def stop(self) -> None:
        """Flushes everything (a clean shutdown loses nothing) and ends the writer."""
        if self._task is not None:
            self._task.cancel()
        await self.flush()


class LocalPredictor:
    """Predicts in this process (no Ray): keeps the last few versions it loaded."""

    def __init__(self, max_models: int = 4) -> None:
        self._max_models = max_models
        self._models: OrderedDict[str, Any] = OrderedDict()

    def _model(self, model: ServedModel) -> Any:
        from pulse_ray.models.artifacts import TrainedModel  # torch: only when predicting

        loaded = self._models.get(model.model_id)
        if loaded is None:
            loaded = TrainedModel.load(model.artifact_uri)
            self._models[model.model_id] = loaded
            while len(self._models) > self._max_models:
                self._models.popitem(last=False)
        self._models.move_to_end(model.model_id)
        return loaded

    async def predict(self, model: ServedModel, inputs: dict[str, Any]) -> dict[str, Any]:
        def run() -> dict[str, Any]:
            outputs: list[dict[str, Any]] = self._model(model).predict([inputs])
            return outputs[0]

        return await to_thread.run_sync(run)


async def await_young(look: Callable[[], T | None], *, made: datetime | None,
                      now: Callable[[], datetime]) -> T | None:
    """``look()`` (blocking, run in a thread), retried for up to a second while the
    thing looked for was made (``made``) so recently that it may still sit in some
    replica's :class:`InferenceLog` buffer."""
    found = await to_thread.run_sync(look)
    deadline = time.monotonic() + _WAIT_S
    while (found is None and made is not None and now() - made < _RECENT
           and time.monotonic() < deadline):
        await asyncio.sleep(0.05)
        found = await to_thread.run_sync(look)
    return found


async def predict_cached(predictor: Predictor, cache: PredictionCache, model: ServedModel,
                         inputs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The output for validated ``inputs``, from the cache when an identical input was
    answered by the same version; and whether it came from there."""
    key = PredictionCache.key(model, inputs)
    output = cache.get(key)
    if output is not None:
        return output, True
    output = await predictor.predict(model, inputs)
    cache.put(key, output)
    return output, False

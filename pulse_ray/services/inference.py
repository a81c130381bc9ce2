"""Inference: the one path both ``/v1/infer`` routes take, without a database write on
the request path.

:class:`InferenceService` owns what a replica keeps for it — which version serves each
model (:class:`~pulse_ray.cache.Directory`, re-read every ``model_cache_ttl_s``), the
outputs of identical inputs (:class:`~pulse_ray.predictions.PredictionCache`) and the
record log (:class:`InferenceLog`, written in batches) — and hands out one
:class:`InferenceCall` per prediction: resolve the version → validate the input →
predict → record. During a rollout the call also carries its arm: the candidate for the
caller's share of a canary (a failure there is answered by the stable version), or the
stable version with a copy for a shadow (:class:`ShadowQueue`).
``POST /v1/infer/{model}`` runs the call straight through
(:meth:`InferenceCall.run`); the shop's ``POST /v1/infer`` takes the same steps with its
session features as the input and its ranking in between.

A record is written within the log's flush interval by whichever replica served it, so
anything that looks one up soon after (lineage, conversion attribution) waits for it
the one way :meth:`InferenceService.recent` does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from anyio import to_thread

from pulse_ray.auth import Principal
from pulse_ray.cache import Directory
from pulse_ray.config import Settings
from pulse_ray.errors import PulseError, ValidationError
from pulse_ray.predictions import (
    ArmFailure,
    FailedInference,
    InferenceEvent,
    PredictionCache,
    Predictor,
    ServedModel,
    ShadowComparison,
)
from pulse_ray.rollouts import Arm, agreement, takes_candidate
from pulse_ray.store import Database
from pulse_ray.store.inference import Canary, Route, insert_events, route
from pulse_ray.timeutil import Clock

__all__ = ["Entry", "Inference", "InferenceCall", "InferenceLog", "InferenceService",
           "ModelDirectory", "ShadowQueue", "Writer"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
# An inference is written within the log's flush interval by whichever replica served
# it: a look-up of a young inference id waits this long before taking "not found".
_RECENT = timedelta(seconds=5)
_WAIT_S = 1.0

DirectoryKey = tuple[str, str, str | None]  # account, model name, pinned version
ModelDirectory = Directory[DirectoryKey, Route]
Entry = InferenceEvent | FailedInference | ArmFailure | ShadowComparison
Writer = Callable[[list[Entry]], Awaitable[None]]


class InferenceLog:
    """Inference records, batched: ``record`` costs an append; a background task hands
    what waits to ``write`` every ``interval_s`` (or sooner when ``max_batch`` are
    waiting)."""

    def __init__(self, write: Writer, *, interval_s: float = 0.05,
                 max_batch: int = 1000) -> None:
        self._write = write
        self._interval_s = interval_s
        self._max_batch = max_batch
        self._pending: list[Entry] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def record(self, event: Entry) -> None:
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
                await self._write(batch)
            except Exception:
                logger.exception("could not write %d inference records; retrying", len(batch))
                self._pending = batch + self._pending

    async def stop(self) -> None:
        """Flushes everything (a clean shutdown loses nothing) and ends the writer. A
        write in flight finishes first: cancelled mid-write, the writer would drop its
        batch from the log while its thread was still writing it (lost on a store error,
        and not yet in the store when ``stop`` returned)."""
        if self._task is not None:
            async with self._lock:
                self._task.cancel()
        await self.flush()


@dataclass(frozen=True, slots=True)
class Inference:
    """An answered inference: its record, the output and what was imputed."""

    event: InferenceEvent
    output: dict[str, Any]
    imputed: list[str]


@dataclass(frozen=True, slots=True)
class _Copy:
    canary: Canary
    inputs: dict[str, Any]
    stable_output: dict[str, Any]


class ShadowQueue:
    """Copies of requests for shadow candidates, answered off the response path: a
    bounded queue (a full one drops the copy, so the stable answer never waits) that
    one task per replica drains, logging each comparison with the inference records."""

    def __init__(self, service: InferenceService, *, max_size: int) -> None:
        self._service = service
        self._queue: asyncio.Queue[_Copy] = asyncio.Queue(maxsize=max_size)
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Copies waiting for the candidate."""
        return self._queue.qsize()

    def offer(self, canary: Canary, inputs: dict[str, Any], output: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait(_Copy(canary, inputs, output))
        except asyncio.QueueFull:
            return  # a sample less; the answer it copies is already on its way
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            copy = await self._queue.get()
            started = time.perf_counter()
            try:
                output = await self._service.predictor.predict(copy.canary.candidate,
                                                               copy.inputs)
            except Exception as error:  # the candidate's failure is a figure, not a 500
                logger.info("shadow %s failed: %s", copy.canary.candidate.model_id,
                            type(error).__name__)
                agreed, diff, latency_ms, failed = None, None, None, True
            else:
                agreed, diff = agreement(copy.stable_output, output)
                latency_ms = round((time.perf_counter() - started) * 1000, 3)
                failed = False
            self._service.log.record(ShadowComparison(
                rollout_id=copy.canary.rollout_id, failed=failed, agreed=agreed,
                confidence_diff=diff, latency_ms=latency_ms,
                created_at=self._service.clock()))

    def stop(self) -> None:
        """Drops what waits: copies are samples, not records anyone was promised."""
        if self._task is not None:
            self._task.cancel()


def _server_side(error: Exception) -> bool:
    """Whether a failed prediction is the server's fault (a model that raised, a lost or
    saturated replica), not the request's."""
    return not isinstance(error, PulseError) or error.http_status >= 500


@dataclass
class InferenceCall:
    """One prediction on its way; the version (and, during a rollout, the arm) is
    chosen when the call is made."""

    service: InferenceService
    principal: Principal
    served: ServedModel
    started: float = field(default_factory=time.perf_counter)
    rollout_id: str | None = None
    arm: Arm | None = None
    stable: ServedModel | None = None  # during a rollout: what answers if the candidate fails
    shadow: Canary | None = None  # a shadow rollout: where a copy of the request goes

    def validate(self, raw: Mapping[str, Any], *, prefix: str = "") -> dict[str, Any]:
        """The input as the version reads it (every field present, missing ones None);
        a refused input counts in the version's traffic as rejected.

        Raises:
            ValidationError: one detail per field the version cannot read, named
                ``<prefix><field>``.
        """
        try:
            return self._validate(raw, prefix)
        except ValidationError as error:
            self._count_failure(error)
            raise

    def _validate(self, raw: Mapping[str, Any], prefix: str) -> dict[str, Any]:
        try:
            return self.served.input_schema.validate_input(raw, prefix=prefix)
        except ValidationError:
            if self.arm != "candidate" or self.stable is None:
                raise
            # The stable version's verdict is the client's: when it accepts what the
            # candidate refuses (a changed input schema), it answers, and the refusal
            # counts against the candidate.
            inputs = self.stable.input_schema.validate_input(raw, prefix=prefix)
            self._failed("candidate")
            self.served, self.arm = self.stable, "fallback"
            return inputs

    def _count_failure(self, error: Exception) -> None:
        """Logs a prediction that got no answer, for the traffic figures (batched with the
        records: the request path only appends)."""
        self.service.log.record(FailedInference.of(
            self.served, started=self.started, server_side=_server_side(error),
            now=self.service.clock()))

    def _failed(self, arm: Arm) -> None:
        assert self.rollout_id is not None
        self.service.log.record(ArmFailure(rollout_id=self.rollout_id, arm=arm,
                                           created_at=self.service.clock()))

    async def predict(self, inputs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """The output for validated ``inputs``, from the cache when the same version
        answered an identical input; and whether it came from there. During a shadow
        rollout a copy goes to the candidate once the answer is in hand. A failure counts
        in the traffic of the version that failed: a canary candidate's too when the
        stable version answers for it."""
        try:
            output, cached = await self._predict(inputs)
        except Exception as error:
            self._count_failure(error)
            raise
        if self.shadow is not None:
            self.service.shadows.offer(self.shadow, inputs, output)
        return output, cached

    async def _predict(self, inputs: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        cache = self.service.predictions
        key = PredictionCache.key(self.served, inputs)
        output = cache.get(key)
        if output is not None:
            return output, True
        try:
            output = await self.service.predictor.predict(self.served, inputs)
        except Exception as error:
            if self.rollout_id is None or self.arm is None or not _server_side(error):
                raise
            self._failed("stable" if self.arm == "fallback" else self.arm)
            if self.arm != "candidate" or self.stable is None:
                raise
            self._count_failure(error)  # in the candidate's traffic; the stable one answers
            # The candidate's failure is the candidate's, not the client's: the stable
            # version answers (inputs are read by name, so the same dict serves both).
            logger.warning("candidate %s failed (%s); the stable version answers",
                           self.served.model_id, type(error).__name__)
            self.served, self.arm = self.stable, "fallback"
            return await self._predict(inputs)
        cache.put(key, output)
        return output, False

    def record(self, *, cached: bool, inputs: dict[str, Any] | None = None,
               session_id: str | None = None, recommended: list[str] | None = None,
               prediction: Any = None) -> InferenceEvent:
        """Logs the answered inference (written within the log's interval) with the
        validated ``inputs`` it read, which the controller's drift watch compares with
        the version's training snapshot, and the ``prediction`` a later outcome
        (feedback) is scored against."""
        event = InferenceEvent.of(self.principal, self.served, started=self.started,
                                  cached=cached, now=self.service.clock(),
                                  session_id=session_id, recommended=recommended,
                                  rollout_id=self.rollout_id, arm=self.arm, inputs=inputs,
                                  prediction=prediction)
        self.service.log.record(event)
        return event

    async def run(self, raw: Mapping[str, Any]) -> Inference:
        """Validate → predict → record, for a request that sends the input itself."""
        inputs = self.validate(raw)
        output, cached = await self.predict(inputs)
        # A model's output leads with its label column's value (TabularPreprocessor.decide).
        prediction = next(iter(output.values()), None)
        return Inference(event=self.record(cached=cached, inputs=inputs,
                                           prediction=prediction), output=output,
                         imputed=[name for name, value in inputs.items() if value is None])


class InferenceService:
    def __init__(self, *, settings: Settings, database: Database, predictor: Predictor,
                 clock: Clock, writer: Writer | None = None) -> None:
        """
        Args:
            writer: where the records go; by default this process writes them to the
                store, in a thread (the Serve ingress passes the store's writer actor,
                so the store's work leaves the replica serving requests).
        """
        self.predictor = predictor
        self.clock = clock
        self._database = database
        self.versions: ModelDirectory = Directory(self._route,
                                                  ttl_s=settings.model_cache_ttl_s)
        self.predictions = PredictionCache(settings.prediction_cache_size)
        self.log = InferenceLog(writer or self._write,
                                interval_s=settings.inference_log_interval_s)
        self.shadows = ShadowQueue(self, max_size=settings.rollout_shadow_queue)

    def _route(self, key: DirectoryKey) -> Route:
        account, name, version = key
        with self._database.session() as session:
            return route(session=session, account=account, name=name, version=version)

    async def _write(self, events: list[Entry]) -> None:
        def write() -> None:
            with self._database.session() as session:
                insert_events(session=session, events=events)

        await to_thread.run_sync(write)

    async def call(self, principal: Principal, model: str, version: str | None = None,
                   *, session_id: str | None = None) -> InferenceCall:
        """A prediction with ``model``'s deployed version, or the pinned ``version``.
        During a canary the arm is the caller's: ``session_id`` (else the key) hashed
        against the step's share, so one caller keeps one version.

        Raises:
            NotFoundError: no such model, or no such pinned version.
            ConflictError: nothing is deployed and no version was pinned.
        """
        started = time.perf_counter()
        found = await self.versions.resolve((principal.account, model, version))
        canary = found.canary
        if canary is None or canary.shadow:
            return InferenceCall(service=self, principal=principal, served=found.stable,
                                 started=started, shadow=canary,
                                 rollout_id=canary.rollout_id if canary else None,
                                 arm="stable" if canary else None)
        chosen = takes_candidate(canary.rollout_id, session_id or principal.key_id,
                                 canary.weight)
        return InferenceCall(service=self, principal=principal,
                             served=canary.candidate if chosen else found.stable,
                             started=started, rollout_id=canary.rollout_id,
                             arm="candidate" if chosen else "stable", stable=found.stable)

    async def recent(self, look: Callable[[], T | None], *,
                     made: datetime | None) -> T | None:
        """``look()`` (blocking, run in a thread), retried for up to a second while the
        inference looked for was made (``made``) so recently that it may still sit in
        some replica's log."""
        found = await to_thread.run_sync(look)
        deadline = time.monotonic() + _WAIT_S
        while (found is None and made is not None and self.clock() - made < _RECENT
               and time.monotonic() < deadline):
            await asyncio.sleep(0.05)
            found = await to_thread.run_sync(look)
        return found

    async def stop(self) -> None:
        """Writes the records still in the log (a clean shutdown loses none)."""
        self.shadows.stop()
        await self.log.stop()

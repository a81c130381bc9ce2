"""Tagging (seed 002: POST /v1/products/tag): products in, tagged product rows out.

:class:`Tagger` is the tagging itself — the text model embeds products in chunks, the
persona space scores them, :func:`~pulse_ray.shop.tags.tag` names their tags; the API
and `pulse demo shop` both tag through it. :class:`TaggingService` is the use case: a
small request is tagged and stored at once, a large one becomes a job row in the store
that a :class:`TaggingWorker` on any ingress replica takes with a lease (so a replica
that dies loses no job), and ``products.tagged`` announces either in the transaction of
its rows.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from anyio import to_thread

from pulse_ray.auth import Principal
from pulse_ray.schemas.shop import ProductIn
from pulse_ray.shop.encoder import Encoder
from pulse_ray.shop.tags import PersonaSpace, ProductFields, product_text, tag
from pulse_ray.store import Database
from pulse_ray.store import shop as repo
from pulse_ray.store import tagging_jobs as jobs
from pulse_ray.store.tables import Product, TaggingJob
from pulse_ray.timeutil import Clock

__all__ = ["CHUNK", "Tagger", "TaggingService", "TaggingWorker", "worker_name"]

logger = logging.getLogger(__name__)

CHUNK = 256  # texts per call to the text model


class Tagger:
    def __init__(self, encoder: Encoder) -> None:
        self.encoder = encoder
        self._space: PersonaSpace | None = None
        self._lock = asyncio.Lock()

    async def persona_space(self) -> PersonaSpace:
        """The personas' embeddings, computed on first use."""
        if self._space is None:
            async with self._lock:
                if self._space is None:
                    self._space = await PersonaSpace.build(self.encoder)
        return self._space

    async def tag(self, account: str, products: Sequence[ProductIn],
                  now: datetime) -> list[Product]:
        space = await self.persona_space()
        fields = [ProductFields(name=p.name, description=p.description, price=p.price,
                                category=p.category, rating=p.rating) for p in products]
        # Products with the same text (variants of one item) are embedded once.
        unique, where = np.unique([product_text(f) for f in fields], return_inverse=True)
        texts = unique.tolist()
        vectors = np.concatenate([await self.encoder.encode(texts[i:i + CHUNK])
                                  for i in range(0, len(texts), CHUNK)])[where]
        scores = space.scores(vectors)
        return [
            Product(account=account, id=p.id, name=p.name, description=p.description,
                    price=p.price, category=p.category, image_url=p.image_url, rating=p.rating,
                    tags=tag(f, scores[i]), embedding=vectors[i].astype(np.float32).tobytes(),
                    tagged_at=now)
            for i, (p, f) in enumerate(zip(products, fields, strict=True))
        ]


class TaggingService:
    """Tagging requests: small ones at once, large ones as jobs in the store that
    :class:`TaggingWorker` s (one per ingress replica) take with a lease."""

    def __init__(self, *, tagger: Tagger, database: Database, clock: Clock,
                 worker: TaggingWorker) -> None:
        self.tagger = tagger
        self.worker = worker
        self._database = database
        self._clock = clock

    async def tag_now(self, principal: Principal, products: Sequence[ProductIn]) -> list[Product]:
        """Tags and stores ``products``; ``products.tagged`` goes out with them."""
        now = self._clock()
        rows = await self.tagger.tag(principal.account, products, now)

        def store() -> None:
            with self._database.session() as session:
                repo.upsert_products(session=session, products=rows)
                repo.tagged_event(session=session, account=principal.account,
                                  product_ids=[r.id for r in rows], job_id=None, now=now)

        await to_thread.run_sync(store)
        return rows

    async def start_job(self, principal: Principal, products: Sequence[ProductIn]) -> TaggingJob:
        """Accepts a large request: the job is stored (from then on it is the store's, not
        this process's) and this replica's worker is told to look at once."""
        def create() -> TaggingJob:
            with self._database.session() as session:
                return jobs.create_job(session=session, account=principal.account,
                                       key_id=principal.key_id, now=self._clock(),
                                       products=[p.model_dump() for p in products])

        job = await to_thread.run_sync(create)
        self.worker.wake()
        return job


def worker_name() -> str:
    """Who holds a lease, as an operator reads it: host, process, and a nonce (a
    restarted process with a reused pid is someone else)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class TaggingWorker:
    """Takes background tagging jobs from the store and tags them, a batch at a time.

    Each batch is stored with its checkpoint while the lease holds; the lease is renewed
    at each checkpoint and every third of it while a batch is being tagged, so only a
    worker that stopped (died, hung its event loop) loses it. It leaves the job at its
    last checkpoint, and
    whichever worker polls after the lease ran out resumes it there (so no product is
    tagged twice). A job not finished ``deadline`` after it was accepted is failed with
    that reason by whichever worker looks first.

    Args:
        owner: this worker's name in the leases it takes (:func:`worker_name`).
        lease: how long a job stays this worker's without a checkpoint.
        batch: products per checkpoint.
    """

    def __init__(self, *, tagger: Tagger, database: Database, clock: Clock, owner: str,
                 lease: timedelta, deadline: timedelta, poll_interval_s: float,
                 batch: int = CHUNK) -> None:
        self.tagger = tagger
        self.owner = owner
        self._database = database
        self._clock = clock
        self._lease = lease
        self._deadline = deadline
        self._poll_interval_s = poll_interval_s
        self._batch = batch
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def _claim(self) -> jobs.Claim | None:
        now = self._clock()
        with self._database.session() as session:
            failed = jobs.fail_overdue(
                session=session, now=now, deadline=self._deadline,
                reason=f"not finished within {self._deadline.total_seconds():g} s of being "
                "accepted (PULSE_TAG_JOB_DEADLINE_S)")
        if failed:
            logger.warning("%d tagging job(s) failed: past their deadline", failed)
        with self._database.session() as session:
            return jobs.claim_job(session=session, owner=self.owner, now=now,
                                  lease=self._lease)

    def _checkpoint(self, claim: jobs.Claim, done: int, rows: list[Product]) -> bool:
        with self._database.session() as session:
            return jobs.checkpoint(session=session, claim=claim, done=done, rows=rows,
                                   now=self._clock(), lease=self._lease)

    def _finish(self, claim: jobs.Claim, error: str | None) -> bool:
        with self._database.session() as session:
            return jobs.finish_job(session=session, claim=claim, now=self._clock(),
                                   error=error)

    def _renew(self, claim: jobs.Claim) -> bool:
        with self._database.session() as session:
            return jobs.renew_lease(session=session, claim=claim, now=self._clock(),
                                    lease=self._lease)

    async def _keep_lease(self, claim: jobs.Claim) -> None:
        """Renews the lease every third of it until cancelled or lost."""
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            if not await to_thread.run_sync(self._renew, claim):
                return

    async def _tag(self, claim: jobs.Claim, batch: Sequence[ProductIn]) -> list[Product]:
        """One batch tagged, the lease kept meanwhile."""
        keeping = asyncio.get_running_loop().create_task(self._keep_lease(claim))
        try:
            return await self.tagger.tag(claim.account, batch, self._clock())
        finally:
            keeping.cancel()

    def _release(self, claim: jobs.Claim) -> None:
        with self._database.session() as session:
            jobs.release_job(session=session, claim=claim)

    async def run_once(self) -> bool:
        """Takes one job, if one is free, and works it until it ends, is lost, or this
        worker stops; whether it took one."""
        claim = await to_thread.run_sync(self._claim)
        if claim is None:
            return False
        await self._work(claim)
        return True

    async def _work(self, claim: jobs.Claim) -> None:
        products = [ProductIn.model_validate(p) for p in claim.products]
        done = claim.tagged
        logger.info("tagging job %s: %s at %d of %d", claim.job_id, self.owner, done,
                    len(products))
        try:
            while done < len(products):
                if self._stop.is_set():
                    await to_thread.run_sync(self._release, claim)
                    return
                rows = await self._tag(claim, products[done:done + self._batch])
                if not await to_thread.run_sync(self._checkpoint, claim, done, rows):
                    logger.warning("tagging job %s is no longer %s's", claim.job_id, self.owner)
                    return
                done += len(rows)
        except Exception as exc:
            logger.exception("tagging job %s failed after %d products", claim.job_id, done)
            await to_thread.run_sync(self._finish, claim, f"{type(exc).__name__}: {exc}")
            return
        await to_thread.run_sync(self._finish, claim, None)

    def wake(self) -> None:
        """Look for a job now (callable from any thread)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        """Works jobs until :meth:`stop`; a store error is logged and retried."""
        self._loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            try:
                worked = await self.run_once()
            except Exception:
                logger.exception("tagging worker %s could not read the jobs", self.owner)
                worked = False
            if not worked:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)
                except TimeoutError:
                    pass

    def start(self) -> None:
        """Runs :meth:`run` in the background of the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        """Ends the loop after the batch in hand; a job it held is released at its
        checkpoint, for another worker to take at once."""
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await self._task

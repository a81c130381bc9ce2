"""Tagging (seed 002: POST /v1/products/tag): products in, tagged product rows out.

:class:`Tagger` is the tagging itself — the text model embeds products in chunks, the
persona space scores them, :func:`~pulse_ray.shop.tags.tag` names their tags; the API
and `pulse demo shop` both tag through it. :class:`TaggingService` is the use case: a
small request is tagged and stored at once, a large one becomes a job tagged in the
background, and ``products.tagged`` announces either in the transaction of its rows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

import numpy as np
from anyio import to_thread

from pulse_ray.auth import Principal
from pulse_ray.schemas.shop import ProductIn
from pulse_ray.shop.encoder import Encoder
from pulse_ray.shop.tags import PersonaSpace, ProductFields, product_text, tag
from pulse_ray.store import Database
from pulse_ray.store import shop as repo
from pulse_ray.store.tables import Product, TaggingJob
from pulse_ray.timeutil import Clock

__all__ = ["CHUNK", "Tagger", "TaggingService"]

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
        texts = [product_text(f) for f in fields]
        vectors = np.concatenate([await self.encoder.encode(texts[i:i + CHUNK])
                                  for i in range(0, len(texts), CHUNK)])
        scores = space.scores(vectors)
        return [
            Product(account=account, id=p.id, name=p.name, description=p.description,
                    price=p.price, category=p.category, image_url=p.image_url, rating=p.rating,
                    tags=tag(f, scores[i]), embedding=vectors[i].astype(np.float32).tobytes(),
                    tagged_at=now)
            for i, (p, f) in enumerate(zip(products, fields, strict=True))
        ]


class TaggingService:
    def __init__(self, *, tagger: Tagger, database: Database, clock: Clock) -> None:
        self.tagger = tagger
        self._database = database
        self._clock = clock
        self._jobs: set[asyncio.Task[None]] = set()

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
        """Accepts a large request: the job is stored, then tagged in the background."""
        def create() -> TaggingJob:
            with self._database.session() as session:
                return repo.create_job(session=session, account=principal.account,
                                       key_id=principal.key_id, now=self._clock(),
                                       products=[p.model_dump() for p in products])

        job = await to_thread.run_sync(create)
        task = asyncio.get_running_loop().create_task(self._run_job(job.id, principal.account,
                                                                    list(products)))
        self._jobs.add(task)  # held, or the loop may drop it half-way
        task.add_done_callback(self._jobs.discard)
        return job

    async def _run_job(self, job_id: str, account: str, products: list[ProductIn]) -> None:
        done: list[str] = []
        try:
            for start in range(0, len(products), CHUNK):
                rows = await self.tagger.tag(account, products[start:start + CHUNK],
                                             self._clock())
                await to_thread.run_sync(self._store_chunk, job_id, account, rows)
                done += [r.id for r in rows]
        except Exception as exc:
            logger.exception("tagging job %s failed after %d products", job_id, len(done))
            await to_thread.run_sync(self._end_job, job_id, account, done,
                                     f"{type(exc).__name__}: {exc}")
            return
        await to_thread.run_sync(self._end_job, job_id, account, done, None)

    def _store_chunk(self, job_id: str, account: str, rows: list[Product]) -> None:
        with self._database.session() as session:
            repo.upsert_products(session=session, products=rows)
            job = repo.get_job(session=session, account=account, job_id=job_id)
            job.status, job.tagged = "running", job.tagged + len(rows)
            session.add(job)

    def _end_job(self, job_id: str, account: str, done: list[str], error: str | None) -> None:
        now = self._clock()
        with self._database.session() as session:
            job = repo.get_job(session=session, account=account, job_id=job_id)
            repo.finish_job(session=session, job=job, status="failed" if error else "succeeded",
                            tagged=len(done), error=error, now=now)
            if error is None:
                repo.tagged_event(session=session, account=account, product_ids=done,
                                  job_id=job_id, now=now)

    async def drain(self) -> None:
        """Waits for background tagging jobs (a clean shutdown finishes them)."""
        if self._jobs:
            await asyncio.gather(*self._jobs, return_exceptions=True)

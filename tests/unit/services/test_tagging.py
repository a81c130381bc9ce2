"""Background tagging jobs on the real store: claimed with a lease, checkpointed per
batch, taken over when a worker dies, failed past their deadline."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
from sqlmodel import select

from pulse_ray.schemas.shop import ProductIn
from pulse_ray.services.tagging import Tagger, TaggingWorker
from pulse_ray.store import Database
from pulse_ray.store import tagging_jobs as jobs
from pulse_ray.store.tables import Product, TaggingJob, WebhookMessage
from pulse_ray.store.webhooks import create_endpoint
from pulse_ray.timeutil import utcnow

from .conftest import T0

LEASE = timedelta(seconds=30)


class CountingEncoder:
    """A stand-in text model (a vector from each text's hash) that counts what it
    embeds, and can be told to hang on a call, as a worker that dies mid-batch does."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.hang_on_call: int | None = None
        self.calls = 0

    async def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        if self.calls == self.hang_on_call:
            await asyncio.Event().wait()  # never returns: the process is gone
        self.seen.update(texts)
        return np.stack([np.random.default_rng(int(hashlib.sha256(t.encode()).hexdigest()[:8],
                                                   16)).standard_normal(16).astype(np.float32)
                         for t in texts])


def _products(count: int) -> list[ProductIn]:
    return [ProductIn(id=f"prod_{i:04d}", name=f"Product {i}", description="A thing",
                      price=10.0 + i, category="home") for i in range(count)]


def _job(database: Database, count: int, *, now: datetime = T0) -> str:
    with database.session() as session:
        create_endpoint(session=session, account="a", url="https://h.example/x",
                        events=["products.tagged"], description=None, secret="whsec_x",
                        now=now)
        return jobs.create_job(session=session, account="a", key_id=None, now=now,
                               products=[p.model_dump() for p in _products(count)]).id


def _worker(database: Database, owner: str, clock: Callable[[], datetime],
            encoder: CountingEncoder, deadline: timedelta = timedelta(hours=1)) -> TaggingWorker:
    return TaggingWorker(tagger=Tagger(encoder), database=database, clock=clock, owner=owner,
                         lease=LEASE, deadline=deadline, poll_interval_s=0.01, batch=10)


def _state(database: Database, job_id: str) -> TaggingJob:
    with database.session() as session:
        job = session.get(TaggingJob, job_id)
        assert job is not None
        return job


def test_a_job_whose_worker_dies_is_finished_by_another_each_product_tagged_once(
    database: Database,
) -> None:
    job_id = _job(database, 45)
    now = [T0]
    first_encoder, second_encoder = CountingEncoder(), CountingEncoder()
    first_encoder.hang_on_call = 4  # personas (1), two batches (2, 3), then it dies
    first = _worker(database, "replica-1", lambda: now[0], first_encoder)
    second = _worker(database, "replica-2", lambda: now[0], second_encoder)

    async def scenario() -> None:
        dying = asyncio.get_running_loop().create_task(first.run_once())
        while _state(database, job_id).tagged < 20:
            await asyncio.sleep(0.01)
        assert not await second.run_once()  # the lease holds: nothing to take
        dying.cancel()  # the process is gone mid-batch: nothing renews its lease
        now[0] += LEASE + timedelta(seconds=1)
        assert await second.run_once()

    asyncio.run(scenario())
    job = _state(database, job_id)
    assert (job.status, job.tagged, job.lease_owner) == ("succeeded", 45, None)
    texts = [t for t in second_encoder.seen if "Product" in t]
    assert len(texts) == 25 and all(second_encoder.seen[t] == 1 for t in texts)
    assert not set(texts) & set(first_encoder.seen)  # the second resumed at the checkpoint
    with database.session() as session:
        products = session.exec(select(Product)).all()
        (message,) = session.exec(select(WebhookMessage)).all()
    assert len(products) == 45
    stored_by = Counter(p.tagged_at for p in products)  # each by the worker that tagged it
    assert stored_by == {T0: 20, now[0]: 25}
    assert message.payload["data"]["count"] == 45
    assert sorted(message.payload["data"]["product_ids"]) == [f"prod_{i:04d}" for i in range(45)]


def test_a_slow_batch_keeps_its_lease(database: Database) -> None:
    """A batch taking three leases' time: renewed meanwhile, the job is not taken."""
    job_id = _job(database, 5, now=utcnow())

    class Slow(CountingEncoder):
        async def encode(self, texts: list[str]) -> np.ndarray:
            await asyncio.sleep(3.6 if any("Product" in t for t in texts) else 0)
            return await super().encode(texts)

    # Long enough that a loaded machine's late renewal (every 0.4 s) still comes in time.
    lease = timedelta(seconds=1.2)
    worker = TaggingWorker(tagger=Tagger(Slow()), database=database, clock=utcnow,
                           owner="replica-1", lease=lease, deadline=timedelta(hours=1),
                           poll_interval_s=0.01)

    async def scenario() -> None:
        working = asyncio.get_running_loop().create_task(worker.run_once())
        while _state(database, job_id).status == "queued":
            await asyncio.sleep(0.01)
        for _ in range(10):  # a second worker looking, on and off, for 2.5 leases' worth
            await asyncio.sleep(0.3)
            with database.session() as session:
                assert jobs.claim_job(session=session, owner="replica-2", now=utcnow(),
                                      lease=lease) is None
        await working

    asyncio.run(scenario())
    assert _state(database, job_id).status == "succeeded"


def test_a_worker_that_lost_its_job_stores_nothing_more(database: Database) -> None:
    job_id = _job(database, 20)
    with database.session() as session:
        lost = jobs.claim_job(session=session, owner="replica-1", now=T0, lease=LEASE)
    with database.session() as session:
        taker = jobs.claim_job(session=session, owner="replica-2", now=T0 + 2 * LEASE,
                               lease=LEASE)
    assert lost is not None and taker is not None and taker.job_id == job_id == lost.job_id
    late = Product(account="a", id="prod_0000", name="late", price=1, category="x", tags={},
                   embedding=b"", tagged_at=T0)
    with database.session() as session:
        assert not jobs.checkpoint(session=session, claim=lost, done=0, rows=[late],
                                   now=T0 + 2 * LEASE, lease=LEASE)
        assert not jobs.finish_job(session=session, claim=lost, now=T0, error=None)
    with database.session() as session:
        assert session.get(Product, ("a", "prod_0000")) is None
    assert _state(database, job_id).lease_owner == "replica-2"


def test_two_workers_polling_together_take_a_job_once(database: Database) -> None:
    job_id = _job(database, 1)
    other = Database(database.url.render_as_string(hide_password=False),
                     secrets=database.secrets)  # another process's pool
    try:
        claims = []
        for db, owner in ((database, "replica-1"), (other, "replica-2")):
            with db.session() as session:
                claims.append(jobs.claim_job(session=session, owner=owner, now=T0,
                                             lease=LEASE))
    finally:
        other.dispose()
    assert [c.job_id if c else None for c in claims] == [job_id, None]


def test_a_clean_stop_releases_the_job_at_its_checkpoint(database: Database) -> None:
    job_id = _job(database, 30)

    class Paused(CountingEncoder):
        """Holds the second batch until the worker has been told to stop (a loaded
        machine otherwise lets it finish all three first)."""

        def __init__(self) -> None:
            super().__init__()
            self.resume = asyncio.Event()
            self.batches = 0

        async def encode(self, texts: list[str]) -> np.ndarray:
            if any(t.startswith("Product") for t in texts):  # not the personas' texts
                self.batches += 1
                if self.batches == 2:
                    await self.resume.wait()
            return await super().encode(texts)

    encoder = Paused()
    worker = _worker(database, "replica-1", lambda: T0, encoder)

    async def scenario() -> None:
        task = asyncio.get_running_loop().create_task(worker.run_once())
        while _state(database, job_id).tagged < 10:
            await asyncio.sleep(0.01)
        stopping = asyncio.get_running_loop().create_task(worker.stop())
        await asyncio.sleep(0)  # stop() has set its flags; it waits for the batch in hand
        encoder.resume.set()
        await stopping
        await task

    asyncio.run(scenario())
    job = _state(database, job_id)
    assert job.status == "running" and job.lease_owner is None and 10 <= job.tagged < 30
    with database.session() as session:  # the next worker takes it at once
        taken = jobs.claim_job(session=session, owner="replica-2", now=T0, lease=LEASE)
    assert taken is not None and taken.tagged == job.tagged


def test_a_job_past_its_deadline_fails_with_the_reason(database: Database) -> None:
    job_id = _job(database, 5)
    worker = _worker(database, "replica-1", lambda: T0 + timedelta(hours=2), CountingEncoder(),
                     deadline=timedelta(hours=1))
    assert not asyncio.run(worker.run_once())
    job = _state(database, job_id)
    assert job.status == "failed" and job.error is not None
    assert "PULSE_TAG_JOB_DEADLINE_S" in job.error and "3600 s" in job.error


def test_a_failing_text_model_fails_the_job_saying_why(database: Database) -> None:
    job_id = _job(database, 5)

    class Broken(CountingEncoder):
        async def encode(self, texts: list[str]) -> np.ndarray:
            raise RuntimeError("TextEncoder has no replica")

    assert asyncio.run(_worker(database, "replica-1", lambda: T0, Broken()).run_once())
    job = _state(database, job_id)
    assert (job.status, job.error) == ("failed", "RuntimeError: TextEncoder has no replica")



def test_products_with_the_same_text_are_embedded_once() -> None:
    encoder = CountingEncoder()
    twin = ProductIn(id="prod_b", name="Trail Shoe", description="Grippy", price=90.0,
                     category="footwear/trail")
    products = [ProductIn(id="prod_a", name="Trail Shoe", description="Grippy", price=80.0,
                          category="footwear/trail"), twin,
                ProductIn(id="prod_c", name="Yoga Mat", price=30.0, category="home")]

    rows = asyncio.run(Tagger(encoder).tag("a", products, utcnow()))

    assert [r.id for r in rows] == ["prod_a", "prod_b", "prod_c"]
    assert [r.price for r in rows] == [80.0, 90.0, 30.0]
    assert encoder.seen["Trail Shoe. footwear trail. Grippy"] == 1
    assert encoder.seen["Yoga Mat. home."] == 1
    assert rows[0].embedding == rows[1].embedding != rows[2].embedding

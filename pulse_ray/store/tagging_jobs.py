"""Repository functions for background tagging jobs: rows claimed with a lease.

A worker claims a job (queued, or one whose lease ran out: its worker died) by a
conditional UPDATE on the row as it read it, so two workers never both take it; each
batch's products are stored in the same transaction as the checkpoint that moves
``tagged`` past them, and that checkpoint only applies while the worker still holds the
lease — so a worker that lost its job writes nothing more, and every product is stored
by exactly one worker, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.store.scope import get_owned
from pulse_ray.store.shop import tagged_event, upsert_products
from pulse_ray.store.tables import Product, TaggingJob

__all__ = [
    "Claim",
    "checkpoint",
    "claim_job",
    "create_job",
    "fail_overdue",
    "finish_job",
    "get_job",
    "release_job",
    "renew_lease",
]

_OPEN = ("queued", "running")


def create_job(*, session: Session, account: str, key_id: str | None,
               products: list[dict[str, Any]], now: datetime) -> TaggingJob:
    job = TaggingJob(id=new_id(IdPrefix.TAGGING_JOB, now=now), account=account, key_id=key_id,
                     status="queued", products=products, total=len(products), created_at=now)
    session.add(job)
    session.flush()
    return job


def get_job(*, session: Session, account: str, job_id: str) -> TaggingJob:
    return get_owned(session, TaggingJob, account, id=job_id,
                     not_found=f"No tagging job '{job_id}'")


@dataclass(frozen=True)
class Claim:
    """A job a worker holds: what it tags, and where it resumes (``products[tagged:]``)."""

    job_id: str
    account: str
    owner: str
    products: list[dict[str, Any]]
    tagged: int


def claim_job(*, session: Session, owner: str, now: datetime, lease: timedelta) -> Claim | None:
    """The oldest open job nobody holds (never held, or its lease ran out), now held by
    ``owner`` until ``now + lease``; None when there is none."""
    candidates = session.exec(
        select(col(TaggingJob.id), col(TaggingJob.status), col(TaggingJob.lease_owner),
               col(TaggingJob.lease_expires_at))
        .where(col(TaggingJob.status).in_(_OPEN),
               or_(col(TaggingJob.lease_owner).is_(None),
                   col(TaggingJob.lease_expires_at) <= now))
        .order_by(col(TaggingJob.created_at)).limit(5)).all()
    for job_id, status, held_by, expires_at in candidates:
        # As read: every checkpoint moves the expiry, so a row that changed since fails.
        claimed = session.exec(  # type: ignore[call-overload]
            update(TaggingJob)
            .where(col(TaggingJob.id) == job_id, col(TaggingJob.status) == status,
                   col(TaggingJob.lease_owner).is_(None) if held_by is None
                   else col(TaggingJob.lease_owner) == held_by,
                   col(TaggingJob.lease_expires_at).is_(None) if expires_at is None
                   else col(TaggingJob.lease_expires_at) == expires_at)
            .values(status="running", lease_owner=owner, lease_expires_at=now + lease))
        if claimed.rowcount != 1:
            continue  # another worker took it between the read and here
        job = session.exec(select(TaggingJob).where(TaggingJob.id == job_id)
                           .execution_options(populate_existing=True)).one()
        return Claim(job_id=job.id, account=job.account, owner=owner,
                     products=list(job.products), tagged=job.tagged)
    return None


def _held(claim: Claim, done: int | None = None) -> Any:
    """The job as ``claim``'s worker left it: still running, still its lease."""
    condition = (col(TaggingJob.id) == claim.job_id) & (col(TaggingJob.status) == "running") \
        & (col(TaggingJob.lease_owner) == claim.owner)
    return condition if done is None else condition & (col(TaggingJob.tagged) == done)


def checkpoint(*, session: Session, claim: Claim, done: int, rows: Sequence[Product],
               now: datetime, lease: timedelta) -> bool:
    """Stores ``rows`` (the products after the first ``done``) and moves the checkpoint
    past them, renewing the lease; False, storing nothing, when the worker no longer
    holds the job (taken over, failed past its deadline)."""
    moved = session.exec(  # type: ignore[call-overload]
        update(TaggingJob).where(_held(claim, done))
        .values(tagged=done + len(rows), lease_expires_at=now + lease))
    if moved.rowcount != 1:
        return False
    upsert_products(session=session, products=rows)
    return True


def finish_job(*, session: Session, claim: Claim, now: datetime, error: str | None) -> bool:
    """Ends the job — succeeded (``products.tagged`` goes out in this transaction) or
    failed with ``error`` — if ``claim``'s worker still holds it."""
    ended = session.exec(  # type: ignore[call-overload]
        update(TaggingJob).where(_held(claim))
        .values(status="failed" if error else "succeeded", error=error, completed_at=now,
                products=[], lease_owner=None, lease_expires_at=None))
    if ended.rowcount != 1:
        return False
    if error is None:
        tagged_event(session=session, account=claim.account,
                     product_ids=[p["id"] for p in claim.products], job_id=claim.job_id,
                     now=now)
    return True


def renew_lease(*, session: Session, claim: Claim, now: datetime, lease: timedelta) -> bool:
    """Keeps the job ``claim``'s worker's for ``lease`` more (while a batch is being
    tagged); False when it no longer holds it."""
    renewed = session.exec(update(TaggingJob).where(_held(claim))  # type: ignore[call-overload]
                           .values(lease_expires_at=now + lease))
    return bool(renewed.rowcount == 1)


def release_job(*, session: Session, claim: Claim) -> None:
    """Gives the job up at its checkpoint (a clean shutdown): the next worker takes it
    at once instead of waiting for the lease to run out."""
    session.exec(update(TaggingJob).where(_held(claim))  # type: ignore[call-overload]
                 .values(lease_owner=None, lease_expires_at=None))


def fail_overdue(*, session: Session, now: datetime, deadline: timedelta, reason: str) -> int:
    """Fails every open job accepted more than ``deadline`` ago; how many."""
    failed = session.exec(  # type: ignore[call-overload]
        update(TaggingJob)
        .where(col(TaggingJob.status).in_(_OPEN), col(TaggingJob.created_at) <= now - deadline)
        .values(status="failed", error=reason, completed_at=now, products=[],
                lease_owner=None, lease_expires_at=None))
    return int(failed.rowcount)

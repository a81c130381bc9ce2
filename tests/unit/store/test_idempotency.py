"""Idempotency records on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pulse_ray.schemas.keys import ApiKeyCreate
from pulse_ray.store import Database
from pulse_ray.store import idempotency as repo
from pulse_ray.store import keys as keys_repo

T0 = datetime(2024, 1, 15, tzinfo=UTC)
TTL, STALE = timedelta(hours=24), timedelta(minutes=2)


def _key(db: Database) -> str:
    with db.session() as session:
        key, _ = keys_repo.create_key(session=session, key_create=ApiKeyCreate(name="k"),
                                      account="a", now=T0)
        return key.id


def _claim(db: Database, key_id: str, *, h: str = "h1", at: datetime = T0):  # type: ignore[no-untyped-def]
    with db.session() as session:
        return repo.claim(session=session, key_id=key_id, idempotency_key="idem-1",
                          request_hash=h, now=at, ttl=TTL, stale_after=STALE)


def test_first_claim_wins_and_later_ones_see_it(database: Database) -> None:
    key_id = _key(database)
    assert _claim(database, key_id) is None
    held = _claim(database, key_id)
    assert held is not None and held.status_code is None and held.request_hash == "h1"
    with database.session() as session:
        repo.complete(session=session, key_id=key_id, idempotency_key="idem-1",
                      status_code=201, content_type="application/json", body=b'{"id": 1}')
    done = _claim(database, key_id)
    assert done is not None and (done.status_code, done.body) == (201, b'{"id": 1}')


def test_released_expired_or_abandoned_keys_can_be_claimed_again(database: Database) -> None:
    key_id = _key(database)
    assert _claim(database, key_id) is None
    with database.session() as session:
        repo.release(session=session, key_id=key_id, idempotency_key="idem-1")
    assert _claim(database, key_id, h="h2") is None  # released: free again
    assert _claim(database, key_id, at=T0 + STALE + timedelta(seconds=1)) is None  # abandoned
    with database.session() as session:
        repo.complete(session=session, key_id=key_id, idempotency_key="idem-1",
                      status_code=200, content_type=None, body=b"")
    assert _claim(database, key_id, at=T0 + timedelta(hours=1)) is not None
    assert _claim(database, key_id, at=T0 + TTL + timedelta(hours=1)) is None  # expired


def test_keys_are_scoped_to_the_api_key(database: Database) -> None:
    first, second = _key(database), _key(database)
    assert _claim(database, first) is None
    assert _claim(database, second) is None

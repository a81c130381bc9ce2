"""Key repository on SQLite and, in CI, on the real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pulse_ray.apikeys import hash_secret
from pulse_ray.auth import Scope
from pulse_ray.errors import NotFoundError, ValidationError
from pulse_ray.plans import FamilyLimits, LimitSpec, Plan
from pulse_ray.schemas.keys import ApiKeyCreate
from pulse_ray.store import Database
from pulse_ray.store import keys as repo

T0 = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)


def _create(db: Database, name: str, *, account: str = "default", at: datetime = T0) -> str:
    with db.session() as session:
        key, _ = repo.create_key(
            session=session, key_create=ApiKeyCreate(name=name), account=account, now=at
        )
        return key.id


def test_created_key_is_found_by_hash_only(database: Database) -> None:
    with database.session() as session:
        key, secret = repo.create_key(
            session=session,
            key_create=ApiKeyCreate(name="ci", plan=Plan.PRO, scopes=[Scope.ADMIN]),
            account="acme",
            now=T0,
        )
    with database.session() as session:
        principal = repo.principal_by_hash(session=session, key_hash=hash_secret(secret))
        assert principal is not None
        assert (principal.key_id, principal.plan, principal.account) == (key.id, Plan.PRO, "acme")
        assert principal.scopes == frozenset({Scope.ADMIN})
        stored = repo.get_key(session=session, key_id=key.id, account="acme")
        assert secret not in repr(stored) and stored.key_hash == hash_secret(secret)
        assert stored.created_at == T0  # timezone-aware UTC on both backends
        assert repo.principal_by_hash(session=session, key_hash=hash_secret("x")) is None


@pytest.mark.parametrize(
    "limits",
    [
        LimitSpec(requests=6000, per="minute", burst=500),
        "unlimited",
        FamilyLimits(inference=LimitSpec(requests=2000, per="second"), tagging="unlimited"),
    ],
)
def test_a_keys_own_limits_come_back_in_their_shape(database: Database, limits: object) -> None:
    with database.session() as session:
        _, secret = repo.create_key(
            session=session,
            key_create=ApiKeyCreate.model_validate(
                {"name": "acme", "plan": "enterprise", "limits": limits}
            ),
            account="default", now=T0,
        )
    with database.session() as session:
        principal = repo.principal_by_hash(session=session, key_hash=hash_secret(secret))
    assert principal is not None and principal.limits == limits


def test_listing_pages_newest_first(database: Database) -> None:
    ids = [_create(database, f"k{i}", at=T0 + timedelta(seconds=i)) for i in range(5)]
    _create(database, "other", account="someone-else")
    with database.session() as session:
        first, more = repo.list_keys(session=session, account="default", limit=2)
        assert [k.id for k in first] == ids[::-1][:2] and more
        rest, more = repo.list_keys(
            session=session, account="default", limit=10, starting_after=first[-1].id
        )
        assert [k.id for k in rest] == ids[::-1][2:] and not more
        with pytest.raises(ValidationError) as caught:
            repo.list_keys(session=session, account="default", limit=2, starting_after="nope")
        assert caught.value.details[0].field == "starting_after"


def test_revoke_is_scoped_to_the_account_and_idempotent(database: Database) -> None:
    key_id = _create(database, "ci")
    with database.session() as session:
        with pytest.raises(NotFoundError):
            repo.revoke_key(session=session, key_id=key_id, account="intruder", now=T0)
    with database.session() as session:
        first = repo.revoke_key(session=session, key_id=key_id, account="default", now=T0)
    later = T0 + timedelta(hours=1)
    with database.session() as session:
        again = repo.revoke_key(session=session, key_id=key_id, account="default", now=later)
    assert first.revoked_at == again.revoked_at == T0


def test_failed_transaction_stores_nothing(database: Database) -> None:
    with pytest.raises(RuntimeError), database.session() as session:
        repo.create_key(session=session, key_create=ApiKeyCreate(name="x"), account="a", now=T0)
        raise RuntimeError("boom")
    with database.session() as session:
        assert repo.list_keys(session=session, account="a", limit=10) == ([], False)

"""Secrets at rest: what a copy of the store shows (nothing), on both backends; the
plaintext rows of earlier versions are sealed by the migration; rotation re-seals."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import MetaData, select, text
from sqlmodel import col

from pulse_ray.config import Settings
from pulse_ray.errors import InternalError
from pulse_ray.schemas.datasources import DatasourceCreate
from pulse_ray.secretbox import SecretBox, key_file, load_keys
from pulse_ray.services.secrets import rotate_key
from pulse_ray.store import Database, upgrade
from pulse_ray.store import datasources as datasource_repo
from pulse_ray.store import webhooks as webhook_repo
from pulse_ray.store.migrate import current_revision, head_revision
from pulse_ray.store.tables import Datasource, WebhookEndpoint

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PASSWORD = "hunter2-Zq8xK"  # noqa: S105 (a test value)
URL = f"postgresql://shop:{PASSWORD}@db.internal:5432/shop"
WEBHOOK_SECRET = "whsec_dGhpcyBpcyBhIHRlc3Qgc2VjcmV0IQ=="  # noqa: S105


def _store_secrets(database: Database) -> None:
    with database.session() as session:
        datasource_repo.create_datasource(
            session=session, account="a", now=T0, datasource_create=DatasourceCreate(
                name="shop-db", type="postgresql", url=URL, table="orders"))
        webhook_repo.create_endpoint(session=session, account="a", url="https://h.example/x",
                                     events=["model.updated"], description=None,
                                     secret=WEBHOOK_SECRET, now=T0)


def _dump(database: Database) -> str:
    """Every row of every table, as a pg_dump (or .dump) would write them, plus the raw
    bytes of a SQLite store and its write-ahead log."""
    metadata = MetaData()
    metadata.reflect(database.engine)
    with database.engine.connect() as conn:
        rows = [repr(row) for table in metadata.sorted_tables
                for row in conn.execute(select(table))]
    dump = "\n".join(rows)
    if database.is_sqlite:
        path = Path(str(database.url.database))
        for file in (path, path.with_name(path.name + "-wal")):
            if file.exists():
                dump += file.read_bytes().decode("latin-1")
    return dump


def test_a_copy_of_the_store_holds_no_password_or_signing_secret(database: Database) -> None:
    _store_secrets(database)
    dump = _dump(database)
    assert PASSWORD not in dump and WEBHOOK_SECRET not in dump
    assert WEBHOOK_SECRET.removeprefix("whsec_") not in dump
    assert "postgresql://shop:***@db.internal:5432/shop" in dump  # shown, masked
    with database.session() as session:  # and the store still has them, for its own use
        source = datasource_repo.get_datasource(session=session, name="shop-db", account="a")
        assert datasource_repo.source_spec(session=session, datasource=source).url == URL
        assert source.public().url == "postgresql://shop:***@db.internal:5432/shop"


def test_a_store_opened_without_its_keys_says_so(database: Database) -> None:
    _store_secrets(database)
    keyless = Database(str(database.url.render_as_string(hide_password=False)))
    try:
        with keyless.session() as session, pytest.raises(InternalError, match="secret keys"):
            source = datasource_repo.get_datasource(session=session, name="shop-db",
                                                    account="a")
            datasource_repo.source_spec(session=session, datasource=source)
    finally:
        keyless.dispose()


def test_plaintext_rows_of_earlier_versions_are_sealed_by_the_migration(
    store_url: str,
) -> None:
    box = SecretBox.generate()
    database = Database(store_url, secrets=box)
    try:
        upgrade(database, "0009")
        with database.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO datasources (id, account, name, type, url, \"table\", created_at) "
                "VALUES ('ds_old', 'a', 'old', 'postgresql', :url, 't', :now)"),
                {"url": URL, "now": T0})
            conn.execute(text(
                "INSERT INTO webhook_endpoints (id, account, url, events, enabled, secret, "
                "previous_secret, created_at) VALUES ('wh_old', 'a', 'https://h.example/x', "
                "'[\"model.updated\"]', true, :secret, :previous, :now)"),
                {"secret": WEBHOOK_SECRET, "previous": "whsec_b2xkb2xkb2xk", "now": T0})
        upgrade(database)
        assert current_revision(database) == head_revision()
        dump = _dump(database)
        assert PASSWORD not in dump and WEBHOOK_SECRET not in dump
        assert "whsec_b2xkb2xk" not in dump
        with database.session() as session:
            source = session.get(Datasource, "ds_old")
            endpoint = session.get(WebhookEndpoint, "wh_old")
            assert source is not None and endpoint is not None
            assert source.url == "postgresql://shop:***@db.internal:5432/shop"
            assert datasource_repo.source_spec(session=session, datasource=source).url == URL
            assert box.open(endpoint.secret) == WEBHOOK_SECRET
            assert endpoint.previous_secret is not None
            assert box.open(endpoint.previous_secret) == "whsec_b2xkb2xkb2xk"
    finally:
        database.dispose()


def test_rotating_the_key_file_reseals_everything(settings: Settings) -> None:
    on_file = settings.model_copy(update={"secret_keys": None})
    on_file.ensure_dirs()
    database = Database.from_settings(on_file, create_key=True)
    upgrade(database)
    _store_secrets(database)
    (old,) = load_keys(on_file)
    rotation = rotate_key(on_file)
    assert (rotation.resealed, rotation.keys_kept) == (2, 2)
    new = load_keys(on_file)[0]
    with database.session() as session:
        sealed = [*session.exec(select(Datasource.url_sealed)).scalars(),
                  *session.exec(select(WebhookEndpoint.secret)).scalars()]
    for token in sealed:  # sealed with the new key: it alone opens them
        assert SecretBox([new]).open(token) in (URL, WEBHOOK_SECRET)
    rotate_key(on_file, drop_old=True)
    assert old not in load_keys(on_file) and len(load_keys(on_file)) == 1
    with database.session() as session:
        assert all(SecretBox(load_keys(on_file)).open(t) in (URL, WEBHOOK_SECRET) for t in [
            *session.exec(select(col(Datasource.url_sealed))).scalars()])
    assert key_file(on_file).stat().st_mode & 0o077 == 0
    database.dispose()


def test_rotating_with_the_setting_reseals_with_its_first_key(settings: Settings) -> None:
    settings.ensure_dirs()
    database = Database.from_settings(settings)
    upgrade(database)
    _store_secrets(database)
    assert settings.secret_keys is not None
    new = Fernet.generate_key().decode()
    rotated = settings.model_copy(update={"secret_keys": type(settings.secret_keys)(
        f"{new},{settings.secret_keys.get_secret_value()}")})
    assert rotate_key(rotated).resealed == 2
    with database.session() as session:
        token = session.exec(select(WebhookEndpoint.secret)).scalars().one()
    assert SecretBox([new]).open(token) == WEBHOOK_SECRET
    database.dispose()

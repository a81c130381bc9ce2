"""Fixtures shared by every test layer: settings in a temporary directory and the
metadata store on SQLite or, when PULSE_TEST_POSTGRES_URL is set, real PostgreSQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from pulse_ray.config import Settings
from pulse_ray.store import Database, upgrade
from pulse_ray.store.engine import normalize_url

POSTGRES_URL = os.environ.get("PULSE_TEST_POSTGRES_URL", "")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's PULSE_* variables, .env or saved credentials."""
    for name in list(os.environ):
        if name.startswith("PULSE_") and name != "PULSE_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("PULSE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "pulse")


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    if not POSTGRES_URL:
        pytest.skip("PULSE_TEST_POSTGRES_URL is not set")
    return POSTGRES_URL


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh database on the server, dropped afterwards (the server keeps state)."""
    name = f"pulse_test_{secrets.token_hex(6)}"
    admin = create_engine(normalize_url(postgres_server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield normalize_url(postgres_server_url).set(database=name).render_as_string(
            hide_password=False
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def database(store_url: str) -> Iterator[Database]:
    """A migrated, empty store on each backend."""
    db = Database(store_url)
    upgrade(db)
    try:
        yield db
    finally:
        db.dispose()

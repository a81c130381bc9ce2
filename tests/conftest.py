"""Fixtures shared by every test layer: settings in a temporary directory, the
metadata store on SQLite or, when PULSE_TEST_POSTGRES_URL is set, real PostgreSQL, and
demo transactions in every kind of datasource, a webhook receiver."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import create_engine, make_url, text
from standardwebhooks import Webhook

from pulse_ray.config import Settings
from pulse_ray.demo.transactions import load, transactions
from pulse_ray.schemas.datasources import DatasourceType
from pulse_ray.secretbox import SecretBox
from pulse_ray.shop.encoder import LocalEncoder
from pulse_ray.sources import SourceSpec
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
    return Settings(data_dir=tmp_path / "pulse",
                    secret_keys=SecretStr(Fernet.generate_key().decode()))


@pytest.fixture(scope="session")
def encoder() -> LocalEncoder:
    """The text model in this process, shared by the session (it loads once, lazily)."""
    return LocalEncoder()


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
    try:  # a libpq URL (postgresql://), as users give it; the store adds its driver
        yield make_url(postgres_server_url).set(database=name).render_as_string(
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
    db = Database(store_url, secrets=SecretBox.generate())
    upgrade(db)
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture(scope="session")
def demo_table() -> pa.Table:
    return transactions(3000, seed=3)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres),
                        "parquet", "csv"])
def source(request: pytest.FixtureRequest, tmp_path: Path, demo_table: pa.Table) -> SourceSpec:
    """The same rows in a source of each type."""
    kind = DatasourceType(request.param)
    if kind is DatasourceType.SQLITE:
        load(demo_table, str(tmp_path / "demo.db"))
        return SourceSpec(type=kind, path=str(tmp_path / "demo.db"), table="transactions")
    if kind is DatasourceType.POSTGRESQL:
        url = request.getfixturevalue("postgres_url")
        load(demo_table, url)
        return SourceSpec(type=kind, url=url, table="transactions")
    directory = tmp_path / kind.value
    directory.mkdir()
    for i, start in enumerate(range(0, demo_table.num_rows, 1000)):  # several files
        part = demo_table.slice(start, 1000)
        if kind is DatasourceType.PARQUET:
            pq.write_table(part, directory / f"part-{i}.parquet")
        else:
            pacsv.write_csv(part, directory / f"part-{i}.csv")
    return SourceSpec(type=kind, path=str(directory))


@dataclass
class Receiver:
    url: str
    statuses: list[int] = field(default_factory=list)  # answered in order, then 200
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    delay_s: float = 0.0  # how long it takes to answer
    # With the endpoint's secret, each delivery is verified as it arrives (Standard
    # Webhooks refuses a timestamp over 5 minutes old, as a receiver would, so a test
    # that looks later must look at what was verified then).
    secret: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1 answering with scripted status codes."""
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["content-length"]))
            time.sleep(state.delay_s)
            headers = {k.lower(): v for k, v in self.headers.items()}
            if state.secret is not None:
                state.events.append(Webhook(state.secret).verify(body, headers))
            state.received.append((headers, body))
            self.send_response(state.statuses.pop(0) if state.statuses else 200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as state:
        yield state

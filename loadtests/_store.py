"""A store for a benchmark that seeds its own: on a PostgreSQL server, a database of its
own, dropped afterwards."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, make_url, text

from pulse_ray.store.engine import normalize_url

__all__ = ["own_database"]


@contextmanager
def own_database(server_url: str) -> Iterator[str]:
    """A database of its own on the PostgreSQL server, dropped afterwards; "" stays ""
    (SQLite in the temporary data directory)."""
    if not server_url:
        yield ""
        return
    name = f"pulse_bench_{secrets.token_hex(6)}"
    admin = create_engine(normalize_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

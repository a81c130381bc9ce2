"""`pulse demo`: demo data to try Pulse on."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from pulse_ray.cli.context import store_session
from pulse_ray.cli.output import out_console
from pulse_ray.config import get_settings
from pulse_ray.datasources import check_datasource
from pulse_ray.demo import TRANSACTIONS_TABLE, load, transactions
from pulse_ray.errors import NotFoundError
from pulse_ray.schemas.datasources import DatasourceCreate, DatasourceType
from pulse_ray.store import datasources as repo
from pulse_ray.timeutil import utcnow

app = typer.Typer(help="Demo data.", no_args_is_help=True)


@app.command("transactions")
def transactions_(
    rows: Annotated[int, typer.Option(min=100, help="How many transactions.")] = 100_000,
    into: Annotated[
        str | None,
        typer.Option(help="postgresql://… or a SQLite file (default: demo.db in the data dir)."),
    ] = None,
    name: Annotated[str, typer.Option(help="Datasource name to register.")] = "transactions-db",
    if_missing: Annotated[
        bool, typer.Option(help="Do nothing if the datasource already exists.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 7,
) -> None:
    """Generate a card-transactions table (about 1.5% fraud) and register it."""
    settings = get_settings()
    settings.ensure_dirs()
    with store_session() as session:
        try:
            repo.get_datasource(session=session, name=name, account="default")
            registered = True
        except NotFoundError:
            registered = False
    if registered and if_missing:
        out_console.print(f"Datasource {name} exists; nothing to do.")
        return
    target = into or str(settings.data_dir / "demo.db")
    started = time.perf_counter()
    load(transactions(rows, seed=seed), target)
    postgres = target.startswith(("postgresql://", "postgres://"))
    body = DatasourceCreate(
        name=name,
        type=DatasourceType.POSTGRESQL if postgres else DatasourceType.SQLITE,
        url=target if postgres or target.startswith("sqlite:///") else None,
        path=None if postgres or target.startswith("sqlite:///") else target,
        table=TRANSACTIONS_TABLE,
        label_column="is_fraud",
    )
    elapsed = time.perf_counter() - started
    if registered:  # its snapshots stay as they were: they are copies
        out_console.print(f"Wrote {rows:,} transactions in {elapsed:.1f}s; datasource "
                          f"{name} was already registered.")
        return
    check_datasource(body)
    with store_session() as session:
        repo.create_datasource(session=session, datasource_create=body, account="default",
                               now=utcnow())
    out_console.print(f"Wrote {rows:,} transactions to {target} in {elapsed:.1f}s and "
                      f"registered datasource {name}.")

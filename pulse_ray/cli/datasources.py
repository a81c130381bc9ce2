"""`pulse datasources`: register and inspect datasources (straight in the store, with
the same live check as the API)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pulse_ray.cli.context import store_database, store_session
from pulse_ray.cli.output import JsonOption, out_console, print_json, table
from pulse_ray.schemas.datasources import DatasourceCreate, DatasourcePublic, DatasourceType
from pulse_ray.services.datasources import DatasourceService
from pulse_ray.store import datasources as repo
from pulse_ray.timeutil import format_timestamp, utcnow

app = typer.Typer(help="Register, list, show and remove datasources.", no_args_is_help=True)

AccountOption = Annotated[str, typer.Option(help="The account it belongs to.")]


def _absolute(path: str | None) -> str | None:
    """Paths are resolved here: the service does not share the CLI's directory."""
    if path is None or "://" in path:
        return path
    return str(Path(path).expanduser().resolve())


def _show(datasource: DatasourcePublic) -> None:
    where = datasource.url or datasource.path
    what = datasource.table or datasource.query
    out_console.print(f"{datasource.name} ({datasource.id}): {datasource.type.value} {where}"
                      + (f" {what}" if what else ""), highlight=False)


@app.command()
def add(
    name: Annotated[str, typer.Argument(help="e.g. transactions-db")],
    type_: Annotated[DatasourceType, typer.Option("--type", help="Kind of source.")],
    url: Annotated[str | None, typer.Option(help="postgresql://… or sqlite:////file.db")] = None,
    path: Annotated[str | None, typer.Option(help="A file, directory or URI.")] = None,
    table_: Annotated[str | None, typer.Option("--table", help="SQL: a table.")] = None,
    query: Annotated[str | None, typer.Option(help="SQL: a SELECT, instead of --table.")] = None,
    shard_key: Annotated[str | None, typer.Option(help="Integer column to split reads on.")] = None,
    label_column: Annotated[str | None, typer.Option(help="Training hint.")] = None,
    feature_column: Annotated[
        list[str] | None, typer.Option(help="Training hint; repeat for several.")
    ] = None,
    account: AccountOption = "default",
    json_output: JsonOption = False,
) -> None:
    """Check a source and register it."""
    body = DatasourceCreate(
        name=name, type=type_, url=url, path=_absolute(path), table=table_, query=query,
        shard_key=shard_key, label_column=label_column, feature_columns=feature_column or None,
    )
    with store_database() as database:
        created = DatasourceService(database=database, clock=utcnow).register(body,
                                                                            account=account)
    print_json(created) if json_output else _show(created)


@app.command("list")
def list_(account: AccountOption = "default", json_output: JsonOption = False) -> None:
    """List datasources, newest first."""
    with store_session() as session:
        rows, _ = repo.list_datasources(session=session, account=account, limit=100)
        found = [r.public() for r in rows]
    if json_output:
        print_json(found)
        return
    table("Datasources", ["name", "type", "where", "table / query", "created"], [
        (d.name, d.type.value, d.url or d.path, d.table or d.query, format_timestamp(d.created_at))
        for d in found
    ])


@app.command()
def show(name: str, account: AccountOption = "default", json_output: JsonOption = False) -> None:
    """One datasource (passwords masked)."""
    with store_session() as session:
        found = repo.get_datasource(session=session, name=name, account=account).public()
    print_json(found) if json_output else _show(found)


@app.command()
def remove(name: str, account: AccountOption = "default") -> None:
    """Remove a datasource that no snapshot refers to."""
    with store_session() as session:
        repo.delete_datasource(session=session, name=name, account=account, now=utcnow())
    out_console.print(f"Removed {name}.")

"""How the CLI talks: rich tables for people, ``--json`` for scripts, errors on stderr."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from pulse_ray.errors import PulseError

__all__ = ["JsonOption", "err_console", "out_console", "print_error", "print_json", "table"]

out_console = Console()
err_console = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def print_json(value: BaseModel | Sequence[BaseModel] | dict[str, Any]) -> None:
    if isinstance(value, BaseModel):
        data: Any = value.model_dump(mode="json")
    elif isinstance(value, dict):
        data = value
    else:
        data = [v.model_dump(mode="json") for v in value]
    typer.echo(json.dumps(data, indent=2))


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=title)
    for column in columns:
        t.add_column(column, overflow="fold")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    out_console.print(t)


def print_error(error: PulseError) -> None:
    err_console.print(f"[bold red]{error.code}[/]: {error.message}", highlight=False)
    for detail in error.details:
        err_console.print(f"  {detail.field}: {detail.message}", highlight=False)

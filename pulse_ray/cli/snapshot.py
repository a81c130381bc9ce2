"""`pulse snapshot DATASOURCE`: snapshot through the running service (Ray Data);
`pulse snapshots`: list and inspect them."""

from __future__ import annotations

from typing import Annotated

import typer

from pulse_ray.cli import service
from pulse_ray.cli.output import JsonOption, err_console, out_console, print_json, table
from pulse_ray.schemas.snapshots import Compression, SnapshotPublic
from pulse_ray.timeutil import format_timestamp

__all__ = ["snapshot", "snapshots_app"]

snapshots_app = typer.Typer(help="List and inspect snapshots.", no_args_is_help=True)


def _show(result: SnapshotPublic) -> None:
    out_console.print(
        f"{result.id} ({result.datasource}): {result.rows:,} rows, "
        f"{result.size_bytes / 2**20:.1f} MiB {result.compression.value}, {result.hash}",
        highlight=False)


def snapshot(
    datasource: Annotated[str, typer.Argument(help="The datasource's name.")],
    force: Annotated[bool, typer.Option(help="A new snapshot even if nothing changed.")] = False,
    compression: Annotated[Compression, typer.Option(help="Parquet codec.")] = Compression.ZSTD,
    json_output: JsonOption = False,
) -> None:
    """Snapshot a datasource to hashed Parquet (uses the key from `pulse auth login`)."""
    # The service answers when the copy is written: a spinner (on stderr) until then.
    with service.client() as client, err_console.status(f"Snapshotting {datasource}…"):
        result = client.create_snapshot(datasource, force=force, compression=compression)
    print_json(result) if json_output else _show(result)


@snapshots_app.command("list")
def list_(
    datasource: Annotated[str | None, typer.Option(help="Only this datasource's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 100,
    json_output: JsonOption = False,
) -> None:
    """Snapshots, newest first."""
    with service.client() as client:
        found = client.list_snapshots(datasource=datasource, limit=limit).data
    if json_output:
        print_json(found)
        return
    table("Snapshots", ["id", "datasource", "rows", "MiB", "hash", "created"], [
        (s.id, s.datasource, f"{s.rows:,}", f"{s.size_bytes / 2**20:.1f}", s.hash,
         format_timestamp(s.created_at)) for s in found])


@snapshots_app.command()
def show(
    snapshot_id: Annotated[str, typer.Argument(help="The snap_… id.")],
    json_output: JsonOption = False,
) -> None:
    """One snapshot: where its files are, and its columns."""
    with service.client() as client:
        found = client.get_snapshot(snapshot_id)
    if json_output:
        print_json(found)
        return
    _show(found)
    out_console.print(f"  {len(found.files)} files under {found.uri}", highlight=False)
    out_console.print("  " + ", ".join(f"{c.name} {c.type}" for c in found.columns),
                      highlight=False)

"""`pulse snapshot DATASOURCE`: snapshot through the running service (Ray Data)."""

from __future__ import annotations

from typing import Annotated

import typer

from pulse_ray.cli.output import JsonOption, err_console, out_console, print_json
from pulse_ray.client import Pulse
from pulse_ray.schemas.snapshots import Compression


def snapshot(
    datasource: Annotated[str, typer.Argument(help="The datasource's name.")],
    force: Annotated[bool, typer.Option(help="A new snapshot even if nothing changed.")] = False,
    compression: Annotated[Compression, typer.Option(help="Parquet codec.")] = Compression.ZSTD,
    json_output: JsonOption = False,
) -> None:
    """Snapshot a datasource to hashed Parquet (uses the key from `pulse auth login`)."""
    with Pulse() as client, err_console.status(f"Snapshotting {datasource}…"):
        result = client.create_snapshot(datasource, force=force, compression=compression)
    if json_output:
        print_json(result)
        return
    out_console.print(
        f"{result.id}: {result.rows:,} rows, {result.size_bytes / 2**20:.1f} MiB "
        f"{result.compression.value}, {result.hash}", highlight=False)

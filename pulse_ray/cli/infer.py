"""`pulse infer` and `pulse lineage`: a prediction, and where it came from."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.tree import Tree

from pulse_ray.cli import service
from pulse_ray.cli.output import JsonOption, out_console, print_json
from pulse_ray.schemas.lineage import Lineage
from pulse_ray.timeutil import format_timestamp

__all__ = ["infer", "lineage"]


def infer(
    model: Annotated[str, typer.Argument(help="The model, e.g. fraud-detector.")],
    input_: Annotated[str, typer.Argument(
        metavar="INPUT", help="A JSON object of features; @file.json or - (stdin) also do.")],
    version: Annotated[str | None, typer.Option(help="Pin a version (default: deployed).")
                       ] = None,
    metadata: Annotated[bool, typer.Option(
        help="Also show latency, cache hit and the inputs imputed as missing.")] = False,
    json_output: JsonOption = False,
) -> None:
    """Predict with a model's deployed (or pinned) version."""
    features = service.json_argument(input_, field="input")
    with service.client() as client:
        result = client.infer(model, features, version=version, include_metadata=metadata)
    if json_output:
        print_json(result)
        return
    out_console.print(f"{result.id} {result.model} {result.version}: "
                      f"{json.dumps(result.output)}", highlight=False)
    if result.metadata:
        meta = result.metadata
        imputed = f", imputed: {', '.join(meta.imputed)}" if meta.imputed else ""
        out_console.print(f"  {meta.latency_ms:.1f} ms{', cached' if meta.cached else ''}"
                          f"{imputed}", highlight=False)


def _tree(found: Lineage) -> Tree:
    tree = Tree(f"{found.id} ({found.type})")
    node = tree
    if found.inference:
        i = found.inference
        node = node.add(f"inference at {format_timestamp(i.created_at)}, {i.latency_ms:.1f} ms"
                        f"{', cached' if i.cached else ''}, key {i.key or '?'}")
    if found.model:
        node = node.add(f"model {found.model.name} {found.model.version or ''}".rstrip())
    if found.training:
        t = found.training
        node = node.add(f"training run {t.id} ({t.status}), started "
                        f"{format_timestamp(t.started_at)}")
    if found.snapshot:
        s = found.snapshot
        node = node.add(f"snapshot {s.id}: {s.rows:,} rows, {s.hash}, "
                        f"{format_timestamp(s.created_at)}")
    if found.datasource:
        d = found.datasource
        node.add(f"datasource {d.name} ({d.type}, {d.rows:,} rows)")
    return tree


def lineage(
    lineage_id: Annotated[str, typer.Argument(
        metavar="ID", help="inf_…, run_…, snap_… or model:version.")],
    json_output: JsonOption = False,
) -> None:
    """Trace a prediction (or run, snapshot, version) back to its data."""
    with service.client() as client:
        found = client.lineage(lineage_id)
    if json_output:
        print_json(found)
        return
    out_console.print(_tree(found), highlight=False)

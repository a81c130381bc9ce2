"""A trained model's files — ``model.pt`` (weights) and ``model.json`` (the rest) — and
their copy to the artifact store. Apart from :mod:`pulse_ray.models.artifacts`, which
reads and writes them with torch, so what only names or copies them (registering a
version, the API, the controller) does not load torch."""

from __future__ import annotations

from pathlib import Path

import pyarrow.fs as pafs

__all__ = ["SPEC", "WEIGHTS", "publish"]

WEIGHTS, SPEC = "model.pt", "model.json"


def publish(local: Path, uri: str) -> None:
    """Copies a saved model directory to its place in the artifact store."""
    fs, root = pafs.FileSystem.from_uri(uri)
    fs.create_dir(root, recursive=True)
    for name in (WEIGHTS, SPEC):
        with fs.open_output_stream(f"{root}/{name}") as out:
            out.write((local / name).read_bytes())

"""Parquet and CSV files: probe their schema (the Ray Data readers do the reading)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as pads

from pulse_ray.sources.base import SourceError, SourceSpec

__all__ = ["probe_files"]


def probe_files(spec: SourceSpec) -> pa.Schema:
    """The schema of the file(s) at ``spec.path`` (a file, a directory or a URI).

    Raises:
        SourceError: nothing readable there.
    """
    assert spec.path is not None
    try:
        dataset = pads.dataset(spec.path, format=spec.type.value)
        if not dataset.files:
            raise SourceError("path", f"no {spec.type.value} files at {spec.path}")
        return dataset.schema
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise SourceError("path", f"cannot read {spec.type.value} at {spec.path}: {exc}",
                          unreachable=isinstance(exc, OSError)) from None

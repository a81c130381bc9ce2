"""Reading datasources without Ray: the kinds of source and their specs here (light:
the wire schemas and the SDK import them), the readers in their own modules
(:mod:`pulse_ray.sources.readers` picks one), which bring pyarrow and the drivers."""

from __future__ import annotations

from pulse_ray.sources.base import DatasourceType, Shard, SourceError, SourceSpec, spec_of

__all__ = ["DatasourceType", "Shard", "SourceError", "SourceSpec", "spec_of"]

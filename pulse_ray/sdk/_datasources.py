"""Datasources (``/v1/datasources``): registered tables, queries and files."""

from __future__ import annotations

from collections.abc import Sequence

from pulse_ray.schemas.common import Page
from pulse_ray.schemas.datasources import DatasourcePublic, DatasourceType
from pulse_ray.sdk._core import Call, body, endpoint

__all__ = ["DatasourceEndpoints"]


class DatasourceEndpoints:
    """Register, list, look up and remove datasources."""

    @endpoint
    def create_datasource(
        self, name: str, *, type: DatasourceType | str, url: str | None = None,
        path: str | None = None, table: str | None = None, query: str | None = None,
        shard_key: str | None = None, label_column: str | None = None,
        feature_columns: Sequence[str] | None = None, idempotency_key: str | None = None,
    ) -> Call[DatasourcePublic]:
        """Registers a datasource; the server connects and reads its schema first, so
        an unreachable source or unknown column is a 400 naming the field. ``path`` is
        read by the server: give it absolute."""
        return Call.post("/v1/datasources", DatasourcePublic.model_validate, body(
            name=name, type=str(type), url=url, path=path, table=table, query=query,
            shard_key=shard_key, label_column=label_column,
            feature_columns=feature_columns and list(feature_columns),
        ), idempotency_key=idempotency_key)

    @endpoint
    def list_datasources(
        self, *, limit: int | None = None, starting_after: str | None = None
    ) -> Call[Page[DatasourcePublic]]:
        """Datasources, newest first (passwords masked)."""
        return Call.get("/v1/datasources", Page[DatasourcePublic].model_validate,
                        limit=limit, starting_after=starting_after)

    @endpoint
    def get_datasource(self, name: str) -> Call[DatasourcePublic]:
        return Call.get(f"/v1/datasources/{name}", DatasourcePublic.model_validate)

    @endpoint
    def delete_datasource(self, name: str) -> Call[DatasourcePublic]:
        """Removes a datasource; one with snapshots is a 409 (lineage points at it)."""
        return Call.delete(f"/v1/datasources/{name}", DatasourcePublic.model_validate)

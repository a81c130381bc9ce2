"""Registering a datasource: it must be readable now, with the columns it names."""

from __future__ import annotations

from pulse_ray.errors import ErrorDetail, ValidationError
from pulse_ray.schemas.datasources import DatasourceCreate
from pulse_ray.sources import SourceError, spec_of
from pulse_ray.sources.readers import probe

__all__ = ["check_datasource"]


def check_datasource(body: DatasourceCreate) -> None:
    """Connects and reads the schema (blocking I/O, a few seconds at most).

    Raises:
        ValidationError: unreachable database or file, missing table, bad query, or a
            label/feature column the source does not have — naming the field.
    """
    try:
        columns = set(probe(spec_of(body)).names)
    except SourceError as exc:
        raise exc.at_registration() from None
    wanted = [("label_column", name) for name in [body.label_column] if name]
    wanted += [("feature_columns", name) for name in body.feature_columns or []]
    missing = [ErrorDetail(f, f"no column '{n}' in the source") for f, n in wanted
               if n not in columns]
    if missing:
        raise ValidationError("Datasource check failed: unknown columns", details=missing)

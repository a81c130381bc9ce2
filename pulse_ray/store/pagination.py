"""Keyset pagination over time-sortable ids (see :mod:`pulse_ray.ids`)."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.orm import InstrumentedAttribute
from sqlmodel import Session, SQLModel
from sqlmodel.sql.expression import SelectOfScalar

from pulse_ray.errors import ValidationError
from pulse_ray.ids import IdPrefix, has_prefix

__all__ = ["page"]

M = TypeVar("M", bound=SQLModel)


def page(
    *,
    session: Session,
    statement: SelectOfScalar[M],
    id_column: InstrumentedAttribute[Any],
    prefix: IdPrefix,
    limit: int,
    starting_after: str | None,
) -> tuple[list[M], bool]:
    """Newest-first rows of ``statement`` after the cursor, and whether more follow.

    Raises:
        ValidationError: ``starting_after`` is not an id of this resource.
    """
    if starting_after is not None:
        if not has_prefix(starting_after, prefix):
            raise ValidationError.for_field(
                "starting_after", f"must be a {prefix.value}_… id from a previous page"
            )
        statement = statement.where(id_column < starting_after)
    rows = list(session.exec(statement.order_by(id_column.desc()).limit(limit + 1)))
    return rows[:limit], len(rows) > limit


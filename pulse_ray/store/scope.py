"""Tenancy, in one place: every query a client can drive is limited to the caller's
account here, and the repository functions build theirs from these helpers rather than
comparing ``account`` columns themselves (``tests/unit/store/test_scope.py`` holds them
to it). Another account's row is answered exactly as a missing one — a 404, never a
403 — so ids and names do not leak across accounts.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement
from sqlmodel import Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from pulse_ray.errors import NotFoundError

__all__ = ["find_owned", "get_owned", "owned", "owned_by"]

T = TypeVar("T", bound=SQLModel)


def owned_by(table: type[SQLModel], account: str) -> ColumnElement[bool]:
    """The condition "this row of ``table`` belongs to ``account``", for queries that
    select more than whole rows (counts, joins)."""
    column = getattr(table, "account", None)
    if column is None:
        raise TypeError(f"{table.__name__} has no account column: scope it by its parent")
    return col(column) == account


def owned(table: type[T], account: str) -> SelectOfScalar[T]:
    """``SELECT`` of ``account``'s rows of ``table``."""
    return select(table).where(owned_by(table, account))


def find_owned(session: Session, table: type[T], account: str, **by: Any) -> T | None:
    """The row of ``table`` matching ``by`` (column=value) in ``account``; None when the
    account has none, whoever else does."""
    return session.exec(owned(table, account).filter_by(**by)).first()


def get_owned(session: Session, table: type[T], account: str, *, not_found: str,
              **by: Any) -> T:
    """Like :func:`find_owned`, but a missing row is a NotFoundError(``not_found``)."""
    row = find_owned(session, table, account, **by)
    if row is None:
        raise NotFoundError(not_found)
    return row

"""The account filter lives in one place (pulse_ray/store/scope.py): code that compares
an ``account`` itself is a second place, one that the tenancy test of the routes
(tests/unit/api/test_tenancy.py) would only catch once a route reached it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlmodel import Session

from pulse_ray.errors import NotFoundError
from pulse_ray.store import Database
from pulse_ray.store.scope import find_owned, get_owned, owned_by
from pulse_ray.store.tables import ModelVersion, WebhookEndpoint
from pulse_ray.timeutil import utcnow

PACKAGE = Path(__file__).parents[3] / "pulse_ray"


def _compares_account(node: ast.AST) -> bool:
    return isinstance(node, ast.Compare) and any(
        isinstance(side, ast.Attribute) and side.attr == "account"
        for side in (node.left, *node.comparators))


def test_no_code_outside_the_scope_module_compares_accounts() -> None:
    found = [f"{path.relative_to(PACKAGE)}:{node.lineno}"
             for path in PACKAGE.rglob("*.py")
             if path != PACKAGE / "store" / "scope.py"
             for node in ast.walk(ast.parse(path.read_text()))
             if _compares_account(node)]
    assert found == [], "filter by account with pulse_ray.store.scope instead"


def test_another_accounts_row_is_answered_as_a_missing_one(database: Database) -> None:
    with Session(database.engine) as session:
        session.add(WebhookEndpoint(id="wh_1", account="a", url="http://x", events=[],
                                    secret="whsec_x", created_at=utcnow()))
        session.flush()
        assert find_owned(session, WebhookEndpoint, "a", id="wh_1") is not None
        assert find_owned(session, WebhookEndpoint, "b", id="wh_1") is None
        with pytest.raises(NotFoundError, match="No webhook"):
            get_owned(session, WebhookEndpoint, "b", id="wh_1", not_found="No webhook")
    with pytest.raises(TypeError, match="scope it by its parent"):
        owned_by(ModelVersion, "a")  # no account of its own

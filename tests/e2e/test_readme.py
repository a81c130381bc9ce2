"""How the walk-through is read from the README (no service needed: runs with the unit
tests, so a README edit that breaks the walk is caught before the e2e run)."""

from __future__ import annotations

import pytest

from .conftest import REPO, make_run_recipe
from .readme import fill, matches, walkthrough


def test_the_walkthrough_is_commands_with_documented_answers() -> None:
    steps = walkthrough(REPO / "README.md")
    assert sum(s.expected is not None for s in steps) >= 10
    assert steps[0].command.startswith(".venv/bin/pulse keys create")
    assert all("…" not in s.command or "_…" in s.command or "-…" in s.command for s in steps)


def test_make_run_is_read_from_the_makefile() -> None:
    assert make_run_recipe()[-1] == ".venv/bin/pulse serve"


def test_placeholders_take_the_latest_value_printed() -> None:
    printed = '{"id":"snap_AAA"} ... {"id":"snap_BBB","run":"run_x1"} pulse_sk_Zz9'
    assert fill("GET /v1/snapshots/snap_… /v1/train/run_…", printed) == \
        "GET /v1/snapshots/snap_BBB /v1/train/run_x1"
    assert fill("export PULSE_API_KEY=pulse_sk_…", printed) == "export PULSE_API_KEY=pulse_sk_Zz9"
    with pytest.raises(LookupError, match="inf_"):
        fill("GET /v1/lineage/inf_…", printed)


def test_documented_answers_match_with_ellipses_and_any_spacing() -> None:
    assert matches('{"id":"snap_…","rows":20000,…}', '{"id": "snap_1", "rows": 20000, "x": 1}')
    assert not matches('{"id":"snap_…","rows":20000,…}', '{"id":"snap_1","rows":19999}')
    assert not matches('{"status":"ok"}', '{"status":"ok","extra":1}')

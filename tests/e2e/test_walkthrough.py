"""The README's walk-through, step by step, against the service as `make run` starts
it with no settings: every command as the README writes it, every documented answer
checked (tests/e2e/readme.py reads the README)."""

from __future__ import annotations

import logging
import time

import pytest

from .conftest import REPO, Newcomer
from .readme import fill, matches, walkthrough

pytestmark = pytest.mark.e2e
logger = logging.getLogger(__name__)


def test_every_step_of_the_readme_answers_as_documented(newcomer: Newcomer) -> None:
    steps = walkthrough(REPO / "README.md")
    assert len(steps) > 20
    printed = ""
    started = time.monotonic()
    for step in steps:
        command = fill(step.command, printed)
        if command.startswith("export "):
            name, value = command.removeprefix("export ").split("=", 1)
            newcomer.env[name] = value
            continue
        result = newcomer.run(command)
        where = f"README.md line {step.line}: {command}"
        assert result.returncode == 0, f"{where}\n{result.stdout}{result.stderr}"
        shown = result.stdout + result.stderr  # what the terminal shows
        printed += shown + "\n"
        if step.expected is not None:
            assert matches(step.expected, shown), (
                f"{where}\nexpected: {step.expected}\nprinted:  {shown}")
    logger.warning("make run answered after %.0f s; the walk-through took %.0f s",
                   newcomer.ready_after_s, time.monotonic() - started)


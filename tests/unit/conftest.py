"""Unit tests exercise domain code only: starting Ray here is a bug."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _forbid_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unit tests must not start Ray; put this test in tests/integration")

    monkeypatch.setattr(ray, "init", refuse)

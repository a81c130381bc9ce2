"""Imports run one way: base → domain → schemas → store → services → api | runtime →
deployments | sdk → cli. A module may import its own layer or the ones below, never
one above (and api and runtime, side by side, never each other): so the domain stays
testable without Ray or a database, and a new upward import fails here, naming it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]

# Layer of each package or module (the longest matching prefix decides).
LAYERS: dict[str, int] = {
    # base: settings, errors, ids, time, the cache type, the resource plan
    "pulse_ray": 0, "pulse_ray.config": 0, "pulse_ray.errors": 0, "pulse_ray.ids": 0,
    "pulse_ray.timeutil": 0, "pulse_ray.logs": 0, "pulse_ray.urls": 0,
    "pulse_ray.credentials": 0, "pulse_ray.plans": 0, "pulse_ray.apikeys": 0,
    "pulse_ray.contenthash": 0, "pulse_ray.cache": 0, "pulse_ray.capacity": 0,
    "pulse_ray.metrics": 0, "pulse_ray.secretbox": 0,
    "pulse_ray.rollouts": 0,  # the canary rules: settings check their steps with them
    "pulse_ray.drift": 1, "pulse_ray.feedback": 1, "pulse_ray.retrain": 1,
    # domain: pure rules and algorithms (no store, no Ray, no web framework)
    "pulse_ray.auth": 1, "pulse_ray.ratelimit": 1, "pulse_ray.registry": 1,
    "pulse_ray.idempotency": 1, "pulse_ray.snapshots": 1, "pulse_ray.predictions": 1,
    "pulse_ray.models": 1, "pulse_ray.sources": 1, "pulse_ray.shop": 1,
    "pulse_ray.webhooks": 1, "pulse_ray.demo": 1,
    "pulse_ray.schemas": 2,  # the API contract
    "pulse_ray.store": 3,
    "pulse_ray.services": 4,  # application services: every use case, once
    "pulse_ray.api": 5, "pulse_ray.runtime": 5,  # adapters: HTTP, and Ray
    "deployments": 6, "pulse_ray.sdk": 6,
    "pulse_ray.cli": 7,
}
SIBLINGS = {frozenset({"pulse_ray.api", "pulse_ray.runtime"})}


def _area(module: str) -> str:
    return max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)


def _modules() -> dict[str, Path]:
    found = {}
    for path in [*ROOT.glob("pulse_ray/**/*.py"), *ROOT.glob("deployments/**/*.py")]:
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name in known}


def _violations() -> list[str]:
    known = _modules()
    found = []
    for module, path in sorted(known.items()):
        area = _area(module)
        for target in sorted(_imports(path, known)):
            other = _area(target)
            upward = LAYERS[other] > LAYERS[area]
            across = frozenset({area, other}) in SIBLINGS
            if upward or across:
                found.append(f"{module} ({area}) imports {target} ({other})")
    return found


def test_imports_run_one_way() -> None:
    assert _violations() == []


def test_every_module_has_a_layer() -> None:
    assert all(_area(module) for module in _modules())


@pytest.mark.parametrize(("module", "target"), [
    ("pulse_ray.store.models", "pulse_ray.services.training"),
    ("pulse_ray.runtime.metrics", "pulse_ray.api.middleware"),
])
def test_an_upward_import_is_seen(module: str, target: str) -> None:
    area, other = _area(module), _area(target)
    assert LAYERS[other] > LAYERS[area] or frozenset({area, other}) in SIBLINGS

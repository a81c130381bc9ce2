"""Model registry rules: version numbers, when a new version is deployed, and what a
rollback goes back to. Pure functions; the store applies them in one transaction."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, Protocol

__all__ = ["next_version", "rollback_target", "should_deploy"]

_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)-[0-9a-f]+$")


def next_version(latest: str | None, *, schema_changed: bool, digest: str) -> str:
    """``MAJOR.MINOR.PATCH-<digest>``: 1.0.0 first; then the minor number goes up, or the
    major one when the input schema changed (clients must change what they send)."""
    if latest is None:
        return f"1.0.0-{digest}"
    match = _SEMVER.match(latest)
    major, minor = (int(match.group(1)), int(match.group(2))) if match else (1, 0)
    if schema_changed:
        return f"{major + 1}.0.0-{digest}"
    return f"{major}.{minor + 1}.0-{digest}"


def should_deploy(
    mode: Literal["auto", "always", "never"], candidate_f1: float | None,
    deployed_f1: float | None,
) -> bool:
    """``auto`` deploys a first version, or one whose F1 beats the deployed version's."""
    if mode != "auto":
        return mode == "always"
    if deployed_f1 is None:
        return True
    return candidate_f1 is not None and candidate_f1 > deployed_f1


class _Event(Protocol):
    from_version: str | None
    to_version: str


def rollback_target(events_newest_first: Sequence[_Event], deployed: str | None) -> str | None:
    """The version deployed before the current one: where the event that put the current
    version in place came from. Rolling back twice swaps back."""
    if deployed is None:
        return None
    for event in events_newest_first:
        if event.to_version == deployed:
            return event.from_version
    return None

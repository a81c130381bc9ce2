from __future__ import annotations

from dataclasses import dataclass

from pulse_ray.registry import next_version, rollback_target, should_deploy


def test_versions_count_up_and_schema_changes_bump_major() -> None:
    assert next_version(None, schema_changed=False, digest="abc123") == "1.0.0-abc123"
    assert next_version("1.0.0-abc123", schema_changed=False, digest="def456") == "1.1.0-def456"
    assert next_version("1.4.0-aaaaaa", schema_changed=True, digest="bbbbbb") == "2.0.0-bbbbbb"


def test_auto_deploys_first_and_better_versions() -> None:
    assert should_deploy("auto", 0.5, None)
    assert should_deploy("auto", 0.6, 0.5) and not should_deploy("auto", 0.5, 0.5)
    assert should_deploy("always", 0.1, 0.9) and not should_deploy("never", 0.9, None)


@dataclass
class E:
    from_version: str | None
    to_version: str


def test_rollback_goes_to_where_the_current_version_came_from() -> None:
    events = [E("v2", "v3"), E("v1", "v2"), E(None, "v1")]  # newest first
    assert rollback_target(events, "v3") == "v2"
    assert rollback_target([E("v3", "v2"), *events], "v2") == "v3"  # twice: swaps back
    assert rollback_target(events[-1:], "v1") is None
    assert rollback_target(events, None) is None

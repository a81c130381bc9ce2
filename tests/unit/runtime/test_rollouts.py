"""The controller actor's module: what its process loads when Ray starts it."""

from __future__ import annotations

import json

from tests.fresh_python import run_python


def test_the_controller_starts_without_torch() -> None:
    """Its rollout and drift loops need no torch, and retraining loads it only to judge a
    candidate: a controller that imported it at start waited seconds for nothing."""
    result = run_python("""
        import json, sys
        import pulse_ray.runtime.rollouts

        print(json.dumps(sorted(m for m in sys.modules if m.partition(".")[0] == "torch")))
    """, hide=["torch"])
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []

"""Candidate versions for rollouts, made from a trained one (the integration tests and
loadtests/bench_rollout.py share them): its artifact copied, the preprocessor changed,
registered beside it as training registers versions.

The broken candidate keeps the weights but names its positive class so that reading it
as a number raises: it fails on exactly the inputs the stable version scores at or
above ``threshold``, and answers the others.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from pulse_ray.config import Settings
from pulse_ray.store import Database
from pulse_ray.store import models as model_repo
from pulse_ray.timeutil import utcnow

__all__ = ["broken", "register_copy"]


def broken(threshold: float) -> dict[str, Any]:
    """The preprocessor change that makes a copy fail at or above ``threshold``."""
    return {"classes": ["0", "true"], "label_kind": "integer", "threshold": threshold}


def register_copy(settings: Settings, model: str, stable: dict[str, Any], version: str,
                  change: dict[str, Any], account: str = "default") -> None:
    """``stable`` (a version as GET …/versions shows it) copied as ``version`` of
    ``model``, its preprocessor's fields updated with ``change``."""
    source = Path(stable["artifact_uri"])
    target = source.with_name(version)
    shutil.copytree(source, target)
    spec = json.loads((target / "model.json").read_text())
    spec["preprocessor"].update(change)
    (target / "model.json").write_text(json.dumps(spec))
    database = Database.from_settings(settings)
    with database.session() as session:
        found = model_repo.get_model(session=session, name=model, account=account)
        model_repo.register_version(session=session, model=found, version=version,
                                    run_id=stable["run"], metrics=stable["metrics"],
                                    input_schema=stable["input_schema"],
                                    artifact_uri=str(target), now=utcnow())
    database.engine.dispose()

"""The KubeRay manifests in cluster/ describe what this code runs: Serve's own schema
accepts the RayService's serveConfigV2, its application is the one serve_config.yaml
deploys, every setting it passes exists, and the RayJob's entrypoint parses."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from pulse_ray.config import Settings
from pulse_ray.runtime.train_job import _arguments
from pulse_ray.schemas.training import TrainOptions

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "cluster" / name).read_text())  # type: ignore[no-any-return]


def _ray_pin() -> str:
    match = re.search(r'"ray\[[^\]]+\]>=([\d.]+),', (ROOT / "pyproject.toml").read_text())
    assert match is not None
    return match.group(1)


def test_the_ray_service_deploys_the_serve_config_application() -> None:
    service = _load("ray-service.pulse.yaml")
    assert service["kind"] == "RayService"
    serve_config = ServeDeploySchema.model_validate(
        yaml.safe_load(service["spec"]["serveConfigV2"]))
    local = ServeDeploySchema.model_validate(
        yaml.safe_load((ROOT / "deployments" / "serve_config.yaml").read_text()))
    (app,), (local_app,) = serve_config.applications, local.applications
    assert (app.name, app.route_prefix, app.import_path) == (
        local_app.name, local_app.route_prefix, local_app.import_path)
    module, _, attribute = app.import_path.partition(":")
    assert callable(getattr(importlib.import_module(module), attribute))
    Settings(_env_file=None, **app.args["settings"])  # type: ignore[call-arg]  # every key exists
    assert service["spec"]["rayClusterConfig"]["rayVersion"].startswith(_ray_pin())
    gpu = [g for g in service["spec"]["rayClusterConfig"]["workerGroupSpecs"]
           if g["groupName"] == "gpu"]
    assert gpu and app.args["settings"]["model_num_gpus"] >= 1


@pytest.mark.parametrize("name", ["ray-service.pulse.yaml", "ray-job.train.yaml"])
def test_every_pod_runs_the_pulse_image(name: str) -> None:
    spec = _load(name)["spec"]
    cluster = spec.get("rayClusterConfig") or spec["rayClusterSpec"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    images = {c["image"] for g in groups for c in g["template"]["spec"]["containers"]}
    assert images == {"pulse-ray:0.1.0"}
    assert cluster["rayVersion"].startswith(_ray_pin())


def test_the_ray_job_runs_the_training_entrypoint() -> None:
    job = _load("ray-job.train.yaml")
    assert job["kind"] == "RayJob"
    words = shlex.split(job["spec"]["entrypoint"])
    assert words[:4] == ["python", "-P", "-m", "pulse_ray.runtime.train_job"]
    args = _arguments(words[4:])
    assert args.model == "fraud-detector" and args.snapshot.startswith("snap_")
    TrainOptions.model_validate_json(args.options)

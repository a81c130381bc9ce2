"""The manifests in cluster/ describe what this code runs: Serve's own schema accepts
the RayService's serveConfigV2, its application is the one serve_config.yaml deploys,
every setting it passes exists, and the RayJob's entrypoint parses; Ray's autoscaler
accepts the `ray up` config, whose `ray start` lines parse with Ray's own CLI and whose
commands name real entry points."""

from __future__ import annotations

import copy
import importlib
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config
from ray.scripts.scripts import start as ray_start
from ray.serve.schema import ServeDeploySchema
from typer.testing import CliRunner

from pulse_ray.cli import app as pulse_cli
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


def _containers(name: str) -> list[dict[str, Any]]:
    spec = _load(name)["spec"]
    cluster = spec.get("rayClusterConfig") or spec["rayClusterSpec"]
    groups = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
    return [c for g in groups for c in g["template"]["spec"]["containers"]]


@pytest.mark.parametrize("name", ["ray-service.pulse.yaml", "ray-job.train.yaml"])
def test_every_pod_runs_the_pulse_image(name: str) -> None:
    assert {c["image"] for c in _containers(name)} == {"pulse-ray:0.1.0"}
    spec = _load(name)["spec"]
    cluster = spec.get("rayClusterConfig") or spec["rayClusterSpec"]
    assert cluster["rayVersion"].startswith(_ray_pin())


def test_the_pulse_image_installs_the_server_extra() -> None:
    # The plain package is the SDK and client CLI: no store, no Serve application.
    dockerfile = (ROOT / "cluster" / "Dockerfile").read_text()
    assert re.search(r"^RUN pip install --no-cache-dir '\.\[server\]' ", dockerfile, re.M)


@pytest.mark.parametrize("name", ["ray-service.pulse.yaml", "ray-job.train.yaml"])
def test_every_pulse_variable_of_the_pods_is_a_setting_with_a_valid_value(
        name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    variables = [v for c in _containers(name) for v in c.get("env", [])
                 if v["name"].startswith("PULSE_")]
    assert variables
    for variable in variables:
        assert variable["name"].removeprefix("PULSE_").lower() in Settings.model_fields
        if "value" in variable:  # not a secret's
            monkeypatch.setenv(variable["name"], variable["value"])
    Settings(_env_file=None)  # type: ignore[call-arg]  # raises on a bad value


def test_the_ray_job_runs_the_training_entrypoint() -> None:
    job = _load("ray-job.train.yaml")
    assert job["kind"] == "RayJob"
    words = shlex.split(job["spec"]["entrypoint"])
    assert words[:4] == ["python", "-P", "-m", "pulse_ray.runtime.train_job"]
    args = _arguments(words[4:])
    assert args.model == "fraud-detector" and args.snapshot.startswith("snap_")
    TrainOptions.model_validate_json(args.options)


def _ray_starts(commands: list[str]) -> Iterator[dict[str, Any]]:
    """The options of every `ray start` in ``commands``, parsed by Ray's own CLI."""
    for command in commands:
        for part in command.split("&&"):
            words = shlex.split(part)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value prefixes
                words.pop(0)
            if words[:2] == ["ray", "start"]:
                yield ray_start.make_context("ray start", words[2:]).params


def test_the_ray_up_config_passes_the_autoscalers_own_validation() -> None:
    config = _load("ray-cluster.yaml")
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)
    validate_config(prepare_config(copy.deepcopy(config)))  # as `ray up`: defaults merged
    assert config["provider"]["type"] == "aws"
    types = config["available_node_types"]
    gpu = [t for t in types.values() if t["resources"].get("GPU", 0) >= 1]
    assert gpu and all(t["max_workers"] >= 1 for t in gpu)
    # Ray's image at the version pyproject pins; its CUDA variant where the GPUs are.
    assert config["docker"]["image"] == f"rayproject/ray:{_ray_pin()}.0-py311"
    assert all(t["docker"]["worker_image"] == f"rayproject/ray:{_ray_pin()}.0-py311-gpu"
               for t in gpu)


def test_the_ray_up_config_starts_one_cluster_with_pulse_installed() -> None:
    config = _load("ray-cluster.yaml")
    (head,) = _ray_starts(config["head_start_ray_commands"])
    (worker,) = _ray_starts(config["worker_start_ray_commands"])
    assert head["head"] and worker["address"] == f"$RAY_HEAD_IP:{head['port']}"
    head_type = config["available_node_types"][config["head_node_type"]]
    assert head["num_cpus"] == head_type["resources"]["CPU"]
    assert head["metrics_export_port"] == worker["metrics_export_port"]  # one scrape port
    # The repository is mounted on every node and installed from there, with the server
    # extra (the plain package is only the SDK and the client CLI).
    (remote,) = [r for r, local in config["file_mounts"].items()
                 if (ROOT / local).resolve() == ROOT]
    home_relative = remote.replace("~", "$HOME", 1)  # `~` does not expand inside quotes
    assert f'pip install --no-cache-dir "{home_relative}[server]"' in config["setup_commands"]
    for command in config["setup_commands"]:
        if command.startswith("python -c "):
            statement = shlex.split(command)[2]
            assert statement.startswith("import ")
            for module in statement.removeprefix("import ").split(","):
                importlib.import_module(module.strip())
    env_file = f"{remote}/cluster/pulse.env"
    for command in (*config["head_setup_commands"], *config["head_start_ray_commands"][1:],
                    *config["worker_start_ray_commands"][1:]):
        assert f". {env_file} " in command  # every Ray process sees the same settings


def test_every_pulse_command_in_the_ray_up_config_exists() -> None:
    text = (ROOT / "cluster" / "ray-cluster.yaml").read_text()
    # `pulse <sub commands> [--option value]…`, in commands and in the header's usage.
    found = re.findall(
        r"(?<![\w/.~-])pulse((?: [a-z][\w-]*)+)((?: --[\w-]+(?: [^\s'`-][^\s'`]*)?)*)", text)
    assert {words.strip() for words, _ in found} >= {"serve", "db upgrade"}
    for words, options in found:
        result = CliRunner().invoke(pulse_cli, [*words.split(), *options.split(), "--help"])
        assert result.exit_code == 0, f"pulse{words}{options}: {result.output}"


@pytest.mark.parametrize("name", ["ray-service.pulse.yaml", "ray-job.train.yaml"])
def test_every_pod_opens_the_stores_secrets_with_the_same_key(name: str) -> None:
    # Replicas and jobs only read the key (a key file of each node's own would seal
    # with keys the others cannot open): every pod takes the one from the Secret.
    for container in _containers(name):
        (keys,) = [v for v in container["env"] if v["name"] == "PULSE_SECRET_KEYS"]
        assert keys["valueFrom"]["secretKeyRef"] == {"name": "pulse-store", "key": "secret-keys"}

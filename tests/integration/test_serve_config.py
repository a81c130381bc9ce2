"""deployments/serve_config.yaml deploys as written (what `serve run` and KubeRay do)."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml
from ray import serve

# What `serve run`/`serve deploy` call to turn import_path + args into an application:
# private, but the point is to go through Serve's own conversion of the YAML's args.
from ray._common.utils import import_attr
from ray.serve._private.api import call_user_app_builder_with_args_if_necessary
from ray.serve.schema import ServeDeploySchema

from deployments.service import RunningService

from .conftest import MakeKey, bearer

CONFIG = Path(__file__).parents[2] / "deployments" / "serve_config.yaml"


def test_yaml_is_a_valid_serve_config() -> None:
    config = ServeDeploySchema.model_validate(yaml.safe_load(CONFIG.read_text()))
    (app,) = config.applications
    assert (app.name, app.route_prefix) == ("pulse", "/")


def test_yaml_application_serves_beside_the_first(
    service: RunningService, make_key: MakeKey
) -> None:
    (app_config,) = yaml.safe_load(CONFIG.read_text())["applications"]
    args = app_config["args"]
    # Same store (and so the same secret key) as the session's service; its own app name
    # so routing is separate.
    args["settings"].update(
        store_url=service.settings.store_url, data_dir=str(service.settings.data_dir),
        serve_app_name="pulse-yaml", ingress_num_cpus=0.1,
    )
    app = call_user_app_builder_with_args_if_necessary(
        import_attr(app_config["import_path"]), args
    )
    serve.run(app, name="pulse-yaml", route_prefix="/yaml", blocking=False)
    try:
        key = make_key()["key"]
        base = f"{service.url}/yaml"
        assert httpx.get(f"{base}/readyz").json()["checks"] == {"store": "ok", "serve": "ok"}
        response = httpx.get(f"{base}/v1/auth/whoami", headers=bearer(key))
        assert response.status_code == 200, response.text
        missing = httpx.get(f"{base}/v1/nope", headers=bearer(key))
        assert missing.json()["error"]["code"] == "NOT_FOUND"
    finally:
        serve.delete("pulse-yaml", _blocking=False)

"""The Serve ingress: Pulse's FastAPI app on N autoscalable replicas, in front of the
ModelServer (deployments/model_server.py) and the TextEncoder
(deployments/text_encoder.py), which it calls through handles — or, with models in
the ingress (``model_serving``, the default on CPU), predicting in its own process.

The app is built late (``__serve_build_asgi_app__``) from the settings the builder
resolved, so each replica gets its own store engine and key cache through the
constructor — no module globals.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from ray import serve
from ray.serve.handle import DeploymentHandle

from pulse_ray.api import build_state, create_app
from pulse_ray.config import Settings
from pulse_ray.logs import configure_logging
from pulse_ray.predictions import LocalPredictor
from pulse_ray.runtime.buckets import RayBucketBackend
from pulse_ray.runtime.metrics import RayRequestRecorder
from pulse_ray.runtime.records import start_record_writer
from pulse_ray.runtime.rollouts import start_rollout_controller
from pulse_ray.runtime.serving import ServeEncoder, ServePredictor
from pulse_ray.runtime.snapshots import RaySnapshotRunner
from pulse_ray.runtime.train_coordinator import start_training_coordinator
from pulse_ray.runtime.training_backend import RoutedTrainingBackend
from pulse_ray.runtime.webhooks import start_dispatcher
from pulse_ray.store.migrate import current_revision, head_revision

logger = logging.getLogger(__name__)


def serve_app_ready(app_name: str) -> None:
    """Readiness of the Serve application this replica belongs to.

    Raises:
        RuntimeError: the application or one of its deployments is unhealthy or
            failed to deploy.
    """
    status = serve.status().applications.get(app_name)
    if status is None:
        raise RuntimeError(f"Serve application '{app_name}' is not deployed")
    if status.status in ("DEPLOY_FAILED", "UNHEALTHY"):
        raise RuntimeError(f"Serve application '{app_name}' is {status.status}")
    broken = [name for name, d in status.deployments.items() if d.status == "UNHEALTHY"]
    if broken:
        raise RuntimeError(f"unhealthy deployments: {', '.join(sorted(broken))}")


@serve.deployment(name="PulseIngress")
@serve.ingress()
class PulseIngress:
    def __init__(self, settings: Settings, model_server: DeploymentHandle | None,
                 text_encoder: DeploymentHandle) -> None:
        """``model_server`` is None when models run here (``settings.models_in_ingress``)."""
        configure_logging(settings.log_level)
        app_name = settings.serve_app_name
        # Within the request's deadline, so the client gets the 503, not a 504.
        resend_s = min(settings.lost_replica_retry_s, settings.request_timeout_s / 2)
        self._state = build_state(
            settings,
            readiness_checks={"serve": lambda: serve_app_ready(app_name)},
            # One set of buckets for every replica, so limits hold service-wide.
            bucket_backend=RayBucketBackend(f"{app_name}-ratelimit"),
            snapshot_runner=RaySnapshotRunner(),
            # Started with the ingress (before the rollout controller, which finds it
            # by name), so the first small run finds torch imported.
            training_backend=RoutedTrainingBackend(settings, start_training_coordinator(settings)),
            predictor=LocalPredictor(settings.model_versions_per_replica)
            if model_server is None
            else ServePredictor(model_server, lost_replica_retry_s=resend_s),
            record_writer=start_record_writer(settings),  # one per store, shared
            encoder=ServeEncoder(text_encoder, lost_replica_retry_s=resend_s),
        )
        current, head = current_revision(self._state.database), head_revision()
        if current != head:
            # Replicas never migrate (N of them would race); `pulse serve` and
            # `pulse db upgrade` do.
            raise RuntimeError(
                f"store {self._state.database.safe_url} is at revision {current}, this "
                f"code needs {head}: run `pulse db upgrade`"
            )
        self._webhooks = start_dispatcher(settings)  # one per store, shared
        self._rollouts = start_rollout_controller(settings)  # likewise
        logger.info("ingress replica ready on store %s", self._state.database.safe_url)

    def __serve_build_asgi_app__(self) -> FastAPI:
        # Serve's proxy sets X-Request-Id on every response itself.
        # Request counts and latencies as Ray metrics, exported by each node's agent.
        return create_app(self._state, emit_request_id_header=False,
                          request_recorder=RayRequestRecorder())

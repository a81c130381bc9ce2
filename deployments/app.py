"""Typed application builder: ``serve run deployments.app:build_app`` or the YAML.

``args.settings`` overrides ``PULSE_*`` settings by field name; what is not given
comes from the environment of wherever the builder runs, and is then fixed for every
replica.
"""

# No `from __future__ import annotations` here: Serve reads build_app's annotation at
# run time to turn the YAML's args into PulseAppArgs, and a string would not convert.
import os
from typing import Any

import ray
from pydantic import BaseModel, Field
from ray.serve import Application

from deployments.ingress import PulseIngress
from deployments.model_server import ModelServer
from deployments.text_encoder import TextEncoder
from pulse_ray.capacity import (
    ResourcePlan,
    Resources,
    StaticCluster,
    local_ray_cpus,
    plan_resources,
)
from pulse_ray.config import Settings
from pulse_ray.runtime.cluster import RayCluster

__all__ = ["PulseAppArgs", "application", "build_app"]


class PulseAppArgs(BaseModel):
    settings: dict[str, Any] = Field(
        default_factory=dict,
        description="Settings overrides by field name, e.g. {store_url: postgresql://...}.",
    )


def application(settings: Settings, plan: ResourcePlan | None = None) -> Application:
    """The Pulse Serve application for already-resolved settings, its replicas sized by
    ``plan`` (by default the plan for the cluster it deploys to; ``serve build``, with
    no cluster, plans for this machine): the ingress and, behind it, the autoscaled
    ModelServer (unless models run in the ingress: ``model_serving``) and the
    TextEncoder.

    Raises:
        InsufficientResourcesError: the cluster cannot hold the replicas.
    """
    if plan is None:
        cluster = RayCluster() if ray.is_initialized() else StaticCluster(
            Resources(cpus=local_ray_cpus(settings, os.cpu_count() or 1)))
        plan = plan_resources(settings, cluster.totals())
    plan.check_serving()
    settings = plan.pinned(settings)
    logging_config = {"enable_access_log": settings.serve_access_log}
    # Serve deployments are decorated classes at run time, which mypy cannot see.
    model_server = None
    if not settings.models_in_ingress:
        model_server = ModelServer.options(  # type: ignore[attr-defined]
            autoscaling_config={
                "min_replicas": settings.model_min_replicas,
                "initial_replicas": max(1, settings.model_min_replicas),
                "max_replicas": settings.model_max_replicas,
                "target_ongoing_requests": settings.model_target_ongoing_requests,
            },
            max_ongoing_requests=settings.model_max_ongoing_requests,
            max_queued_requests=settings.model_max_queued_requests,
            ray_actor_options={"num_cpus": plan.replica("ModelServer").cpus,
                               "num_gpus": settings.model_num_gpus},
            logging_config=logging_config,
        ).bind(settings)
    text_encoder = TextEncoder.options(  # type: ignore[attr-defined]
        num_replicas=settings.encoder_replicas,
        max_ongoing_requests=64,
        ray_actor_options={"num_cpus": plan.replica("TextEncoder").cpus,
                           "num_gpus": settings.encoder_num_gpus},
        logging_config=logging_config,
    ).bind(settings)
    return PulseIngress.options(  # type: ignore[attr-defined]
        num_replicas=settings.ingress_replicas,
        max_ongoing_requests=settings.ingress_max_ongoing_requests,
        ray_actor_options={"num_cpus": plan.replica("ingress").cpus},
        logging_config=logging_config,
    ).bind(settings, model_server, text_encoder)


def build_app(args: PulseAppArgs) -> Application:
    """The builder Serve calls with the ``args`` of serve_config.yaml."""
    return application(Settings(**args.settings))

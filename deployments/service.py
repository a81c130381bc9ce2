"""Starting and stopping the Pulse service on Ray (``pulse serve`` and the tests)."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import ray
from ray import serve

from deployments.app import application
from pulse_ray.capacity import local_ray_cpus, plan_resources
from pulse_ray.config import Settings
from pulse_ray.runtime.cluster import RayCluster
from pulse_ray.store import Database, upgrade

__all__ = ["RunningService", "ray_env", "start_service"]

logger = logging.getLogger(__name__)


def ray_env(settings: Settings) -> dict[str, str]:
    """Process-level switches of a Ray started here (a cluster sets its own).

    ``RAY_num_workers_soft_limit`` keeps that many idle workers warm. Ray's default
    (the CPU count) is used up by Serve's own actors on a small machine, so every Ray
    Data task would start a fresh Python worker: measured here, a 1.25M-row snapshot
    took 5.4 s that way and 2.8 s with warm workers.

    HAProxy mode also claims a config directory and four ports that Ray fixes by
    default (/tmp/haproxy-serve, 8500, 9500, 9101, 8404). They are derived from the
    HTTP port here, equal to Ray's defaults at 8000, so two Pulse instances on one
    machine (a `make run` beside the tests) do not fight over them.

    In throughput mode (direct ingress) stopping ingress replicas stay up 30 s for a
    cloud load balancer to deregister them; nothing in front of a local Ray needs that
    long, so 2 s here — and Ctrl-C, which stops the application gracefully so inference
    records are written, stays quick.
    """
    env = {"RAY_num_workers_soft_limit": str(settings.ray_idle_workers)}
    if settings.serve_throughput_optimized:
        env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] = "1"
        env["RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S"] = "2"
    if settings.serve_haproxy:
        port = settings.http_port
        # Short, per-port path: the admin socket's path must fit a unix socket name.
        run_dir = Path(tempfile.gettempdir()) / f"pulse-haproxy-{port}"
        env |= {
            "RAY_SERVE_ENABLE_HA_PROXY": "1",
            "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(run_dir / "haproxy.cfg"),
            "RAY_SERVE_HAPROXY_SOCKET_PATH": str(run_dir / "admin.sock"),
            "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(run_dir),
            "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(run_dir / "server-state"),
            "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(port + 500),
            "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(port + 1500),
            "RAY_SERVE_HAPROXY_METRICS_PORT": str(port + 1101),
            "RAY_SERVE_HAPROXY_STATS_PORT": str(port + 404),
        }
    return env


@dataclass
class RunningService:
    settings: Settings
    started_ray: bool

    @property
    def url(self) -> str:
        return f"http://{self.settings.http_host}:{self.settings.http_port}"

    def stop(self) -> None:
        """Removes the application, then the whole local Ray if this process started it.

        The application goes first, so replicas shut down gracefully: in-flight requests
        finish and each ingress writes the inference records still in its buffer. Serve's
        30 s proxy drain (``serve.shutdown()``), which exists for load balancers in front
        of a cluster, is skipped for a local Ray: it is shut down directly.
        """
        serve.delete(self.settings.serve_app_name)
        if self.started_ray:
            ray.shutdown()


def _connect_ray(settings: Settings) -> bool:
    """Connects to ``ray_address`` or starts a local Ray; True when started here."""
    if ray.is_initialized():
        return False
    if settings.ray_address:
        ray.init(address=settings.ray_address, namespace="serve")
        return False
    os.environ.update(ray_env(settings))  # inherited by the Ray processes started now
    cores = os.cpu_count() or 1
    cpus = local_ray_cpus(settings, cores)
    logger.info("starting a local Ray with %d logical CPUs (%d cores here%s)", cpus, cores,
                "" if settings.ray_num_cpus is not None or cpus == cores
                else "; more, so serving, a snapshot and a training run fit at once")
    ray.init(
        num_cpus=cpus,
        num_gpus=settings.ray_num_gpus,
        include_dashboard=settings.ray_dashboard,
        dashboard_host="127.0.0.1",
        dashboard_port=settings.ray_dashboard_port,
        namespace="serve",
    )
    return True


def _local_development(settings: Settings) -> Settings:
    """A Ray of its own listening on loopback is a laptop: webhooks may reach receivers
    on the same machine without a setting (a cluster still refuses them)."""
    if settings.webhook_allow_loopback is not None:
        return settings
    loopback = settings.http_host in ("localhost", "::1") or settings.http_host.startswith("127.")
    return settings.model_copy(update={"webhook_allow_loopback": loopback})


def start_service(settings: Settings) -> RunningService:
    """Migrates the store, then deploys the application and waits until it serves."""
    settings.ensure_dirs()
    database = Database.from_settings(settings, create_key=True)  # the key file, first time
    try:
        upgrade(database)
    finally:
        database.dispose()
    started_ray = _connect_ray(settings)
    if started_ray:
        settings = _local_development(settings)
    plan = plan_resources(settings, RayCluster().totals())
    for line in plan.describe():
        logger.info("resource plan: %s", line)
    serve.start(http_options={"host": settings.http_host, "port": settings.http_port})
    serve.run(
        application(settings, plan),
        name=settings.serve_app_name,
        route_prefix="/",
        blocking=False,
    )
    service = RunningService(settings=settings, started_ray=started_ray)
    logger.info("Pulse is serving on %s", service.url)
    return service

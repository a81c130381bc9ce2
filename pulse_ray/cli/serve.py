"""`pulse serve`: run Pulse on Ray until Ctrl-C."""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer

from pulse_ray.cli.output import out_console
from pulse_ray.config import Settings, get_settings
from pulse_ray.urls import redact_url

HostOption = Annotated[str | None, typer.Option(help="HTTP host (PULSE_HTTP_HOST).")]
PortOption = Annotated[int | None, typer.Option(help="HTTP port (PULSE_HTTP_PORT).")]
ReplicasOption = Annotated[
    int | None, typer.Option(help="Ingress replicas (PULSE_INGRESS_REPLICAS).")
]


def serve(
    host: HostOption = None, port: PortOption = None, replicas: ReplicasOption = None
) -> None:
    """Start (or join, with PULSE_RAY_ADDRESS) Ray, migrate the store, deploy, and wait."""
    from deployments.service import start_service  # imports Ray: only when serving
    from pulse_ray.logs import configure_logging

    overrides: dict[str, Any] = {
        k: v
        for k, v in {"http_host": host, "http_port": port, "ingress_replicas": replicas}.items()
        if v is not None
    }
    settings = Settings(**overrides) if overrides else get_settings()
    configure_logging(settings.log_level)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    service = start_service(settings)
    try:
        out_console.print(
            f"\n[bold green]Pulse is listening on {service.url}[/] "
            f"(store: {redact_url(settings.store_url)})\n"
            "Make an API key (printed once):\n"
            "  .venv/bin/pulse keys create --name me --plan pro --scope read --scope write "
            "--scope admin\n"
            f"Then: curl -H 'Authorization: Bearer <key>' {service.url}/v1/auth/whoami\n"
            "Ctrl-C stops the service.",
            highlight=False,
            soft_wrap=True,
        )
        stop.wait()
    finally:
        out_console.print("Stopping Pulse…")
        service.stop()

"""The REST API: a FastAPI app factory over injected state. No Ray imports here;
``deployments/`` wraps the app in a Serve ingress."""

from pulse_ray.api.app import create_app
from pulse_ray.api.state import AppState, build_state

__all__ = ["AppState", "build_state", "create_app"]

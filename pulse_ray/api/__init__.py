"""The REST API: a FastAPI app factory over injected state. No Ray imports here;
``deployments/`` wraps the app in a Serve ingress."""

from pulse_ray.api.app import build_state, create_app
from pulse_ray.api.state import AppState

__all__ = ["AppState", "build_state", "create_app"]

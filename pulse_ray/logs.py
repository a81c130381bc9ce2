"""Logging with the request id on every line written while serving a request."""

from __future__ import annotations

import logging
from contextvars import ContextVar

__all__ = ["configure_logging", "request_id_var"]

request_id_var: ContextVar[str] = ContextVar("pulse_request_id", default="-")

_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: str = "INFO") -> None:
    """Sends ``pulse_ray`` and ``deployments`` logs to stderr with the request id.

    Idempotent: a replica that re-runs its constructor does not double its handlers.
    """
    for name in ("pulse_ray", "deployments"):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        if not any(isinstance(f, _RequestIdFilter) for h in logger.handlers for f in h.filters):
            handler = logging.StreamHandler()
            handler.addFilter(_RequestIdFilter())
            handler.setFormatter(logging.Formatter(_FORMAT))
            logger.addHandler(handler)
        logger.propagate = False

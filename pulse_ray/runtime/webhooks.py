"""The cluster's webhook dispatcher: a detached Ray actor running
:class:`~pulse_ray.webhooks.dispatcher.Dispatcher` in a thread of its own.

One per store (:mod:`pulse_ray.runtime.background`): every ingress replica of every
application on that store asks for it by name; pending deliveries are in the store and
resume when Ray restarts it.
"""

from __future__ import annotations

import logging
from typing import Any

import ray

from pulse_ray.config import Settings
from pulse_ray.logs import configure_logging
from pulse_ray.runtime.background import per_store, run_loops
from pulse_ray.services.webhooks import Dispatcher
from pulse_ray.store import Database

__all__ = ["start_dispatcher"]

logger = logging.getLogger(__name__)


@ray.remote(num_cpus=0, max_restarts=-1)  # type: ignore[call-overload]
class _DispatcherActor:
    def __init__(self, settings: Settings) -> None:
        configure_logging(settings.log_level)
        self._dispatcher = Dispatcher(Database.from_settings(settings), settings)
        self._thread = run_loops("webhooks", self._dispatcher.run)
        logger.info("webhook dispatcher running")

    def alive(self) -> bool:
        return self._thread.is_alive()


def start_dispatcher(settings: Settings) -> Any:
    """The dispatcher actor for this store (created on first call)."""
    return per_store(_DispatcherActor, "pulse-webhooks", settings)

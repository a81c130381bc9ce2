"""The cluster's webhook dispatcher: a detached Ray actor running
:class:`~pulse_ray.webhooks.dispatcher.Dispatcher` in a thread of its own.

One per store, named after it: every ingress replica of every application on that store
asks for it by name when it starts (the first creates it, with its settings). Its loop
starts in ``__init__``, so when Ray restarts the actor after a crash the loop comes back
without anyone asking; pending deliveries are in the store and resume either way.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from typing import Any

import ray

from pulse_ray.config import Settings
from pulse_ray.logs import configure_logging
from pulse_ray.services.webhooks import Dispatcher
from pulse_ray.store import Database

__all__ = ["start_dispatcher"]

logger = logging.getLogger(__name__)


@ray.remote(num_cpus=0, max_restarts=-1)  # type: ignore[call-overload]
class _DispatcherActor:
    def __init__(self, settings: Settings) -> None:
        configure_logging(settings.log_level)
        self._dispatcher = Dispatcher(Database.from_settings(settings), settings)
        self._thread = threading.Thread(target=lambda: asyncio.run(
            self._dispatcher.run(asyncio.Event())), name="webhooks", daemon=True)
        self._thread.start()
        logger.info("webhook dispatcher running")

    def alive(self) -> bool:
        return self._thread.is_alive()


def start_dispatcher(settings: Settings) -> Any:
    """The dispatcher actor for this store (created on first call)."""
    store = hashlib.sha256(settings.store_url.encode()).hexdigest()[:12]
    return _DispatcherActor.options(  # type: ignore[attr-defined]
        name=f"pulse-webhooks-{store}", get_if_exists=True, lifetime="detached",
    ).remote(settings)

"""What the cluster's background actors share: one detached actor per store, named
after it, whose loops run in a thread of their own from ``__init__``.

Every ingress replica asks for such an actor by name when it starts (the first creates
it, with its settings). The loops start in ``__init__``, so when Ray restarts the actor
after a crash they come back without anyone asking; their work is in the store.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from pulse_ray.config import Settings

__all__ = ["Loop", "actor_name", "per_store", "run_loops"]

Loop = Callable[[asyncio.Event], Awaitable[None]]


def run_loops(name: str, *loops: Loop) -> threading.Thread:
    """``loops`` running together on an event loop in a daemon thread called ``name``."""

    async def together() -> None:
        stopping = asyncio.Event()
        await asyncio.gather(*(loop(stopping) for loop in loops))

    thread = threading.Thread(target=lambda: asyncio.run(together()), name=name, daemon=True)
    thread.start()
    return thread


def actor_name(prefix: str, settings: Settings) -> str:
    """The name of this store's ``prefix`` actor (what :func:`per_store` creates)."""
    store = hashlib.sha256(settings.store_url.encode()).hexdigest()[:12]
    return f"{prefix}-{store}"


def per_store(actor_class: Any, prefix: str, settings: Settings) -> Any:
    """The ``actor_class`` actor of this store (created on first call)."""
    return actor_class.options(
        name=actor_name(prefix, settings), get_if_exists=True, lifetime="detached",
    ).remote(settings)

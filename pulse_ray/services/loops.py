"""The controller's loops: one ``tick`` every so often — a blocking one in a thread so
the actor's event loop stays free for the others, a coroutine awaited on it."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from typing import Any

from anyio import to_thread

__all__ = ["every"]

logger = logging.getLogger(__name__)


async def every(interval_s: float, tick: Callable[[], Any], stopping: asyncio.Event, *,
                name: str) -> None:
    """Runs ``tick`` every ``interval_s`` until ``stopping`` is set; a failed tick (the
    store away) is logged and the next one tries again."""
    while not stopping.is_set():
        try:
            if inspect.iscoroutinefunction(tick):
                await tick()
            else:
                await to_thread.run_sync(tick)
        except Exception:
            logger.exception("%s tick failed; trying again", name)
        try:
            await asyncio.wait_for(stopping.wait(), timeout=interval_s)
        except TimeoutError:
            pass

"""The cluster's inference record writer: a detached Ray actor that writes the records
every ingress replica's :class:`~pulse_ray.services.inference.InferenceLog` batches.

One per store (:mod:`pulse_ray.runtime.background`), asking for no CPU. The store's
work — the rows, the traffic counts, the commit — was a thread of each ingress replica,
which took the replica's GIL from the requests it was serving every flush; here the
replica only hands the batch over. A batch the actor could not write (the store down,
the actor restarting) stays in the replica's log for the next flush.
"""

from __future__ import annotations

import logging
from typing import Any

import ray

from pulse_ray.config import Settings
from pulse_ray.logs import configure_logging
from pulse_ray.runtime.background import per_store
from pulse_ray.services.inference import Entry, Writer
from pulse_ray.store import Database
from pulse_ray.store.inference import insert_events

__all__ = ["start_record_writer"]

logger = logging.getLogger(__name__)


@ray.remote(num_cpus=0, max_restarts=-1)  # type: ignore[call-overload]
class _RecordWriterActor:
    def __init__(self, settings: Settings) -> None:
        configure_logging(settings.log_level)
        self._database = Database.from_settings(settings)
        logger.info("inference record writer running")

    def write(self, events: list[Entry]) -> None:
        with self._database.session() as session:
            insert_events(session=session, events=events)


def start_record_writer(settings: Settings) -> Writer:
    """What writes a replica's inference records: the store's writer actor (created
    on first call)."""
    actor: Any = per_store(_RecordWriterActor, "pulse-records", settings)

    async def write(events: list[Entry]) -> None:
        await actor.write.remote(events)

    return write

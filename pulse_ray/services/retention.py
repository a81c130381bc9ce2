"""The controller's retention pass: what the store keeps only for a while.

Two things grow with traffic and are read only while recent: the input each inference
record keeps for the drift watch (cleared, the record itself stays for lineage and
feedback) and the per-minute traffic counts behind the dashboard's overview (deleted).
Each has its own retention setting; one pass every ``retention_interval_s`` applies both.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from pulse_ray.config import Settings
from pulse_ray.services.loops import every
from pulse_ray.store import Database
from pulse_ray.store import drift as drift_repo
from pulse_ray.store import traffic as traffic_repo
from pulse_ray.timeutil import Clock

__all__ = ["Pruned", "Retention", "RetentionConfig"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    inputs: timedelta
    traffic: timedelta
    interval_s: float

    @staticmethod
    def of(settings: Settings) -> RetentionConfig:
        return RetentionConfig(inputs=timedelta(hours=settings.inference_inputs_retention_h),
                               traffic=timedelta(hours=settings.traffic_retention_h),
                               interval_s=settings.retention_interval_s)


@dataclass(frozen=True, slots=True)
class Pruned:
    inputs: int
    traffic_minutes: int


class Retention:
    def __init__(self, *, database: Database, clock: Clock, config: RetentionConfig) -> None:
        self._database = database
        self._clock = clock
        self._config = config

    def tick(self) -> Pruned:
        """Clears the inputs and deletes the traffic minutes past their retention."""
        now = self._clock()
        with self._database.session() as session:
            pruned = Pruned(
                inputs=drift_repo.prune_inputs(session=session,
                                               before=now - self._config.inputs),
                traffic_minutes=traffic_repo.prune(session=session,
                                                   before=now - self._config.traffic))
        if pruned.inputs or pruned.traffic_minutes:
            logger.info("cleared the inputs of %d inference records, deleted %d traffic "
                        "minutes", pruned.inputs, pruned.traffic_minutes)
        return pruned

    async def run(self, stopping: asyncio.Event) -> None:
        """A pass every ``interval_s`` until ``stopping`` is set."""
        await every(self._config.interval_s, self.tick, stopping, name="retention")

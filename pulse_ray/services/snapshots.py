"""Snapshots, the use cases: taking one (seed 000: ``POST /v1/snapshot/{datasource}``),
checked against the resource plan, run by the injected runner (Ray Data under Serve),
recorded last — or, when the source is unchanged and ``force`` is false, the existing
snapshot; and listing them, each named by its datasource (the API's ``GET /v1/snapshots``
and the dashboard's datasources page)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from anyio import to_thread
from sqlmodel import Session

from pulse_ray.capacity import ResourcePlan
from pulse_ray.errors import UnavailableError
from pulse_ray.ids import IdPrefix, new_id
from pulse_ray.schemas.common import Page
from pulse_ray.schemas.snapshots import SnapshotOptions, SnapshotPublic
from pulse_ray.snapshots import SnapshotJob, SnapshotRunner
from pulse_ray.sources import SourceError, SourceSpec
from pulse_ray.store import Database
from pulse_ray.store import datasources as datasource_repo
from pulse_ray.store import snapshots as repo
from pulse_ray.store.tables import Datasource
from pulse_ray.timeutil import Clock

__all__ = ["SnapshotService"]


class SnapshotService:
    def __init__(self, *, database: Database, runner: SnapshotRunner, storage_uri: str,
                 plan: Callable[[], ResourcePlan], clock: Clock, deadline_s: float) -> None:
        """Args:
            deadline_s: how long a snapshot may take before it is cancelled (its tasks may
                be waiting for CPU the cluster never frees).
        """
        self._deadline_s = deadline_s
        self._database = database
        self._runner = runner
        self._storage_uri = storage_uri
        self._plan = plan
        self._clock = clock

    async def take(self, *, account: str, datasource: str,
                   options: SnapshotOptions) -> tuple[SnapshotPublic, bool]:
        """The snapshot, and whether it is new (False: the unchanged latest one).

        Raises:
            NotFoundError: no such datasource.
            InsufficientResourcesError: the cluster can never run a snapshot task.
            ConflictError / UnavailableError: the source no longer matches its
                registration / cannot be reached (nothing is left behind).
            UnavailableError: not finished within the deadline (cancelled, nothing left).
        """
        def lookup() -> tuple[Datasource, SourceSpec]:
            with self._database.session() as session:
                found = datasource_repo.get_datasource(session=session, name=datasource,
                                                       account=account)
                return found, datasource_repo.source_spec(session=session, datasource=found)

        source, spec = await to_thread.run_sync(lookup)
        plan = await to_thread.run_sync(self._plan)
        plan.check_snapshot()
        job = SnapshotJob(
            snapshot_id=new_id(IdPrefix.SNAPSHOT, now=self._clock()), source=spec,
            storage_uri=self._storage_uri, compression=options.compression.value,
            task_cpus=plan.snapshot_task_cpus, parallelism=plan.snapshot_parallelism)
        try:
            result = await asyncio.wait_for(self._runner.run(job), self._deadline_s)
        except SourceError as exc:
            raise exc.at_snapshot(datasource) from None
        except TimeoutError:
            raise UnavailableError(
                f"The snapshot of '{datasource}' did not finish within {self._deadline_s:g} s "
                "(PULSE_SNAPSHOT_DEADLINE_S) and was cancelled: its tasks, "
                f"{plan.snapshot_task_cpus:g} CPU each, may be waiting for a busy cluster",
                retry_after_s=30) from None

        def store() -> tuple[SnapshotPublic, bool]:
            with self._database.session() as session:
                snapshot, created = repo.record(session=session, datasource=source, job=job,
                                                result=result, force=options.force,
                                                now=self._clock())
                return snapshot.public(datasource), created

        return await to_thread.run_sync(store)

    def listing(self, *, session: Session, account: str, datasource: str | None,
                limit: int, starting_after: str | None = None) -> Page[SnapshotPublic]:
        """The account's snapshots, newest first (only ``datasource``'s when named), each
        with its datasource's name; runs in the caller's transaction.

        Raises:
            NotFoundError: ``datasource`` names none of the account's datasources.
        """
        names: dict[str, str] = {}
        datasource_id = None
        if datasource is not None:
            found = datasource_repo.get_datasource(session=session, name=datasource,
                                                   account=account)
            datasource_id, names[found.id] = found.id, found.name
        rows, has_more = repo.list_snapshots(session=session, account=account,
                                             datasource_id=datasource_id, limit=limit,
                                             starting_after=starting_after)
        for row in rows:
            if row.datasource_id not in names:
                names[row.datasource_id] = repo.datasource_name(
                    session=session, datasource_id=row.datasource_id)
        return Page(data=[r.public(names[r.datasource_id]) for r in rows], has_more=has_more)
